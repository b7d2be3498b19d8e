"""Retrieve: hybrid search over the chunks, dense + BM25 (the store's two legs), fused by score.

Entry point: `Retriever(store, settings).run(query) -> list[Passage]`, where `query` is a `Query`
(the question, its embedding, and its weighted lexical terms from `make_query`).

    >>> retriever = Retriever(open_backend(settings, embedder).open())
    >>> query = make_query("which clouds are building datacentres in Mexico?", embedder)
    >>> [p.doc_id for p in retriever.run(query, top_k=3)]

Fusion is by score, not by rank: each leg's scores over the candidate pool are z-scored and added,
the lexical leg weighted. On XQuAD here rank fusion (RRF) of the weak cross-lingual lexical leg
pulled the strong dense leg down, while down-weighted score fusion helped (shared/benchmarks/xquad).
English questions reach the Chinese text lexically through CC-CEDICT translations of their words
(`rag.translate`); Latin-script names, numbers and acronyms match as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from rag.embed import Embedder
from rag.lexical import content_tokens, language, tokenize
from rag.store import Store
from rag.translate import Dictionary
from rag.types import Passage


class Mode(StrEnum):
    """Which legs retrieval uses (the ablation of the eval runner runs each)."""

    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"  # dense + BM25 on the question's own words
    HYBRID_DICT = "hybrid+dict"  # plus CC-CEDICT translations of English words

    @classmethod
    def parse(cls, value: str) -> Mode:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"Unknown retrieval mode {value!r}. Supported modes are: {[m.value for m in cls]}"
            ) from None


@dataclass(frozen=True)
class RetrieveSettings:
    mode: Mode = Mode.HYBRID_DICT
    pool: int = 50  # candidates each leg contributes before fusion
    # Lexical weight after z-scoring. Same-language BM25 is as strong as dense on XQuAD zh->zh
    # (0.922 vs 0.898 R@1), so it gets an equal say; translated terms are noisy, so English
    # questions give the lexical leg less. 0.4 for English (0.2, 0.4, 0.6 tried) and the
    # sentence weight below were chosen on the seeds' dev split and a 400-question XQuAD sample;
    # both agreed (bench notes in eval/reports/README.md).
    lexical_weight_zh: float = 1.0
    lexical_weight_en: float = 0.4
    # Weight of a chunk's best sentence similarity next to the whole chunk's: a question usually
    # matches one sentence, and a chunk vector averages that sentence with its neighbours.
    # 0.7 lifted seeds-dev hit@1 0.85 -> 0.97 and XQuAD en->zh R@1 0.83 -> 0.86.
    sentence_weight: float = 0.7
    # Weight of BM25 over each chunk's document fields (title, and the names in its source URL's
    # host: "36kr" of www.36kr.com), next to the chunk's own BM25. Questions name their source
    # ("according to 36Kr's outlook"). 0.5 lifted seeds-dev hit@5 0.978 -> 0.989 and left XQuAD's
    # dev articles where they were (0.25, 0.5, 1.0 tried).
    field_weight: float = 0.5


@dataclass
class Query:
    """A question ready for retrieval and answering."""

    text: str
    lang: str
    vector: np.ndarray
    terms: dict[str, float] = field(default_factory=dict)  # lexical token -> weight
    # An English question's stemmed words, to meet the English glosses of Chinese sentences.
    english: tuple[str, ...] = ()


def make_query(question: str, embedder: Embedder, dictionary: Dictionary | None = None) -> Query:
    """Embed the question and collect its lexical terms (with translations for English)."""
    vector = embedder.embed_queries([question])[0]
    return lexical_query(question, vector, dictionary)


def lexical_query(
    question: str, vector: np.ndarray, dictionary: Dictionary | None, lang: str | None = None
) -> Query:
    """The query of a question; `lang` is the language it was asked in, where `question` is a
    reading of it that may differ (an English question with its pinyin names in Chinese)."""
    lang = lang or language(question)
    terms: dict[str, float] = {}
    for tok in content_tokens(question):
        terms[tok] = terms.get(tok, 0.0) + 1.0
    if lang == "en" and dictionary is not None:
        for term in dictionary.translate(question):
            parts = [t for t in tokenize(term.text) if t]
            for tok in parts:
                # A word that jieba cuts into parts spreads its weight over them.
                terms[tok] = max(terms.get(tok, 0.0), term.weight / len(parts))
    english = tuple(dictionary.english_words(question)) if lang == "en" and dictionary else ()
    return Query(question, lang, vector, terms, english)


def _zscore(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    std = float(x.std())
    return (x - float(x.mean())) / std if std > 1e-9 else np.zeros_like(x)


class Retriever:
    """Hybrid retrieval over one committed `Store` (cheap to make: the store holds the legs)."""

    def __init__(self, store: Store, settings: RetrieveSettings | None = None) -> None:
        self.store = store
        self.settings = settings or RetrieveSettings()

    def _best_sentence(self, row: int, vector: np.ndarray) -> float:
        sents = self.store.chunk_sentences(row)
        if not sents:
            return 0.0
        return float((self.store.sentence_vectors([x.row for x in sents]) @ vector).max())

    def run(self, query: Query, top_k: int = 5, mode: Mode | None = None) -> list[Passage]:
        """The top_k passages, best first, with fused and per-leg scores."""
        mode = mode or self.settings.mode
        if not self.store.stats.chunks:
            return []
        pool = max(self.settings.pool, top_k)
        dense_rows = (
            [row for row, _ in self.store.search(query.vector, pool)] if mode != Mode.BM25 else []
        )
        terms = query.terms
        if mode == Mode.HYBRID:
            own = set(content_tokens(query.text))
            terms = {t: w for t, w in terms.items() if t in own}
        # Scored in every mode: each passage reports both legs, and the answer's confidence reads
        # the lexical evidence even when dense alone ranks.
        top, dense_lexical = self.store.lexical(
            terms, pool if mode != Mode.DENSE else 0, dense_rows, self.settings.field_weight
        )
        candidates: dict[int, float] = dict(zip(dense_rows, dense_lexical.tolist(), strict=True))
        for row, score in top:
            candidates.setdefault(row, score)
        if not candidates:
            return []
        rows = list(candidates)
        lexical = np.array(list(candidates.values()), dtype=np.float32)
        dense = self.store.chunk_vectors(rows) @ query.vector
        if self.settings.sentence_weight and mode != Mode.BM25:
            best = np.array([self._best_sentence(r, query.vector) for r in rows])
            w = self.settings.sentence_weight
            dense = (1 - w) * dense + w * best
        if mode == Mode.DENSE:
            fused = dense.astype(np.float64)
        elif mode == Mode.BM25:
            fused = lexical.astype(np.float64)
        else:
            w = (
                self.settings.lexical_weight_zh
                if query.lang == "zh"
                else self.settings.lexical_weight_en
            )
            fused = _zscore(dense.astype(np.float64)) + w * _zscore(lexical.astype(np.float64))
        order = np.argsort(-fused, kind="stable")[:top_k]
        out = []
        for i in order:
            chunk = self.store.chunk(rows[i])
            out.append(
                Passage(
                    doc_id=chunk.doc_id,
                    chunk_id=chunk.chunk_id,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=float(fused[i]),
                    dense=float(dense[i]),
                    lexical=float(lexical[i]),
                    row=chunk.row,
                )
            )
        return out
