"""List answers: the items a list question asks for, from one enumeration or from several sentences.

Entry point: `list_answer(query, ranked, df, weights, index, settings) -> (answer, citations)`.

    >>> [[s.text for s in run] for run in enumerations("分别位于韩国、马来西亚和墨西哥。")]
    [['韩国', '马来西亚', '墨西哥']]

In order of preference: the items of the best sentence's enumeration (`阿里云、华为云、腾讯云 [1]`);
else, when two or more of the best sentences each name one item of the kind asked for
(`亚马逊云科技 [1]；阿里云 [2]`), those items, each cited; else the best sentences themselves.
"""

from __future__ import annotations

import re

from rag.answer.scoring import Candidate
from rag.answer.settings import AnswerSettings
from rag.answer.spans import (
    SpanCand,
    SpanKind,
    find_spans,
    gap,
    named_by,
    place_spans,
    tagged,
    term_hits,
)
from rag.chunk import sentence_stop
from rag.retrieve import Query
from rag.store import SentenceRow, Store
from rag.types import Citation

# Word classes that end an enumeration item: verbs (not verbal nouns), prepositions, conjunctions,
# adverbs, particles, pronouns, localisers, numerals, measure words, times, idioms.
_ITEM_STOP = ("v", "p", "c", "d", "u", "r", "f", "m", "q", "t", "y", "e", "o", "i", "l", "z")
_ITEM_JOIN = {"和", "及", "与", "以及", "或"}
_ITEM_MAX_CHARS = 16
_NAME_TAGS = ("nr", "ns", "nt", "nz", "eng")
_ASIDES = {"（": "）", "(": ")"}
_ASIDES_BACK = {c: o for o, c in _ASIDES.items()}
_ASIDE_MAX_WORDS = 8


def enumerations(text: str) -> list[list[SpanCand]]:
    """Runs of two or more items written as an enumeration ("字节跳动、腾讯、百度和阿里巴巴"):
    items separated by "、", the last one possibly joined by 和/及/与. An item is the words next to
    a separator up to a verb, particle, punctuation or similar boundary (jieba's POS tags)."""
    words = tagged(text)

    def nominal(k: int) -> bool:
        if not 0 <= k < len(words):
            return False
        _, _, word, flag = words[k]
        if word in (" ", "-", ".", "+", "_"):  # inside a Latin name: "Uwem Ukpong", "DeepSeek-V3"
            return all(
                0 <= j < len(words) and words[j][2].isascii() and words[j][2].isalnum()
                for j in (k - 1, k + 1)
            )
        if word in _ITEM_JOIN or word == "、" or not word.strip():
            return False
        if flag == "x" and not word.isalnum():
            return False  # punctuation
        if flag == "d" and len(word) > 1 and k + 1 < len(words):
            # An adverb goes before a verb; one before a noun or a Latin word is a noun jieba's
            # dictionary tags as an adverb (相机 "camera", 互动 "interactive": "AI相机Meira").
            return words[k + 1][3].startswith(("n", "eng"))
        return flag in ("vn", "eng") or not flag.startswith(_ITEM_STOP)

    def aside(k: int, step: int) -> int | None:
        """Where the bracketed aside that word k opens (or, going left, closes) ends: an item's
        original or former name ("AnyDoor（原BagelBell）"), part of the item."""
        ends = _ASIDES if step > 0 else _ASIDES_BACK
        if words[k][2] not in ends:
            return None
        j = k + step
        while 0 <= j < len(words) and abs(j - k) <= _ASIDE_MAX_WORDS:
            if words[j][2] == ends[words[k][2]]:
                return j
            if words[j][2] in ("、", "，", "。", *_ITEM_JOIN):
                return None
            j += step
        return None

    def item(first: int, step: int) -> tuple[int, int] | None:
        k, chars, last = first, 0, None
        while 0 <= k < len(words):
            close = aside(k, step) if last is not None or step < 0 else None
            if close is not None:  # an aside after (or, going left, before) the item's words
                last, k = close, close + step
                continue
            if not nominal(k) or chars + len(words[k][2]) > _ITEM_MAX_CHARS:
                break
            chars += len(words[k][2])
            last, k = k, k + step
        if last is None or (step < 0 and words[last][2] in _ASIDES):
            return None  # nothing, or an aside alone
        lo, hi = sorted((first, last))
        return lo, hi

    def is_name(j: int) -> bool:
        return words[j][3].startswith(_NAME_TAGS)

    def alike(bounds: list[tuple[int, int]]) -> tuple[int, int]:
        """The last item cut after its last name when every other item is names only: in
        "韩国、泰国和墨西哥建设数据中心" the words after the last name are the sentence going on
        (jieba tags 建设 a verbal noun, which an item may hold), not part of the item; in
        "…和AI社交WiseAI" every word up to the name WiseAI is the item's."""
        a, b = bounds[-1]
        if not all(is_name(j) for lo, hi in bounds[:-1] for j in range(lo, hi + 1)):
            return a, b
        names = [j for j in range(a, b + 1) if is_name(j)]
        return (a, names[-1]) if names else (a, b)

    runs: list[list[SpanCand]] = []
    k = 0
    while k < len(words):
        if words[k][2] != "、" and words[k][2] not in _ITEM_JOIN:
            k += 1
            continue
        left = item(k - 1, -1)
        if left is None:
            k += 1
            continue
        bounds = [left]
        while k < len(words) and words[k][2] in ("、", *_ITEM_JOIN):
            right = item(k + 1, 1)
            if right is None:
                break
            bounds.append(right)
            k = right[1] + 1
        # "A和B" alone is as often two common nouns ("技术和市场") as two names: it counts only
        # when both items hold a name (a proper-noun tag or Latin script).
        named = all(
            any(words[j][3].startswith(_NAME_TAGS) for j in range(a, b + 1)) for a, b in bounds
        )
        bounds[-1] = alike(bounds)
        if len(bounds) >= 3 or (len(bounds) == 2 and (words[bounds[0][1] + 1][2] == "、" or named)):
            runs.append(
                [
                    SpanCand(words[a][0], words[b][1], text[words[a][0] : words[b][1]])
                    for a, b in bounds
                ]
            )
        k += 1
    return runs


def list_items(text: str, query: Query) -> list[str]:
    """The items of the sentence's enumeration nearest the question's words, leaving out any
    enumeration that names something the question itself names (in "which clouds build in Mexico",
    the list of countries holding Mexico is context, not the answer)."""
    hits = term_hits(text, query)
    best: tuple[float, list[str]] | None = None
    for run in enumerations(text):
        if any(named_by(s.text, query) for s in run):
            continue
        cost = gap(run[0].start, run[-1].end, hits, len(text))
        if best is None or cost < best[0]:
            best = (cost, [s.text for s in run])
    return best[1] if best else []


# What a list question lists, by the first of these words it uses ("哪些云厂商" lists companies).
LIST_KINDS: dict[str, str] = {
    "org": r"compan|cloud|provider|firm|vendor|maker|giant|start-?up|unicorn|"
    r"厂商|公司|企业|巨头|云|独角兽",
    "place": r"countr|region|market|cit(?:y|ies)|location|place|area|国家|地区|城市|市场",
    "name": r"\bapps?\b|product|model|project|tool|应用|产品|模型|项目|工具",
}
_LIST_KINDS = [(kind, re.compile(p)) for kind, p in LIST_KINDS.items()]
_ORG_START = ("nt", "nz", "nrt", "nr", "eng")
_ORG_MAX_CHARS = 6
_QUOTE_OPEN = '“「《‘"'


def list_kind(question: str) -> str | None:
    """What the question lists ("org", "place", "name"), or None."""
    q = question.lower()
    found = [(m.start(), kind) for kind, p in _LIST_KINDS if (m := p.search(q))]
    return min(found)[1] if found else None


def _org_phrases(text: str) -> list[SpanCand]:
    """Company-like names: a proper noun (or Latin word) with the nouns that follow it, up to six
    characters ("亚马逊" + "云" + "科技", "微软" + "Azure")."""
    words = tagged(text)
    spans = []
    for i, (start, _, word, flag) in enumerate(words):
        if not flag.startswith(_ORG_START) or (len(word) < 2 and flag != "eng"):
            continue
        if start > 0 and text[start - 1] in _QUOTE_OPEN:
            continue  # a name in quotation marks is a product's or a project's ("百炼")
        if flag == "eng" and word.isupper() and len(word) <= 4:
            continue  # an acronym ("AI") starts a phrase, not a name
        j = i + 1
        while (
            j < len(words)
            and words[j][3].startswith(("n", "eng"))
            and words[j][1] - start <= _ORG_MAX_CHARS
        ):
            j += 1
        spans.append(SpanCand(start, words[j - 1][1], text[start : words[j - 1][1]]))
    return spans


def _name_spans(text: str) -> list[SpanCand]:
    return find_spans(text, SpanKind.LATIN) + find_spans(text, SpanKind.QUOTED)


_ITEM_FINDERS = {"org": _org_phrases, "place": place_spans, "name": _name_spans}


def list_item(text: str, kind: str, query: Query) -> str | None:
    """The one item of `kind` the sentence gives: the nearest to the question's words that the
    question does not name itself."""
    hits = term_hits(text, query)
    best: tuple[float, str] | None = None
    for span in _ITEM_FINDERS[kind](text):
        if named_by(span.text, query):
            continue
        cost = gap(span.start, span.end, hits, len(text))
        if best is None or cost < best[0]:
            best = (cost, span.text)
    return best[1] if best else None


def _cite(n: int, index: Store, sent: SentenceRow) -> Citation:
    return Citation.of(n, index.documents[sent.doc_id], sent.start, sent.end)


_CLAUSE_END = "；;"


def _whole_sentence(n: int, index: Store, sent: SentenceRow) -> Citation:
    """`sent` run on to the end of its sentence where it ends at a "；": the sentence splitter
    cuts there, but "；" joins the parts of one enumeration ("原因有二：A；B。"), so a list answer
    that quotes the first part alone misses the items after it."""
    text = index.documents[sent.doc_id].text
    end = sent.end
    if text[sent.start : end].rstrip()[-1:] in _CLAUSE_END:
        stop = sentence_stop(text, end)
        end = stop + 1 if stop < len(text) and text[stop] != "\n" else stop  # keeps the "。"
    return Citation.of(n, index.documents[sent.doc_id], sent.start, end)


def list_answer(
    query: Query,
    ranked: list[Candidate],
    df: dict[str, int],
    weights: dict[str, float],
    index: Store,
    settings: AnswerSettings,
) -> tuple[str, list[Citation]]:
    """The answer to a list question from its ranked sentences (best first), with its citations.
    `df` and `weights`: the read sentences' document frequencies and idf weights of the
    question's words (`rag.answer.scoring`)."""
    best = ranked[0]
    items = list_items(best.sent.text, query)
    if items:  # the best sentence enumerates the answer
        return f"{'、'.join(dict.fromkeys(items))} [1]", [_cite(1, index, best.sent)]
    # Otherwise the items sit in several sentences, often in several documents: take the
    # next sentences that score close to the best.
    picked = [best]
    for c in ranked[1:]:
        if len(picked) >= settings.list_max or c.score < best.score - settings.list_gap:
            break
        if all(c.sent.text != p.sent.text for p in picked):
            picked.append(c)
    # When two or more of them hold the question's rarest word (its anchor: "Mexico") and each
    # names one item of the kind asked for ("clouds"), the list is those items, each cited.
    kind = list_kind(query.text)
    anchor = max(df, key=lambda t: weights[t], default=None)  # among words the text holds
    about = [c for c in picked if anchor in c.sent.tokens]
    found = [list_item(c.sent.text, kind, query) for c in about] if kind else []
    parts: list[str] = []
    citations: list[Citation] = []
    if len(found) >= 2 and all(found):
        for c, item in zip(about, found, strict=True):
            assert item is not None
            if any(item in p or p.split(" [")[0] in item for p in parts):
                continue
            n = len(citations) + 1
            parts.append(f"{item} [{n}]")
            citations.append(_cite(n, index, c.sent))
        return "；".join(parts), citations
    length = 0
    for c in picked:
        if any(x.doc_id == c.sent.doc_id and x.start <= c.sent.start < x.end for x in citations):
            continue  # the rest of a sentence already quoted
        i = len(citations) + 1
        cited = _whole_sentence(i, index, c.sent)
        if length + len(cited.quote) > settings.max_answer_chars - 20 and parts:
            break
        parts.append(f"{cited.quote} [{i}]")
        citations.append(cited)
        length += len(cited.quote) + 5
    return "；".join(parts), citations
