"""Reader answers: the trained reader's best span across the top passages, cited, or abstention.

Entry point: `read_answer(query, passages, rules, index, reader, settings, dictionary=None)
-> AnswerResult`.

The rule answerer runs first (it is cheap): its passage ranking (by best sentence) decides which
passages the reader reads, and its answer stands for yes/no questions, which a span cannot
answer. The reader reads the question with the first of the `read_k` passages, and with the
others only where its best span there is unsure (`sure_margin`) or the question asks for a
list; the answer is
the best-scoring span (scores adjusted by where it stands against the rules' own answer: its
passage's rank, inside their best sentence, over their typed span), its citation the sentence(s)
of the document around it (so `text[start:end] == quote` holds as for every citation). A date
or number question whose span holds no date or number of the asked-for kind takes the rules'
answer where theirs holds one; a Chinese question naming something in Latin script that the
span's surroundings never mention is not answered. The confidence is a logistic model of the
span's margin over the passage's no-answer score and of how many of the question's words stand
around it, fitted on dev data by eval/fit_reader_confidence.py and loaded from
`rag/reader/data/confidence.json`. List questions take every span close to the best, across
passages and documents, deduplicated, each cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from difflib import SequenceMatcher
from pathlib import Path

from rag.answer import (
    NUMERIC,
    AnswerResult,
    AnswerType,
    SpanKind,
    asks_year,
    counts_other,
    counts_things,
    digit_numbers,
    echoes,
    find_spans,
    has_numeral,
    lacks_typed_span,
    lead,
    list_items,
    list_kind,
    load_fitted,
    logistic,
)
from rag.answer.scoring import word_share
from rag.lexical import ENGLISH_STOPWORDS, han_count, tokenize
from rag.metrics import normalise
from rag.reader.onnx_reader import DATA_DIR, SpanReader
from rag.retrieve import Query
from rag.script import fold
from rag.store import SentenceRow, Store
from rag.translate import Dictionary
from rag.types import Citation, Evidence, Passage

CONFIDENCE_FILE = DATA_DIR / "confidence.json"
_TRIM = " \t\r\n，。、；：！？,.;:!?（）()「」“”\"'《》"
# The reader's own scores, and two retrieval signals that tell an off-topic question from one
# the articles speak to (the rules' `Evidence`): the best sentence's cosine and the top BM25.
# `untyped` (the rules' best sentence lacks the date or number the question asks for) and
# `span_untyped` (so does the reader's span) catch near misses: the passage is on topic, the
# asked-for fact is not in it.
# `window_words` and `passage_words` (the share of the question's words around the span, and
# in its passage) catch a span bound to the wrong entity or fact: "iFlytek's revenue" answered
# from a sentence on CapCut's, "how many employees" from one that names the company only.
FEATURES = (
    "margin",
    "score",
    "dense",
    "lexical",
    "untyped",
    "span_untyped",
    "window_words",
    "passage_words",
)


@dataclass(frozen=True)
class ReaderSettings:
    read_k: int = 3  # passages read (see bench/latency.py for the cost of each)
    abstain_below: float = 0.5
    # Logistic weights over FEATURES plus a bias; replaced by the fitted file when it exists.
    weights: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # Logits taken off a span per place its passage stands below the first in the rules'
    # ranking: raw span scores compare badly across passages, the ranking names the right
    # passage more often (tuned on dev: eval/reports/reader/README.md).
    rank_penalty: float = 0.0
    list_gap: float = 2.0  # how far below the best span (in logits) a list item may score
    list_max: int = 5
    # A list question whose best span sits in a sentence that enumerates ("A、B和C") is answered
    # with that enumeration's items: the reader finds where the answer is, but picks one item.
    list_enumeration: bool = True
    # A list question whose best span sits in a sentence the rules' list answer cites is
    # answered with the rules' list: their list composer gathers the items across sentences and
    # documents, the reader only confirms where they are.
    list_rules: bool = False
    complete_quantities: bool = True  # see `_completed`
    year_cut: bool = False  # see `_year`
    balance: bool = True  # see `_trimmed`
    # Logits added to a span inside the rules' best sentence, and to one overlapping the rules'
    # typed span there (a date, an amount, a name of the asked-for kind): the two answerers
    # err differently, and where they agree the answer is right more often than either alone.
    sentence_bonus: float = 0.0
    span_bonus: float = 0.0
    # A date or number question whose best span holds none of the asked-for kind ("7倍" for a
    # price) takes the rules' answer where theirs holds one: their patterns know the kinds, the
    # reader only learned them from examples.
    typed_rules: bool = False
    # A date or number question still answered with no numeral at all (the rules had no date
    # or number to give either) is not answered: "MiniMax有多少名员工？" -> a company name. The
    # confidence weighs `span_untyped` against a sure span, and a sure span over a near miss won.
    typed_only: bool = False
    # A Chinese question that names something in Latin script ("字节跳动的Gauth", "AI相机Meira")
    # answered from a span whose sentence, the one before and its passage never mention it is
    # not answered: the span is of the asked-for kind, about something else.
    named_only: bool = False
    # The second passage on is read only when the first's best span is less sure than this
    # (its start + end logits over the passage's no-answer score; 0: always read them all):
    # half the reading time where the first passage plainly holds an answer. List questions
    # read every passage, their items spread over them.
    sure_margin: float = 0.0
    # A date or number question's span whose every number the question itself states ("1,500"
    # for "Out of 1,500 AI companies, how many are in China?") is passed over for the next one:
    # the question gave that number, it does not ask for it.
    no_echo: bool = False
    # With `typed_only`, an amount, count or share question's span whose only numerals are a
    # date's ("2023年6月，…" for a revenue) holds no quantity either: a date is not an amount.
    dates_not_amounts: bool = False
    # With `typed_only`, an amount question's span that holds no sum of money and counts things
    # instead ("超过450万台" for a price, "在全球5个" for an investment) is refused: a count of
    # units is not a price.
    things_not_money: bool = False
    # With `typed_only`, a count question that names what it counts ("多少用户", "几家") is not
    # answered by a count of something else ("200余种"): `rag.answer.counts_other`.
    counted_as_asked: bool = False
    # With `named_only`, a question counts as written in English (and is not judged) by its
    # English function words, not by having more Latin letters than Chinese characters.
    named_by_words: bool = False
    # With `named_only`, an English question's brand names that the corpus spells in Latin
    # ("SynClub", "CapCut") are looked for too (`_missing_english_names`).
    named_english: bool = False
    # With `named_only`, the businesses a question names that CC-CEDICT knows (Tencent, 华为)
    # must be mentioned too, in English or Chinese (`_missing_known_names`).
    named_known: bool = False

    @classmethod
    def fitted(cls, path: Path = CONFIDENCE_FILE) -> ReaderSettings:
        if not path.is_file():
            return cls()
        data = load_fitted(path, FEATURES, "eval/fit_reader_confidence.py")
        # Settings tuned on dev data (eval/tune_reader.py) ship beside the weights fitted with
        # them: the confidence was fitted on the spans these settings pick.
        tuned = data.get("tuned", {})
        unknown = set(tuned) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown reader settings {sorted(unknown)}")
        return cls(
            weights=tuple(data["weights"]), abstain_below=float(data["abstain_below"]), **tuned
        )


@dataclass(frozen=True)
class ReaderEvidence(Evidence):
    """The rules' evidence (best sentence cosine, top BM25, ...) and the reader's scores."""

    margin: float = 0.0  # best span score minus its passage's no-answer score
    score: float = 0.0  # start + end logit of the best span
    passage: int = 0  # which passage (in retrieval order) it came from
    span_untyped: float = 0.0  # 1 when a date/number question's span holds none
    window_words: float = 1.0  # the question's words in the span's sentence and the one before
    passage_words: float = 1.0  # ... in the span's passage (`rag.answer.scoring.word_share`)
    # 1 when the span is refused whatever the confidence says (`typed_only`, `named_only`),
    # which is then 0.
    refused: float = 0.0

    def features(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, f)) for f in FEATURES)

    def confidence(self, weights: tuple[float, ...]) -> float:
        return logistic(weights, self.features())


@dataclass
class _Found:
    passage: int
    start: int  # document offsets
    end: int
    score: float
    margin: float
    text: str = field(default="")


_PAIRS = {"（": "）", "(": ")", "「": "」", "“": "”", "《": "》"}
_CLOSERS = {c: o for o, c in _PAIRS.items()}


def _trimmed(doc_text: str, start: int, end: int, balance: bool = True) -> tuple[int, int]:
    """The span without the punctuation and spaces at its ends, and with its brackets whole:
    a bracket closed (or opened) inside the span stays, and one left open at an end takes its
    partner from right beside the span ("摩摩斯 (Momus" -> "摩摩斯 (Momus)", "终结战争的机器》"
    -> "《终结战争的机器》"): names with their original spelling in brackets are common. A span
    that is one bracketed whole loses the brackets, as any end punctuation."""
    if balance:
        span = doc_text[start:end]
        for o, c in _PAIRS.items():
            if span.count(o) > span.count(c) and end < len(doc_text) and doc_text[end] == c:
                end += 1
            if span.count(c) > span.count(o) and start > 0 and doc_text[start - 1] == o:
                start -= 1

    def keeps(i: int) -> bool:
        ch, span = doc_text[i], doc_text[start:end]
        if not balance or (span[0] in _PAIRS and span[-1] == _PAIRS[span[0]]):
            return False  # one bracketed whole ("《X》", "“X”") is X, as before
        return (ch in _PAIRS and _PAIRS[ch] in span) or (ch in _CLOSERS and _CLOSERS[ch] in span)

    while start < end and doc_text[start] in _TRIM and not keeps(start):
        start += 1
    while end > start and doc_text[end - 1] in _TRIM and not keeps(end - 1):
        end -= 1
    return start, end


# Dates and quantities, the longer first where two overlap the same digits.
_QUANTITIES = (SpanKind.DATE, SpanKind.MONEY, SpanKind.PERCENT, SpanKind.COUNT)
_REACH = 12  # characters either side of a span searched for the rest of its quantity


def _completed(doc_text: str, start: int, end: int) -> tuple[int, int]:
    """The span grown to the whole date or quantity it cuts short: the reader often stops at
    the digits ("372" of "372 轮", "11万亿" of "11万亿日元", "4个月" of "不到4个月"), and a
    number without its unit or qualifier is a different answer. The quantity is the one the
    answer patterns of `rag.answer.spans` find over the span's last digit."""
    digits = [i for i in range(start, end) if doc_text[i].isdigit()]
    if not digits:
        return start, end
    lo, hi = max(0, start - _REACH), min(len(doc_text), end + _REACH)
    window = doc_text[lo:hi]
    for kind in _QUANTITIES:
        for s in find_spans(window, kind):
            a, b = lo + s.start, lo + s.end
            whole = (a > lo or lo == 0) and (b < hi or hi == len(doc_text))  # not cut by the window
            if whole and a <= digits[-1] < b and (a < start or b > end):
                return min(a, start), max(b, end)
    return start, end


_NEAR_SPELLING = 0.8  # difflib ratio: one letter in five another, or fewer
_YEAR = re.compile(r"\d{3,4}\s?年代?|(?<![\d.])[12]\d{3}(?![\d.])")


# A calendar date: a year, a month or a day. Ages ("5.05亿年前") are dates to the patterns, and
# an age answers "how old".
_CALENDAR = re.compile(r"(?<![\d.])(?:1\d|20)\d{2}(?![\d.])|月|日")


def _undated(text: str) -> str:
    """`text` less its calendar dates (`SpanKind.DATE` spans of a year, month or day)."""
    for d in reversed(find_spans(text, SpanKind.DATE)):
        if _CALENDAR.search(d.text):
            text = text[: d.start] + text[d.end :]
    return text


def _year(doc_text: str, start: int, end: int) -> tuple[int, int]:
    """The span cut to its year, for a question that asks for the year alone: "1988年3月11日"
    -> "1988年" (a date the reader read whole, or `_completed` grew). A span of two years or
    more ("从2005年到 2014 年", "1915 年和1937 年") is left whole: which of them is asked is the
    reader's to say, and a range may be the answer."""
    years = list(_YEAR.finditer(doc_text, start, end))
    return (years[0].start(), years[0].end()) if len(years) == 1 else (start, end)


def _holding(index: Store, p: Passage, start: int, end: int) -> list[SentenceRow]:
    """The sentences of `p`'s chunk that hold document characters [start, end)."""
    return [s for s in index.chunk_sentences(p.row) if s.start < end and s.end > start]


def _citation(n: int, index: Store, p: Passage, start: int, end: int) -> Citation:
    """Citation n: the sentences holding document characters [start, end) (`_holding`)."""
    sents = _holding(index, p, start, end)
    q0 = min([start, *(s.start for s in sents)])
    q1 = max([end, *(s.end for s in sents)])
    return Citation.of(n, index.documents[p.doc_id], q0, q1)


def _rules_regions(
    rules: AnswerResult,
) -> tuple[tuple[str, int, int] | None, tuple[int, int] | None]:
    """The rules' best sentence (document, start, end) and, when their answer is a part of it
    rather than the whole sentence, that part's document offsets. Found by its text: the
    composer keeps no offsets for a list's enumeration ("A、B、C"), which counts here too."""
    if rules.abstained or len(rules.citations) != 1:
        return None, None  # abstained, or a list: no one sentence
    c = rules.citations[0]
    text = rules.answer.removesuffix(" [1]")
    at = c.quote.find(text) if text != c.quote else -1
    typed = (c.start + at, c.start + at + len(text)) if at >= 0 else None
    return (c.doc_id, c.start, c.end), typed


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def _latin_names(text: str) -> list[str]:
    """The Latin-script words of a text that may name something: two characters or more, the
    first a letter, as `rag.lexical.tokenize` cuts them (lower-cased, script folded)."""
    return [t for t in tokenize(text) if t.isascii() and len(t) >= 2 and t[0].isalpha()]


def _spelt_nearly(name: str, words: list[str]) -> bool:
    """Whether one of `words` is `name` spelt a little differently, for a name of five letters
    or more ("Beriods" for Beroids, "ARPNET" for ARPANET: a misspelt name is still the name; a
    short one is too easily another's)."""
    return len(name) >= 5 and any(
        SequenceMatcher(None, name, w).ratio() >= _NEAR_SPELLING for w in words
    )


def _missing_names(query: Query, texts: list[str], by_words: bool = False) -> list[str]:
    """The Latin-script names of a Chinese question that none of the texts mentions, as spelt
    or nearly (`_spelt_nearly`), case and script folded. An English question's words are all
    Latin: none; nor are they in one written in English, though it names something in Chinese
    ("Who is the CTO of ModelBest (面壁智能)?" is an English question, and 面壁智能 its name).
    Written in English is, `by_words`, having an English function word ("the", "of", "is"), or
    else more Latin letters than Chinese characters (which "CapCut Pro的月订阅费是多少？" has)."""
    if query.lang != "zh":
        return []
    if by_words:
        if any(w.lower() in ENGLISH_STOPWORDS for w in _LATIN_WORD.findall(query.text)):
            return []
    elif sum(c.isascii() and c.isalpha() for c in query.text) >= han_count(query.text):
        return []
    return _unmentioned(_latin_names(query.text), texts)


def _unmentioned(names: list[str], texts: list[str]) -> list[str]:
    """The (lower-case Latin) names that none of the texts mentions as spelt or nearly."""
    text = " ".join(texts)
    folded = fold(text).lower()
    unseen = [w for w in names if w not in folded]
    if not unseen:
        return []  # the common case: no need to cut the texts into words
    words = _latin_names(text)
    return [w for w in unseen if not _spelt_nearly(w, words)]


def _missing_english_names(
    query: Query, texts: list[str], index: Store, dictionary: Dictionary | None
) -> list[str]:
    """The brand names of an English question that the corpus spells in Latin ("SynClub",
    "CapCut") and none of the texts mentions, as `_missing_names` finds them. A brand name
    here has a capital inside it, is no English word to the dictionary, which does not
    translate it either, and is no acronym ("CST", "LLM": the corpus may spell them out in
    Chinese). A plain capitalised name may be a person's, which a Chinese text writes in
    characters (XQuAD's "Carl Wilhelm Scheele" is 卡尔·威廉·舍勒 in its passage)."""
    if query.lang != "en" or dictionary is None:
        return []
    names = [
        w.lower()
        for w in _LATIN_WORD.findall(query.text)
        if len(w) >= 3
        and not w.isupper()
        and any(c.isupper() for c in w[1:])
        and not dictionary.is_english(w)
        and not dictionary.translate(w.lower())
        and index.knows(w.lower())
    ]
    return _unmentioned(names, texts)


_CAPITALISED = re.compile(r"[A-Z][A-Za-z0-9&-]*(?:'s)?(?: [A-Z][A-Za-z0-9&-]*(?:'s)?)*")


def _known_names(query: Query, dictionary: Dictionary) -> list[list[str]]:
    """The businesses a question names that the dictionary knows, each as its forms: an English
    question's capitalised names (longest first; no English word alone: "Cloud", "Which") with
    their Chinese words ("Tencent" -> 腾讯控股有限公司), a Chinese question's business names
    (华为, 字节跳动) with their English ones."""
    found: list[list[str]] = []
    if query.lang == "en":
        for run in _CAPITALISED.finditer(query.text):
            words = [w.removesuffix("'s") for w in run.group().split()]
            i = 0
            while i < len(words):
                for n in range(min(3, len(words) - i), 0, -1):
                    name = " ".join(words[i : i + n]).lower()
                    zh = dictionary.names.get(name, [])
                    # Businesses only: every proper name (places, people) refused answers
                    # that were right, a Chinese text naming them otherwise or not at all.
                    if (n > 1 or not dictionary.is_english(name)) and any(
                        w in dictionary.firms for w in zh
                    ):
                        found.append([name, *zh])
                        i += n
                        break
                else:
                    i += 1
        return found
    return [[f, *dictionary.firms[f]] for f in dictionary.firms_in(fold(query.text))]


def _missing_known_names(
    query: Query, window: list[str], passage: str, dictionary: Dictionary | None
) -> list[str]:
    """The businesses a question names (`_known_names`) that the passage never mentions in any
    of their forms (a Chinese form of three characters or more by its first two too: 腾讯 for
    腾讯控股有限公司, 阿里 in 阿里云 for 阿里巴巴), or that the span's window does not mention
    while it names another business: a span about another company's money is a near miss,
    however sure the reader is of it."""
    if dictionary is None:
        return []
    near = fold(" ".join(window)).lower()
    far = near + " " + fold(passage).lower()
    known = _known_names(query, dictionary)
    asked = {f for forms in known for f in forms}
    other = any(f not in asked for f in dictionary.firms_in(near))
    missing = []
    for forms in known:
        short = [f[:2] for f in forms if len(f) >= 3 and han_count(f[:2]) == 2]
        said = [*forms, *short]
        if not any(f in far for f in said) or (other and not any(f in near for f in said)):
            missing.append(forms[0])
    return missing


def _window(index: Store, p: Passage, start: int, end: int) -> list[str]:
    """The texts of the sentences holding [start, end) and of the one before them in the
    document (it often names what "it" or "该公司" is)."""
    sents = _holding(index, p, start, end)
    prev = index.previous_sentence(sents[0]) if sents else None
    return [s.text for s in ([prev] if prev else []) + sents]


def read_answer(
    query: Query,
    passages: list[Passage],
    rules: AnswerResult,
    index: Store,
    reader: SpanReader,
    settings: ReaderSettings,
    dictionary: Dictionary | None = None,
) -> AnswerResult:
    """The reader's answer; with a dictionary (as the rules had), English questions' words
    are also looked for in the passages' glosses for the confidence."""
    if rules.answer_type == AnswerType.YES_NO.value or not passages:
        return rules
    order = [r.retrieved for r in rules.ranking] or list(range(len(passages)))
    order = order[: settings.read_k]
    texts = [passages[i].text for i in order]
    if settings.sure_margin and rules.answer_type != AnswerType.LIST.value:
        reads = reader.read(query.text, texts[:1])
        first = reads[0]
        if first.spans and first.spans[0].score - first.null >= settings.sure_margin:
            order = order[:1]
        else:
            reads += reader.read(query.text, texts[1:])
    else:
        reads = reader.read(query.text, texts)
    sentence, typed = _rules_regions(rules)
    year = (
        settings.year_cut and rules.answer_type == AnswerType.WHEN.value and asks_year(query.text)
    )
    found: list[_Found] = []
    for place, (i, r) in enumerate(zip(order, reads, strict=True)):
        p = passages[i]
        text = index.documents[p.doc_id].text
        for s in r.spans:
            a, b = _trimmed(text, p.start + s.start, p.start + s.end, settings.balance)
            if settings.complete_quantities:
                a, b = _completed(text, a, b)
            if year:
                a, b = _year(text, a, b)
            if b > a:
                score = s.score - settings.rank_penalty * place
                if sentence and p.doc_id == sentence[0]:
                    if sentence[1] <= a and b <= sentence[2]:
                        score += settings.sentence_bonus
                    if typed and a < typed[1] and typed[0] < b:
                        score += settings.span_bonus
                found.append(_Found(i, a, b, score, s.score - r.null, text[a:b]))
    if not found:
        return AnswerResult("", True, 0.0, rules.answer_type, ranking=rules.ranking)
    found.sort(key=lambda f: -f.score)
    qtype = AnswerType(rules.answer_type)
    if settings.no_echo and qtype in NUMERIC:
        stated = digit_numbers(query.text)
        found = [f for f in found if not echoes(f.text, stated)] or found
    best = found[0]
    ev = rules.evidence or Evidence(0.0, 0.0, 0.0)
    untyped = lacks_typed_span(best.text, qtype)
    # Companies, places or names are listed, not counted: a count ("推出了 11 款海外应用",
    # "7款…，包括A、B和C") is where the items are, or near it.
    counted = qtype == AnswerType.LIST and bool(list_kind(query.text)) and best.text[0].isdigit()
    # Where the reader's span is not of the kind asked for, the rules' answer is taken when
    # theirs is: their patterns and list composer know the kinds, the reader only learned them.
    take_rules = not rules.abstained and (
        (settings.typed_rules and untyped and not lacks_typed_span(rules.answer, qtype))
        or (counted and not rules.answer[0].isdigit())
    )
    src = passages[best.passage]
    window = _window(index, src, best.start, best.end)
    evidence = ReaderEvidence(
        ev.dense,
        ev.lexical,
        ev.untyped,
        best.margin,
        best.score,
        best.passage,
        float(untyped and not take_rules),  # of the answer given
        word_share(query, window, dictionary),
        word_share(query, [src.text], dictionary),
    )
    confidence = evidence.confidence(settings.weights)
    asked = best.text
    if settings.dates_not_amounts and qtype in NUMERIC and qtype != AnswerType.WHEN:
        asked = _undated(asked)
    refuse = settings.typed_only and evidence.span_untyped and not has_numeral(asked)
    # The rules' typed answer, where taken, is the answer (`typed_rules`), not the span.
    if settings.typed_only and not take_rules:
        if settings.things_not_money and qtype == AnswerType.HOW_MUCH:
            refuse = refuse or counts_things(asked)
        if settings.counted_as_asked and qtype == AnswerType.HOW_MANY:
            refuse = refuse or counts_other(query.text, asked)
    if settings.named_only and not refuse:
        texts = [*window, src.text]
        refuse = bool(_missing_names(query, texts, settings.named_by_words))
        if settings.named_english and not refuse:
            refuse = bool(_missing_english_names(query, texts, index, dictionary))
        if settings.named_known and not refuse:
            refuse = bool(_missing_known_names(query, window, src.text, dictionary))
    if refuse:
        # Not an answer of the asked-for kind, or not about what was asked, however sure.
        evidence, confidence = replace(evidence, refused=1.0), 0.0
    # The passage the answer came from first, then the rules' order.
    ranking = lead(rules.ranking, lambda r: r.retrieved == best.passage)
    if confidence < settings.abstain_below:
        return AnswerResult(
            "", True, confidence, rules.answer_type, evidence=evidence, ranking=ranking
        )
    if take_rules:
        return replace(rules, confidence=confidence, evidence=evidence)
    picked = [best]
    doc = src.doc_id
    if (
        rules.answer_type == AnswerType.LIST.value
        and settings.list_rules
        and not rules.abstained
        and any(c.doc_id == doc and c.start <= best.start < c.end for c in rules.citations)
    ):
        return replace(rules, confidence=confidence, evidence=evidence, ranking=ranking)
    if rules.answer_type == AnswerType.LIST.value and settings.list_enumeration:
        sents = [
            x for x in index.chunk_sentences(src.row) if x.start <= best.start and best.end <= x.end
        ]
        items = list_items(sents[0].text, query) if sents else []
        if items:
            cited = _citation(1, index, src, sents[0].start, sents[0].end)
            answer = f"{'、'.join(dict.fromkeys(items))} [1]"
            return AnswerResult(
                answer, False, confidence, rules.answer_type, [cited], evidence, ranking
            )
    if rules.answer_type == AnswerType.LIST.value:
        for f in found[1:]:
            if len(picked) >= settings.list_max or f.score < best.score - settings.list_gap:
                break
            if f.margin <= 0:
                continue
            key = normalise(f.text)
            if any(key in normalise(p.text) or normalise(p.text) in key for p in picked):
                continue
            picked.append(f)
    parts, citations = [], []
    for n, f in enumerate(picked, 1):
        parts.append(f"{f.text} [{n}]")
        citations.append(_citation(n, index, passages[f.passage], f.start, f.end))
    return AnswerResult(
        "；".join(parts),
        False,
        confidence,
        rules.answer_type,
        citations,
        evidence,
        ranking,
    )
