"""Sentence scoring: every sentence of the retrieved passages, scored against the question, and
the passages ranked by their best sentence.

Entry points: `score_sentences(query, passages, index, settings, dictionary=None) -> Scoring`
and `rank_passages(passages, scoring, index, read_k) -> list[RankedPassage]`.

    >>> scoring = score_sentences(query, passages, index, AnswerSettings())
    >>> scoring.ranked[0].sent.text      # the sentence the answer is taken from

A sentence's score adds its cosine with the question (sentence vectors made at index time),
the idf-weighted share of the question's words and of its Chinese character pairs it holds,
the question's words the previous sentence adds, for English questions (with a dictionary) the
share of their words its CC-CEDICT glosses use, and its passage's min-max scaled retrieval
score; `AnswerSettings` holds the weights and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np

from rag.answer.settings import AnswerSettings
from rag.lexical import STOPWORDS, content_tokens, han_bigrams, tokenize
from rag.retrieve import Query
from rag.script import fold
from rag.store import SentenceRow, Store
from rag.translate import Dictionary
from rag.types import Passage, RankedPassage


@dataclass
class Candidate:
    """A sentence of a retrieved passage, with its scores."""

    sent: SentenceRow
    passage_rank: int  # its passage's place in the retrieval order
    passage_score: float  # its passage's fused retrieval score
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    # It only repeats the question's words (a heading "Rabbit R1" for a question about the
    # Rabbit R1), so it cannot hold the answer, however well it matches.
    echo: bool = False


@dataclass
class Scoring:
    """Every sentence scored, and the read ones ranked."""

    candidates: list[Candidate] = field(default_factory=list)  # every passage's, in order
    # The sentences of the first `read_k` passages, echoes left out, best first.
    ranked: list[Candidate] = field(default_factory=list)
    # The question's words (stopwords left out): idf weights among the read sentences, and the
    # document frequencies of those found in them.
    weights: dict[str, float] = field(default_factory=dict)
    df: dict[str, int] = field(default_factory=dict)


def _idf(n_docs: int, df: dict[str, int], tok: str) -> float:
    return math.log(1 + (n_docs - df.get(tok, 0) + 0.5) / (df.get(tok, 0) + 0.5))


def idf_weights(
    query: dict[str, float], bags: Sequence[AbstractSet[str]]
) -> tuple[dict[str, float], dict[str, int]]:
    """Each query item's weight times its idf among the bags (the read sentences' words, pairs
    or glosses), and the document frequencies of the items found."""
    df: dict[str, int] = {}
    for bag in bags:
        for t in bag & query.keys():
            df[t] = df.get(t, 0) + 1
    return {t: w * _idf(len(bags), df, t) for t, w in query.items()}, df


def share(weights: dict[str, float], bag: AbstractSet[str]) -> float:
    """The weighted share of the items that `bag` holds."""
    return sum(w for t, w in weights.items() if t in bag) / (sum(weights.values()) or 1.0)


def word_share(query: Query, texts: Sequence[str], dictionary: Dictionary | None) -> float:
    """The share of the question's content words that the texts use: a Chinese question's
    words as they are, an English question's (stemmed) among the texts' CC-CEDICT glosses and
    Latin-script words. 1.0 where there is nothing to count (an English question without a
    dictionary, a question of stopwords)."""
    if query.lang == "en":
        if dictionary is None or not query.english:
            return 1.0
        words = set(dictionary.gloss(t for x in texts for t in tokenize(x)))
        words.update(w for x in texts for w in dictionary.english_words(x))
        units = set(query.english)
        return len(units & words) / len(units)
    # Single Latin letters and digits ("A轮", "5") say nothing of the topic; a Chinese
    # character alone ("云") does.
    units = {t for t in content_tokens(query.text) if len(t) > 1 or not t.isascii()}
    if not units:
        return 1.0
    text = fold("".join(texts)).lower()
    return sum(u in text for u in units) / len(units)


def _candidates(passages: list[Passage], index: Store) -> list[Candidate]:
    seen: set[int] = set()
    cands: list[Candidate] = []
    for rank, p in enumerate(passages):
        for s in index.chunk_sentences(p.row):
            if s.row not in seen:
                seen.add(s.row)
                cands.append(Candidate(s, rank, p.score))
    return cands


def score_sentences(
    query: Query,
    passages: list[Passage],
    index: Store,
    settings: AnswerSettings,
    dictionary: Dictionary | None = None,
) -> Scoring:
    """Every passage's sentences scored, so that the passages can be ranked by the evidence the
    answer is built on; the answer reads the first read_k passages, whatever top_k is, and the
    weights come from those alone. With a dictionary, English questions also meet each
    sentence's English glosses. `ranked` is empty when no sentence is read."""
    every = _candidates(passages, index)
    cands = [c for c in every if c.passage_rank < settings.read_k]  # a prefix of `every`
    if not cands:
        return Scoring(every)

    # Dense: the question against each sentence vector computed at index time.
    dense = index.sentence_vectors([c.sent.row for c in every]) @ query.vector
    tokens = [frozenset(c.sent.tokens) for c in every]
    # Lexical: idf-weighted share of the question's terms the sentence contains.
    terms = {t: w for t, w in query.terms.items() if t not in STOPWORDS}
    weights, df = idf_weights(terms, tokens[: len(cands)])
    # Character pairs, idf-weighted the same way: for English questions, those of the translations.
    if query.lang == "zh":
        qgrams = dict.fromkeys(han_bigrams(query.text), 1.0)
    else:
        qgrams = {}
        for t, w in terms.items():
            for g in han_bigrams(t):
                qgrams[g] = max(qgrams.get(g, 0.0), w)
    gweights, _ = idf_weights(qgrams, [c.sent.bigrams for c in cands])
    # English questions: which of their words the glosses of each sentence's words use.
    glossed = [
        frozenset(dictionary.gloss(c.sent.tokens)) if dictionary and query.english else frozenset()
        for c in every
    ]
    eweights, _ = idf_weights(dict.fromkeys(query.english, 1.0), glossed[: len(cands)])
    top_scores = np.array([c.passage_score for c in cands], dtype=np.float64)
    span_ = float(top_scores.max() - top_scores.min()) or 1.0
    for c, d, toks, bag in zip(every, dense, tokens, glossed, strict=True):
        c.dense = float(d)
        c.lexical = share(weights, toks)
        prev = index.previous_sentence(c.sent)
        c.score = (
            settings.w_dense * c.dense
            + settings.w_lexical * c.lexical
            + settings.w_bigram * share(gweights, c.sent.bigrams)
            + settings.w_context * (share(weights, set(prev.tokens) - toks) if prev else 0.0)
            + settings.w_gloss * share(eweights, bag)
            + settings.w_passage * (c.passage_score - top_scores.min()) / span_
        )
    question = query.text.lower()
    for c, toks in zip(every, tokens, strict=True):
        c.echo = c.sent.text.lower() in question or toks - STOPWORDS <= query.terms.keys()
    if all(c.echo for c in cands):  # nothing else to read: let the echoes speak
        for c in every:
            c.echo = False
    ranked = sorted((c for c in cands if not c.echo), key=lambda c: -c.score)
    return Scoring(every, ranked, weights, df)


def rank_passages(
    passages: list[Passage], scoring: Scoring, index: Store, read_k: int
) -> list[RankedPassage]:
    """The passages best first. A passage's score is its best sentence's: that names the right
    passage more often than the retrieval score does (XQuAD dev articles, R@1 zh 0.962 -> 0.970,
    en 0.872 -> 0.896). The passages the answer read come first, so the first passage is the one
    the answer came from; a passage it did not read scores at most the lowest read. With no
    sentence read, the retrieval's order and score stand."""
    if not scoring.ranked:
        return [RankedPassage.of(i, p, p.score) for i, p in enumerate(passages)]
    by_row = {c.sent.row: c.score for c in scoring.candidates if not c.echo}
    scores = [
        max((by_row[x.row] for x in index.chunk_sentences(p.row) if x.row in by_row), default=0.0)
        for p in passages
    ]
    read = range(min(read_k, len(passages)))
    head = sorted(read, key=lambda i: -scores[i])
    floor = min((scores[i] for i in read), default=0.0)
    tail = sorted(range(len(read), len(passages)), key=lambda i: -scores[i])
    return [RankedPassage.of(i, passages[i], scores[i]) for i in head] + [
        RankedPassage.of(i, passages[i], min(scores[i], floor)) for i in tail
    ]
