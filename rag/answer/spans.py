"""Span kinds: typed pieces of a sentence (dates, counts, money, shares, names) and the best one.

Entry points: `find_spans(text, kind) -> list[SpanCand]`, every span of one `SpanKind` in a
sentence, and `best_span(sent, kinds, query, margin)`, the one that answers a question.

    >>> [s.text for s in find_spans("5月10日，科大讯飞新加坡办公室正式开业。", SpanKind.DATE)]
    ['5月10日']

Each kind has one extractor (`EXTRACTORS`): regular expressions for numbers and dates, jieba's
part-of-speech tags for people, places and organisations, quotes and Latin-script runs for
product names. jieba and the patterns read the sentence folded to Simplified (`rag.script.fold`,
same length), so a span is always the sentence's own characters at the offsets found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

import jieba.posseg as pseg

from rag.answer.question import AnswerType
from rag.lexical import HAN_RUN, tokenize
from rag.retrieve import Query
from rag.script import fold
from rag.store import SentenceRow
from rag.translate import Dictionary


class SpanKind(StrEnum):
    DATE = "date"
    PERCENT = "percent"
    MONEY = "money"
    COUNT = "count"
    PERSON = "person"
    LATIN_PERSON = "latin_person"  # two or more capitalised Latin words
    ORG = "org"
    LATIN = "latin"  # a capitalised Latin-script name
    PLACE = "place"
    QUOTED = "quoted"


# The kinds of span that answer each question type, the first preferred.
TYPE_SPANS: dict[AnswerType, tuple[SpanKind, ...]] = {
    AnswerType.WHEN: (SpanKind.DATE,),
    AnswerType.PERCENTAGE: (SpanKind.PERCENT,),
    AnswerType.HOW_MUCH: (SpanKind.MONEY, SpanKind.COUNT),
    AnswerType.HOW_MANY: (SpanKind.COUNT,),
    AnswerType.WHO: (SpanKind.PERSON, SpanKind.LATIN_PERSON),
    AnswerType.WHICH_COMPANY: (SpanKind.LATIN, SpanKind.ORG),
    AnswerType.WHERE: (SpanKind.PLACE, SpanKind.LATIN),
    AnswerType.WHAT_NAME: (SpanKind.QUOTED, SpanKind.LATIN),
}
# Question types answered by a date or a number.
NUMERIC = (AnswerType.WHEN, AnswerType.HOW_MANY, AnswerType.HOW_MUCH, AnswerType.PERCENTAGE)


@dataclass(frozen=True)
class SpanCand:
    start: int  # offsets within the sentence
    end: int
    text: str


def find_spans(text: str, kind: SpanKind | str) -> list[SpanCand]:
    """The spans of one kind in a sentence, in text order."""
    try:
        extract = EXTRACTORS[SpanKind(kind)]
    except ValueError:
        raise ValueError(
            f"Unknown span kind {kind!r}. Supported kinds are: {[k.value for k in SpanKind]}"
        ) from None
    return extract(text)


def lacks_typed_span(text: str, qtype: AnswerType) -> bool:
    """A date or number question whose text holds no span of the type's first kind (a price is
    not answered by a count of seconds): a near miss, for the confidence."""
    return qtype in NUMERIC and not find_spans(text, TYPE_SPANS[qtype][0])


_NUMERAL = re.compile(r"[0-9一二两三四五六七八九十百千万亿半]")


def has_numeral(text: str) -> bool:
    """Whether the text holds a digit or a Chinese numeral at all: a quantity the patterns do not
    know ("一半以上", "昭和四十九年", a bare year) is still one, a name is not."""
    return _NUMERAL.search(text) is not None


# Measure words that count the same kind of thing (people, companies, products, ...): "多少名
# 员工" is answered by "300人", not by "200余种". 个 counts anything and is in no group.
_COUNTED = (
    ("人", "名", "位", "用户"),
    ("家",),
    ("款", "种", "项", "部"),
    ("台",),
    ("次",),
    ("轮",),
    ("篇", "条"),
)
_COUNT_WORD = "|".join(sorted((w for group in _COUNTED for w in group), key=len, reverse=True))
_ASKED_COUNT = re.compile(f"(?:多少|几)\\s?({_COUNT_WORD})")
_SPAN_COUNT = re.compile(f"({_COUNT_WORD})$")
# Measure words of counted things, the groups' and those of no group: "450万台" or "5个"
# counts units, companies or people.
_UNGROUPED = "个|张|份|件|所|座|辆|艘|架|只|支|头|枚|颗|块|首|集|场"
_THINGS = re.compile(f"(?:{_COUNT_WORD}|{_UNGROUPED})$")


def _counted(word: str) -> int | None:
    return next((i for i, group in enumerate(_COUNTED) if word in group), None)


def counts_other(question: str, text: str) -> bool:
    """Whether a Chinese count question names what it counts ("多少名", "几家", "多少用户") and
    every count in the text counts something else ("200余种" for users): the right kind of
    answer, about the wrong thing."""
    asked = _ASKED_COUNT.search(question)
    if not asked:
        return False
    want = _counted(asked.group(1))
    got = [
        m.group(1) for s in find_spans(text, SpanKind.COUNT) if (m := _SPAN_COUNT.search(s.text))
    ]
    return bool(got) and all(_counted(w) != want for w in got)


def counts_things(text: str) -> bool:
    """Whether the text counts things ("超过450万台", "在全球5个") and holds no sum of money: the
    wrong kind of number for a price, a revenue or an investment."""
    if find_spans(text, SpanKind.MONEY):
        return False
    return any(_THINGS.search(s.text) for s in find_spans(text, SpanKind.COUNT))


# -- patterns: dates and numbers ------------------------------------------------------------------
_HAN_DIGITS = "[一二两三四五六七八九十百千]+"
# Fractions read "three parts of two": 三分之二 is two thirds, one quantity.
_NUM = rf"(?:\d[\d,]*(?:\.\d+)?|{_HAN_DIGITS}分之{_HAN_DIGITS}|{_HAN_DIGITS})"
_SCALE = r"(?:\s?(?:多|余)?\s?(?:万亿|千亿|百亿|亿|万|千|百)(?:多|余)?)?"
# Approximations belong to the quantity: "超过3700万", not "3700万".
_QUALIFIER = r"(?:超过|大约|将近|接近|多达|高达|至少|不到|不足|约为|逾|近|约|共|仅)?"
# Measure words and units, longer before their prefixes (平方公里 before 公里 before 米).
_MEASURE = (
    r"(?:家|个|款|轮|台|人|次|名|位|倍|种|项|部|条|篇|张|份|年|月|天|小时|分钟|秒|周|"
    r"股|层|期|届|代|号|岁|元|美元|日元|欧元|港元|人民币|英镑|美分|用户|参数|B|"
    r"件|具|所|座|辆|艘|架|只|支|头|匹|棵|株|枚|颗|块|首|集|场|季|级|章|卷|版|票|"
    r"平方公里|平方英里|平方米|公里|千米|英里|厘米|毫米|米|码|英尺|英寸|"
    r"吨|公斤|千克|克|磅|公顷|英亩|亩|摄氏度|度|℃|°[CFKNSEW]?|赫兹|千瓦|瓦|伏|转/分钟|转)"
)
_PATTERNS: dict[SpanKind, re.Pattern[str]] = {
    SpanKind.DATE: re.compile(
        r"(?:在|从)?(?:1\d|20)\d{2}\s?年?\s?(?:到|至|-|–)\s?(?:1\d|20)\d{2}\s?年(?:间)?|"
        r"\d{1,2}\s?世纪\s?\d0\s?年代|"
        r"(?:1\d|20)\d{2}\s?年\s?(?:春|夏|秋|冬)(?:天|季)?|"
        r"(?:(?:1\d|20)\d{2}\s?年\s?)?\d{1,2}\s?月\s?\d{1,2}\s?日|"
        r"(?:1\d|20)\d{2}\s?年\s?\d{1,2}\s?月(?:初|底|中旬|上旬|下旬)?|"
        r"(?:去年|今年|明年|同年)\s?\d{1,2}\s?月(?:初|底)?|"
        r"(?:1\d|20)\d{2}\s?年(?:代|初|末|底|年中|上半年|下半年|起|以来)?|"
        r"\d{1,2}\s?世纪(?:初|末|中叶)?|"
        r"\d{1,2}\s?月(?:初|底|中旬|上旬|下旬)|(?:1\d|20)\d{2}-\d{2}-\d{2}|"
        # a bare year after 在/于/从/到 ("在 1835 开放"), and geological time ("6600万年前")
        rf"(?<=[在于自从至到])\s?(?:1\d|20)\d{{2}}(?!\s?(?:[\d.,%％年]|{_MEASURE}))|"
        r"(?:约|大约)?\d+(?:\.\d+)?\s?(?:万|亿)\s?年前?|"
        r"\d{1,2}\s?月份?"  # a month alone ("将于 3月 推出"), after the longer forms
    ),
    SpanKind.PERCENT: re.compile(
        rf"{_QUALIFIER}(?:(?:\d+(?:\.\d+)?\s?[%％]?\s?[-–~至到]\s?)?\d+(?:\.\d+)?\s?[%％]|"
        r"百分之[\d一二三四五六七八九十百点]+)"
    ),
    SpanKind.MONEY: re.compile(
        rf"{_QUALIFIER}{_NUM}{_SCALE}\s?(?:美元|元|日元|欧元|港元|人民币|英镑)"
        r"(?:\s?/\s?(?:月|年))?"
    ),
    SpanKind.COUNT: re.compile(
        rf"{_QUALIFIER}(?:\d+\s?(?:小时|分钟?)\s?\d+\s?(?:分钟|秒)|"
        rf"(?:排名|第)?{_NUM}{_SCALE}\s?(?:多|余)?\s?{_MEASURE}?)"
    ),
}


def _pattern_spans(text: str, kind: SpanKind) -> list[SpanCand]:
    dates = (
        [(m.start(), m.end()) for m in _PATTERNS[SpanKind.DATE].finditer(text)]
        if kind == SpanKind.COUNT
        else []
    )
    spans = []
    # The patterns are written in Simplified (个, 亿, 万): they read the folded text, and the
    # span is the text's own characters at the same offsets.
    for m in _PATTERNS[kind].finditer(fold(text)):
        s = text[m.start() : m.end()].strip()
        if not s or not any(c.isdigit() or c in "一二两三四五六七八九十百千" for c in fold(s)):
            continue
        start = m.start() + text[m.start() : m.end()].index(s)
        end = start + len(s)
        if any(a < end and start < b for a, b in dates):
            continue  # part of a date: "6月" is a month, not a count
        if kind == SpanKind.COUNT and not re.search(r"\d", s) and len(s) < 2:
            continue  # a lone "一" is a word, not a quantity
        if kind == SpanKind.COUNT and text[end : end + 1] in ("%", "％"):
            continue  # "126%" is a percentage, not a count of 126
        if kind == SpanKind.COUNT and s.endswith("月"):
            continue  # "6 月份", "两月": months name a time, and "when" handles those
        spans.append(SpanCand(start, end, s))
    return spans


# -- names -------------------------------------------------------------------------------------
_QUOTED = re.compile(r"[“「『《\"]([^”」』》\"]{1,40})[”」』》\"]")
# Latin letters with their accents (Bogusławski, Île-de-France), not only ASCII.
_LETTER = "A-Za-zÀ-ÖØ-öø-ɏ"
_UPPER = "A-ZÀ-ÖØ-Þ"
_LATIN_NAME = re.compile(
    rf"[{_UPPER}][{_LETTER}0-9.+#-]*(?:\s+[{_LETTER}0-9][{_LETTER}0-9.+#-]*){{0,3}}"
)
_DOTS = "·•・"
_REGNAL = re.compile(r"[一二三四五六七八九十]+世")
# A name's original spelling after it: "卓戈 (Drogo)", "左拉（Émile Zola）".
ORIGINAL = re.compile(rf" ?[(（][{_UPPER}][{_LETTER}.'\- ]{{1,40}}[)）]")


def tagged(text: str) -> list[tuple[int, int, str, str]]:
    """jieba's words of the text with their offsets and part-of-speech tags. jieba reads the
    text folded to Simplified (`rag.script.fold`, same length), so Traditional sentences are cut
    and tagged as well; the words are the text's own."""
    words, pos = [], 0
    for word, flag in pseg.lcut(fold(text)):
        words.append((pos, pos + len(word), text[pos : pos + len(word)], flag))
        pos += len(word)
    return words


def place_spans(text: str) -> list[SpanCand]:
    """Place names by jieba's `ns` tag, with the noun that makes a place of them ("纽约" +
    "酒店", "伦敦" + "世博会")."""
    words = tagged(text)
    spans = []
    for i, (start, end, word, flag) in enumerate(words):
        if not flag.startswith("ns") or len(word.strip()) < 2:
            continue
        if i + 1 < len(words) and words[i + 1][3] in ("n", "nz") and len(words[i + 1][2]) <= 4:
            end = words[i + 1][1]
        spans.append(SpanCand(start, end, text[start:end]))
    return spans


def _pos_spans(text: str, tags: tuple[str, ...]) -> list[SpanCand]:
    return [
        SpanCand(start, end, word)
        for start, end, word, flag in tagged(text)
        if any(flag.startswith(t) for t in tags) and len(word.strip()) >= 2
    ]


def _latin(text: str, min_words: int = 1) -> list[SpanCand]:
    spans = []
    for m in _LATIN_NAME.finditer(text):
        words = m.group(0).split()
        if len(words) < min_words or m.group(0).upper() == m.group(0) and len(m.group(0)) <= 4:
            continue  # acronyms like "AI", "CEO", "ToC"-sized tokens are rarely the answer
        if words[0].upper() in ("AI", "CEO", "CTO", "APP"):
            continue
        spans.append(SpanCand(m.start(), m.end(), m.group(0)))
    return spans


def _person_spans(text: str) -> list[SpanCand]:
    """Person names by jieba's `nr` tag. A transliterated name is written with a middle dot
    ("科尼·伊利") and jieba cuts it into parts: a name takes in the words dots join to it."""
    words = tagged(text)

    def han(k: int) -> bool:
        return 0 <= k < len(words) and bool(HAN_RUN.fullmatch(words[k][2]))

    def dot(k: int) -> bool:
        return 0 <= k < len(words) and words[k][2] in _DOTS

    def part(k: int) -> bool:  # a piece of a name: name-tagged, or a name morpheme
        return han(k) and (words[k][3].startswith("nr") or words[k][3] == "ng")

    spans: dict[tuple[int, int], SpanCand] = {}
    for i, (_, _, _, flag) in enumerate(words):
        if not flag.startswith("nr"):
            continue
        # jieba cuts names into pieces ("麦特" + "琳", "藤野逸" + "郎"): a name runs over the
        # adjacent name pieces and the words middle dots join to it.
        j = i
        while (dot(j + 1) and han(j + 2)) or part(j + 1):
            j += 2 if dot(j + 1) else 1
        k = i
        while (dot(k - 1) and han(k - 2)) or part(k - 1):
            k -= 2 if dot(k - 1) else 1
        if _REGNAL.fullmatch(words[k][2]) and han(k - 1) and words[k - 1][3].startswith("n"):
            k -= 1  # "腓特烈" + "二世": jieba may tag the name before the numeral as a place
        if han(j + 1) and ORIGINAL.match(text, words[j + 1][1]):
            j += 1  # "奥" + "赛尔 (Oursel)": the original spelling marks where the name ends
        start, end = words[k][0], words[j][1]
        gloss = ORIGINAL.match(text, end)
        if gloss:
            end = gloss.end()  # the name as the original writes it: "卓戈 (Drogo)"
        if end - start >= 2:
            spans[(start, end)] = SpanCand(start, end, text[start:end])
    return list(spans.values())


def _quoted(text: str) -> list[SpanCand]:
    return [SpanCand(m.start(1), m.end(1), m.group(1)) for m in _QUOTED.finditer(text)]


EXTRACTORS: dict[SpanKind, Callable[[str], list[SpanCand]]] = {
    **{kind: partial(_pattern_spans, kind=kind) for kind in _PATTERNS},
    SpanKind.PERSON: _person_spans,
    SpanKind.LATIN_PERSON: partial(_latin, min_words=2),
    SpanKind.ORG: partial(_pos_spans, tags=("nt", "nz", "nrt")),
    SpanKind.LATIN: _latin,
    SpanKind.PLACE: place_spans,
    SpanKind.QUOTED: _quoted,
}


# -- the span that answers -------------------------------------------------------------------------
# A number of the question's own: not the digits of a name ("R1", "GPT-4", "MWC2024").
_QNUM = re.compile(r"(?<![A-Za-z\d-])\d[\d,]*(?:\.\d+)?")
_YEAR = re.compile(r"^(?:19|20)\d{2}\s?年?$")
_COUNTER = re.compile(r"[个家项条种位名支座所件只头批类部]$")


def _unit_of(question: str) -> str | None:
    """The measure word a Chinese question asks for ("多少家" -> "家"), if any."""
    m = re.search(r"(?:多少|几)\s?([家个款轮台人次名位倍种项部条元美元亿万])", question)
    return m.group(1) if m else None


def term_hits(text: str, query: Query) -> list[int]:
    """Where the question's words (of two characters or more) occur in the text."""
    low = text.lower()
    return [m.start() for t in query.terms if len(t) > 1 for m in re.finditer(re.escape(t), low)]


def gap(start: int, end: int, hits: list[int], default: int) -> float:
    """Characters between the span and the nearest hit (0 when a hit is inside it)."""
    return float(min((max(start - h, h - end, 0) for h in hits), default=default))


def named_by(item: str, query: Query) -> bool:
    """The question itself names this item, so it is not an answer to it. A name with its
    original spelling after it is named by either: "谁是梅尔菲伯爵?" and "Who was Count of
    Melfi?" both name 梅尔菲 (Melfi)."""
    original = ORIGINAL.search(item)
    if original:
        name, spelt = item[: original.start()], original.group().strip(" (（)）")
        return named_by(spelt, query) or bool(name) and named_by(name, query)
    tokens = set(tokenize(item))
    return item.lower() in query.text.lower() or bool(tokens) and tokens <= query.terms.keys()


def digit_numbers(text: str) -> set[str]:
    """The numbers written in digits in `text`, separators dropped ("1,500" is 1500); digits
    inside a name ("GPT-4", "R1") are no number."""
    return {n.replace(",", "") for n in _QNUM.findall(text)}


def echoes(span: str, stated: set[str]) -> bool:
    """Whether every number of a span is one the question states (`digit_numbers` of it): the
    question gave that number, it does not ask for it."""
    nums = digit_numbers(span)
    return bool(nums) and nums <= stated


def best_span(
    sent: SentenceRow,
    kinds: tuple[SpanKind, ...],
    query: Query,
    margin: float,
    dictionary: Dictionary | None = None,
) -> SpanCand | None:
    """The typed span nearest to the question's words in the sentence, not itself asked about;
    None when another span fits about as well (within `margin` of the cost). With a dictionary,
    a "person" made of common words only is no person."""
    text, question = sent.text, query.text
    hits = term_hits(text, query)
    qnums = digit_numbers(question)
    unit = _unit_of(question)
    scored: list[tuple[float, SpanCand, SpanKind]] = []
    for kind_rank, kind in enumerate(kinds):
        for span in find_spans(text, kind):
            if named_by(span.text, query):
                continue  # the question already says it; it is not the answer
            if kind == SpanKind.PERSON and dictionary and dictionary.is_common(span.text):
                continue  # jieba tags some common words as names (许可证, 卫冕冠军)
            if echoes(span.text, qnums):
                continue
            cost = float(min((abs(h - span.start) for h in hits), default=len(text)))
            cost += 40 * kind_rank
            if kind == SpanKind.COUNT:
                if _YEAR.match(span.text):
                    cost += 60  # "how many" is rarely answered by a year
                if unit and not span.text.endswith(unit):
                    cost += 30
                if not re.search(r"[^\d.,\s]", span.text):
                    cost += 10  # a bare number is a weaker answer than one with its unit
                if span.text.startswith("第") and not re.search(r"第几|排第|rank|place", question):
                    cost += 30  # an ordinal ("第一批") names an order, not a quantity
            scored.append((cost, span, kind))
    scored.sort(key=lambda cs: cs[0])
    if not scored:
        return None
    if len(scored) > 1 and scored[1][0] - scored[0][0] < margin and scored[1][1] != scored[0][1]:
        return None  # two spans fit about as well: the sentence answers more honestly
    _, best, kind = scored[0]
    return _with_noun(text, best) if kind == SpanKind.COUNT else best


def _with_noun(text: str, span: SpanCand) -> SpanCand:
    """The count with the noun it counts right after it: 三个 + 中心, 140个 + 市场, 三分之二 +
    的人口. "Three centres" answers a question better than "three", and gold answers say so
    (XQuAD dev, right answer with abstention off: zh 498 -> 500, en 440 -> 442 of 632)."""
    after = [w for w in tagged(text[span.end :]) if w[2].strip()]
    if not after or text[span.end : span.end + after[0][0]].strip():
        return span

    def noun(w: tuple[int, int, str, str]) -> bool:
        return w[3].startswith("n") and len(w[2]) <= 4

    if _COUNTER.search(span.text) and noun(after[0]):
        end = after[0][1]
    elif after[0][2] == "的" and len(after) > 1 and noun(after[1]):
        end = after[1][1]
    else:
        return span
    return SpanCand(span.start, span.end + end, text[span.start : span.end + end])
