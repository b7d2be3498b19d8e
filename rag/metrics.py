"""Metrics: the CONTRACT's evaluation promises as small pure functions (no I/O, no pipeline).

The gold-set side (`answer_correct`, `passage_relevant`, `citation_valid`, ...) follows CONTRACT.md
"Gold Q&A set" and "Metrics"; the SQuAD side (`cmrc_em`, `cmrc_f1`) follows the CMRC 2018
evaluation script (character level for Chinese, English words kept whole).

    >>> answer_correct("阿里云 [1]；亚马逊云科技 [2]", [["阿里云"], ["亚马逊云科技", "亚马逊"]])
    True
    >>> round(cmrc_f1(["308分"], "共308分 [1]"), 3)
    0.857
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Groups = Sequence[Sequence[str]]  # the gold `answers`: every group needs one alternative

MAX_ANSWER_CHARS = 300  # CONTRACT: a longer answer is a dump of passages, never correct
_WHITESPACE = re.compile(r"\s+")
# `[n]` citation markers, with the space the answerer puts before them.
_MARKER = re.compile(r"\s*\[\d+\]")


# -- gold set ------------------------------------------------------------------------------------
def normalise(text: str) -> str:
    """The contract's matching normalisation: Unicode NFKC, lower case, all whitespace removed."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text).lower())


def strip_markers(answer: str) -> str:
    """The answer with its `[n]` citation markers removed (and trimmed)."""
    return _MARKER.sub("", answer).strip()


def satisfies(text: str, groups: Groups) -> bool:
    """Every group has at least one alternative contained in `text` (both sides normalised)."""
    norm = normalise(text)
    return all(any(normalise(alt) in norm for alt in group) for group in groups)


def mentions_any(text: str, groups: Groups) -> bool:
    """Some alternative of some group is contained in `text` (evidence for hit@k and support)."""
    norm = normalise(text)
    return any(normalise(alt) in norm for group in groups for alt in group)


def answer_correct(answer: str, groups: Groups) -> bool:
    """Markers removed, at most 300 characters, every group satisfied (answerable questions)."""
    bare = strip_markers(answer)
    return bool(groups) and bool(bare) and len(bare) <= MAX_ANSWER_CHARS and satisfies(bare, groups)


def passage_relevant(passage: Mapping[str, Any], docs: Iterable[str], groups: Groups) -> bool:
    """A passage from an evidence document whose text mentions an alternative of some group."""
    return passage["doc_id"] in set(docs) and mentions_any(passage["text"], groups)


def first_relevant_rank(
    passages: Sequence[Mapping[str, Any]], docs: Iterable[str], groups: Groups
) -> int | None:
    """1-based rank of the first relevant passage, None when there is none."""
    wanted = set(docs)
    for rank, p in enumerate(passages, 1):
        if passage_relevant(p, wanted, groups):
            return rank
    return None


def hit_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first relevant rank is at most k; None for no questions."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float | None:
    """Mean of 1/rank, a miss counting 0; None for no questions."""
    if not ranks:
        return None
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


def citation_valid(citation: Mapping[str, Any], texts: Mapping[str, str]) -> bool:
    """The quote equals the cited document's text[start:end] (texts: doc_id -> cleaned text)."""
    text = texts.get(citation.get("doc_id", ""))
    start, end = citation.get("start"), citation.get("end")
    if text is None or not isinstance(start, int) or not isinstance(end, int):
        return False
    return 0 <= start <= end <= len(text) and text[start:end] == citation.get("quote")


def citation_supports(
    citations: Sequence[Mapping[str, Any]], docs: Iterable[str], groups: Groups
) -> bool:
    """Some citation is from an evidence document and its quote mentions an alternative."""
    wanted = set(docs)
    return any(
        c.get("doc_id") in wanted and mentions_any(c.get("quote", ""), groups) for c in citations
    )


def share(flags: Sequence[bool]) -> float | None:
    """Mean of booleans; None (not 0) for an empty set, so 'no such questions' stays visible."""
    return sum(flags) / len(flags) if flags else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- SQuAD / CMRC 2018 ---------------------------------------------------------------------------
# The CMRC 2018 script's punctuation list, verbatim; '……' is one entry there and, compared char by
# char, never matches, so a lone '…' survives as it does in the original.
CMRC_PUNCTUATION = frozenset(
    ["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
     "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
     "「", "」", "（", "）", "－", "～", "『", "』"]
)  # fmt: skip
# The CMRC 2018 evaluation script's own range, kept so that EM and F1 match it; not
# rag.script.HAN, which is what the rest of rag counts as Chinese.
_CJK = re.compile(r"[\u4e00-\u9fa5]")
# Stands in for nltk.word_tokenize on the non-Chinese runs: words (with inner ' . - joins) and
# single punctuation marks; whitespace separates and is dropped, as nltk does.
_WORD = re.compile(r"\w+(?:['.]\w+)*|[^\w\s]")


def cmrc_segments(text: str, drop_punctuation: bool = True) -> list[str]:
    """CMRC 2018 `mixed_segmentation`: each Chinese character a segment, English words whole."""
    out: list[str] = []
    run = ""
    for ch in text.lower().strip():
        if drop_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CJK.match(ch) or ch in CMRC_PUNCTUATION:
            out.extend(_WORD.findall(run))
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(_WORD.findall(run))
    return out


def cmrc_strip(text: str) -> str:
    """CMRC 2018 `remove_punctuation`: lower case, trimmed, the listed punctuation removed."""
    return "".join(ch for ch in text.lower().strip() if ch not in CMRC_PUNCTUATION)


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run of segments (CMRC's `find_lcs`)."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def cmrc_f1(golds: Sequence[str], prediction: str) -> float:
    """CMRC F1 (0-1), max over gold answers: precision and recall of the longest common run."""
    pred = cmrc_segments(strip_markers(prediction))
    best = 0.0
    for gold in golds:
        ref = cmrc_segments(gold)
        common = longest_common_run(ref, pred)
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def cmrc_em(golds: Sequence[str], prediction: str) -> bool:
    """Some gold answer equals the prediction after CMRC's punctuation removal."""
    pred = cmrc_strip(strip_markers(prediction))
    return any(cmrc_strip(g) == pred for g in golds)


def contains_span(golds: Sequence[str], answer: str) -> bool:
    """The answer (markers removed, at most 300 characters) contains a gold span, normalised."""
    bare = strip_markers(answer)
    if not bare or len(bare) > MAX_ANSWER_CHARS:
        return False
    norm = normalise(bare)
    return any(normalise(g) and normalise(g) in norm for g in golds)
