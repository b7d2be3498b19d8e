"""Answer: a short extractive answer with citations, or an honest abstention.

Entry point: `extract_answer(query, passages, index, settings, dictionary=None) -> AnswerResult`.

    >>> result = extract_answer(query, passages, index, AnswerSettings())
    >>> result.answer, result.citations[0]["quote"]
    ('5月10日 [1]', '5月10日，科大讯飞新加坡办公室正式开业。')

No reader model exists offline, so the answer is built from evidence we can compute:
1. The question's expected answer type (`detect_type`, English and Chinese cue words).
2. Candidate sentences from the top passages, scored by dense similarity (sentence vectors made at
   index time), idf-weighted overlap with the question's words (and Chinese character pairs) and
   their translations, the question's words the previous sentence adds, for English questions
   (with a dictionary) the CC-CEDICT glosses of the sentence's words, and the passage's
   retrieval score.
3. Where a type is known, the span of that type nearest to the question's words in the best
   sentence (dates, numbers with units and the noun they count, money, percentages, people,
   organisations, places, quoted or Latin-script names; with a dictionary, a "person" made of
   common words is none);
   list questions collect the best sentences across documents; otherwise the best sentence.
4. A confidence in [0, 1] from those features; below `abstain_below` the service abstains.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum

import jieba.posseg as pseg
import numpy as np

from rag.lexical import STOPWORDS, han_bigrams, tokenize
from rag.retrieve import Query
from rag.script import fold
from rag.store import SentenceRow
from rag.store import Store as Index
from rag.translate import Dictionary
from rag.types import Citation, Evidence, Passage, RankedPassage


class AnswerType(StrEnum):
    WHEN = "when"
    HOW_MANY = "how_many"
    HOW_MUCH = "how_much"
    PERCENTAGE = "percentage"
    WHO = "who"
    WHICH_COMPANY = "which_company"
    WHERE = "where"
    WHAT_NAME = "what_name"
    YES_NO = "yes_no"
    LIST = "list"
    OTHER = "other"


# Cue patterns, checked in this order (the first that matches decides). Percentage and money come
# before "how many/much" because they are the narrower readings of the same words.
_CUES: list[tuple[AnswerType, re.Pattern[str]]] = [
    (
        AnswerType.PERCENTAGE,
        re.compile(
            r"percent|percentage|what share|what proportion|by how much did|"
            r"how much did .{0,60}\b(?:grow|increase|rise|fall|drop|decline|shrink)|"
            r"比例|百分之|占比|百分比|几成|同比|(?:提升|增长|增加|减少|下降|提高|上涨|涨|跌)了?多少"
        ),
    ),
    (
        AnswerType.LIST,
        re.compile(
            r"\bwhich (?:two|three|four|five|several) |"
            r"\bwhich (?:[\w-]+ ){0,2}(?:companies|countries|clouds|providers|firms|vendors|apps|"
            r"products|models|markets|regions|cities|giants|makers|areas|fields|scenarios|"
            r"architectures|regulations|laws)\b|\bwhat (?:\w+ )?(?:are|were) the\b|"
            r"\bwhat (?:three|two|four|five) \w+|\bwhat architectures\b|\bname (?:the|all)\b|"
            r"\blist\b|哪些|哪几|分为哪|两大|三大|哪两|哪三"
        ),
    ),
    (
        AnswerType.WHICH_COMPANY,
        re.compile(
            r"which (?:\w+[ -])?(?:company|firm|start-?up|vendor|provider|brand|maker)\b|"
            r"what company|(?:company|firm) is behind|哪家|哪个公司|哪一家|什么公司"
        ),
    ),
    (
        AnswerType.WHO,
        re.compile(
            r"\bwho\b|\bwhom\b|whose|which person|which (?:\w+ ){0,4}(?:director|reporter|"
            r"executive|ceo|cto|founder|author|editor|analyst|engineer|president|partner)\b|"
            r"谁|哪位|(?:总裁|总经理|创始人|主任|编辑|记者|作者|董事|负责人|经理|教授|工程师|CEO|CTO)"
            r"(?:\w{0,4})(?:叫什么|是哪)"
        ),
    ),
    (
        AnswerType.WHEN,
        re.compile(
            r"\bwhen\b|what (?:date|day|year|month|time)|which (?:date|day|year|month)|"
            r"in what year|on what date|什么时候|哪一?天|何时|哪一?年|几月|什么时间|哪个月|日期"
        ),
    ),
    (
        AnswerType.WHERE,
        re.compile(
            r"\bwhere\b|which (?:city|country|region|market|trade show|show|event)|"
            r"哪里|哪儿|哪个(?:城市|国家|地区|市场)|哪座|在哪"
        ),
    ),
    (
        AnswerType.WHAT_NAME,
        re.compile(
            r"what (?:is|was) (?:the )?name|called|what (?:is|was) the (?:[\w-]+ ){0,3}(?:model|"
            r"product|app|platform|service|project|report)\b|"
            r"what (?:\w+ )?(?:model|product|app|platform|"
            r"service|project|report)\b|which (?:\w+ )?(?:model|product|app|platform|service|"
            r"version|project|report)\b|叫什么|名叫|名称|型号|什么项目|哪个(?:模型|产品|平台|应用|版本)|"
            r"哪一个|哪款|是哪个"
        ),
    ),
    (
        AnswerType.HOW_MUCH,
        re.compile(
            r"how much (?:money|did|does|is|was|will|do)|what (?:valuation|price|amount)|"
            r"how much .*(?:invest|cost|worth|valu|raise|fund|spend|pay|charge|revenue|loss)|"
            r"(?:'s|the) valuation\b|"
            r"what (?:is|was|were|are) .{0,50}\b(?:revenue|price|cost|profit|loss|sales|income)\b|"
            r"多少钱|金额|估值|订阅费|费用|花费|多少资金|融资(?:额|了多少)|亏损|投资多少|支出"
        ),
    ),
    (
        AnswerType.HOW_MANY,
        re.compile(
            r"how many|number of|how much|how old|"
            r"多少|多大|几[个家款轮台人次名位倍种项部]|几|排第"
        ),
    ),
    (
        AnswerType.YES_NO,
        re.compile(
            r"(?:^|, )(?:is|are|can|does|do|did|will|has|have|could|was|were) |是否|能否|吗[？?]?$"
        ),
    ),
]


def detect_type(question: str) -> AnswerType:
    """The answer type a question expects, from English and Chinese cue words."""
    q = question.strip().lower()
    # The word that opens an English question decides: in "how old was he when he played?" the
    # "when" clause only says which time the age is about.
    q = re.sub(r"^((?:how|what|which|who|whom|whose|where)\b.*?)\s+when\s.*$", r"\1", q)
    for kind, pattern in _CUES:
        if pattern.search(q):
            return kind
    return AnswerType.OTHER


# -- typed spans ----------------------------------------------------------------------------------
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
_SPAN_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
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
    "percent": re.compile(
        rf"{_QUALIFIER}(?:(?:\d+(?:\.\d+)?\s?[%％]?\s?[-–~至到]\s?)?\d+(?:\.\d+)?\s?[%％]|"
        r"百分之[\d一二三四五六七八九十百点]+)"
    ),
    "money": re.compile(
        rf"{_QUALIFIER}{_NUM}{_SCALE}\s?(?:美元|元|日元|欧元|港元|人民币|英镑)"
        r"(?:\s?/\s?(?:月|年))?"
    ),
    "count": re.compile(
        rf"{_QUALIFIER}(?:\d+\s?(?:小时|分钟?)\s?\d+\s?(?:分钟|秒)|"
        rf"(?:排名|第)?{_NUM}{_SCALE}\s?(?:多|余)?\s?{_MEASURE}?)"
    ),
}
_QUOTED = re.compile(r"[“「『《\"]([^”」』》\"]{1,40})[”」』》\"]")
# Latin letters with their accents (Bogusławski, Île-de-France), not only ASCII.
_LETTER = "A-Za-zÀ-ÖØ-öø-ɏ"
_UPPER = "A-ZÀ-ÖØ-Þ"
_LATIN_NAME = re.compile(
    rf"[{_UPPER}][{_LETTER}0-9.+#-]*(?:\s+[{_LETTER}0-9][{_LETTER}0-9.+#-]*){{0,3}}"
)

_TYPE_SPANS: dict[AnswerType, tuple[str, ...]] = {
    AnswerType.WHEN: ("date",),
    AnswerType.PERCENTAGE: ("percent",),
    AnswerType.HOW_MUCH: ("money", "count"),
    AnswerType.HOW_MANY: ("count",),
    AnswerType.WHO: ("person", "latin_person"),
    AnswerType.WHICH_COMPANY: ("latin", "org"),
    AnswerType.WHERE: ("place", "latin"),
    AnswerType.WHAT_NAME: ("quoted", "latin"),
}


@dataclass(frozen=True)
class SpanCand:
    start: int  # offsets within the sentence
    end: int
    text: str


def _tagged(text: str) -> list[tuple[int, int, str, str]]:
    """jieba's words of the text with their offsets and part-of-speech tags. jieba reads the
    text folded to Simplified (`rag.script.fold`, same length), so Traditional sentences are cut
    and tagged as well; the words are the text's own."""
    words, pos = [], 0
    for word, flag in pseg.lcut(fold(text)):
        words.append((pos, pos + len(word), text[pos : pos + len(word)], flag))
        pos += len(word)
    return words


def _place_spans(text: str) -> list[SpanCand]:
    """Place names by jieba's `ns` tag, with the noun that makes a place of them ("纽约" +
    "酒店", "伦敦" + "世博会")."""
    words = _tagged(text)
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
        for start, end, word, flag in _tagged(text)
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


_DOTS = "·•・"
_REGNAL = re.compile(r"[一二三四五六七八九十]+世")
_ORIGINAL = re.compile(rf" ?[(（][{_UPPER}][{_LETTER}.'\- ]{{1,40}}[)）]")


def _person_spans(text: str) -> list[SpanCand]:
    """Person names by jieba's `nr` tag. A transliterated name is written with a middle dot
    ("科尼·伊利") and jieba cuts it into parts: a name takes in the words dots join to it."""
    words = _tagged(text)

    def han(k: int) -> bool:
        return 0 <= k < len(words) and bool(re.fullmatch(r"[\u4e00-\u9fff]+", words[k][2]))

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
        if han(j + 1) and _ORIGINAL.match(text, words[j + 1][1]):
            j += 1  # "奥" + "赛尔 (Oursel)": the original spelling marks where the name ends
        start, end = words[k][0], words[j][1]
        gloss = _ORIGINAL.match(text, end)
        if gloss:
            end = gloss.end()  # the name as the original writes it: "卓戈 (Drogo)"
        if end - start >= 2:
            spans[(start, end)] = SpanCand(start, end, text[start:end])
    return list(spans.values())


# Word classes that end an enumeration item: verbs (not verbal nouns), prepositions, conjunctions,
# adverbs, particles, pronouns, localisers, numerals, measure words, times, idioms.
_ITEM_STOP = ("v", "p", "c", "d", "u", "r", "f", "m", "q", "t", "y", "e", "o", "i", "l", "z")
_ITEM_JOIN = {"和", "及", "与", "以及", "或"}
_ITEM_MAX_CHARS = 16
_NAME_TAGS = ("nr", "ns", "nt", "nz", "eng")


def enumerations(text: str) -> list[list[SpanCand]]:
    """Runs of two or more items written as an enumeration ("字节跳动、腾讯、百度和阿里巴巴"):
    items separated by "、", the last one possibly joined by 和/及/与. An item is the words next to
    a separator up to a verb, particle, punctuation or similar boundary (jieba's POS tags)."""
    words = _tagged(text)

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
        return flag in ("vn", "eng") or not flag.startswith(_ITEM_STOP)

    def item(first: int, step: int) -> tuple[int, int] | None:
        k, chars = first, 0
        while nominal(k) and chars + len(words[k][2]) <= _ITEM_MAX_CHARS:
            chars += len(words[k][2])
            k += step
        if k == first:
            return None
        lo, hi = sorted((first, k - step))
        return lo, hi

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
        if len(bounds) >= 3 or (len(bounds) == 2 and (words[bounds[0][1] + 1][2] == "、" or named)):
            runs.append(
                [
                    SpanCand(words[a][0], words[b][1], text[words[a][0] : words[b][1]])
                    for a, b in bounds
                ]
            )
        k += 1
    return runs


def find_spans(text: str, kind: str) -> list[SpanCand]:
    """Spans of one kind in a sentence (regular expressions for numbers and dates, jieba's
    part-of-speech tags for names, quotes and Latin-script runs for product names)."""
    if kind in _SPAN_PATTERNS:
        dates = (
            [(m.start(), m.end()) for m in _SPAN_PATTERNS["date"].finditer(text)]
            if kind == "count"
            else []
        )
        spans = []
        # The patterns are written in Simplified (个, 亿, 万): they read the folded text, and the
        # span is the text's own characters at the same offsets.
        for m in _SPAN_PATTERNS[kind].finditer(fold(text)):
            s = text[m.start() : m.end()].strip()
            if not s or not any(c.isdigit() or c in "一二两三四五六七八九十百千" for c in fold(s)):
                continue
            start = m.start() + text[m.start() : m.end()].index(s)
            end = start + len(s)
            if any(a < end and start < b for a, b in dates):
                continue  # part of a date: "6月" is a month, not a count
            if kind == "count" and not re.search(r"\d", s) and len(s) < 2:
                continue  # a lone "一" is a word, not a quantity
            if kind == "count" and text[end : end + 1] in ("%", "％"):
                continue  # "126%" is a percentage, not a count of 126
            if kind == "count" and s.endswith("月"):
                continue  # "6 月份", "两月": months name a time, and "when" handles those
            spans.append(SpanCand(start, end, s))
        return spans
    if kind == "person":
        return _person_spans(text)
    if kind == "latin_person":
        return _latin(text, min_words=2)
    if kind == "org":
        return _pos_spans(text, ("nt", "nz", "nrt"))
    if kind == "latin":
        return _latin(text)
    if kind == "place":
        return _place_spans(text)
    if kind == "quoted":
        return [SpanCand(m.start(1), m.end(1), m.group(1)) for m in _QUOTED.finditer(text)]
    return []


# -- scoring --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerSettings:
    read_k: int = 5  # passages whose sentences are read (3, 5, 8, 12 tried on dev)
    # Abstain below this confidence. The confidence is a logistic model of the `Evidence`, per
    # question language, fitted by eval/fit_confidence.py on the seeds' dev split (unanswerable
    # against answerable) with XQuAD's first 24 articles as more answerable questions; 0.5 sits
    # at the fit's cut with the most dev abstention recall at false abstention <= 0.02. Weights:
    # (best sentence cosine, log(1 + top passage BM25), wants a date or number the best sentence
    # lacks, bias). Near misses ("when will the New Zealand data centre open?") find a sentence
    # nearly as similar as real answers do, so the cosine weighs less than the other two.
    abstain_below: float = 0.5
    confidence_zh: tuple[float, float, float, float] = (3.538, 2.766, -4.687, -7.118)
    confidence_en: tuple[float, float, float, float] = (5.318, 2.602, -4.202, -5.508)
    # Sentence score weights, from a grid on the dev splits (seeds dev, XQuAD's first 24
    # articles): whole-word overlap and character-pair overlap, each in [0, 1], weigh a quarter of
    # a cosine each, the passage's (min-max scaled) retrieval score a tenth. Against word overlap
    # alone at 0.75, character pairs lifted the held-out splits (seeds test accuracy 0.727 ->
    # 0.739, XQuAD zh articles 25-48 right sentence 0.753 -> 0.771). "Holds a span of the
    # expected type" (0.02 to 0.6 tried) gained nothing or cost accuracy, so it stays out.
    w_dense: float = 1.0
    w_lexical: float = 0.25
    w_bigram: float = 0.25
    w_passage: float = 0.1
    # The question's words that the previous sentence holds and this one lacks: an answer often
    # continues the sentence that names its subject ("Tesla founded a company. It installed arc
    # lamps..."). 0.2 on the dev splits (0.1 to 0.6 tried); held out, XQuAD zh articles 25-48
    # right answer 0.701 -> 0.728, English and the seeds unchanged.
    w_context: float = 0.2
    # English questions: the idf-weighted share of their words that the CC-CEDICT glosses of the
    # sentence's words use (all senses: "install" meets 安装 and 装设). 0.1 on XQuAD's dev
    # articles (0.1 to 0.5 tried); held out, right sentence 0.658 -> 0.704.
    w_gloss: float = 0.1
    list_max: int = 3  # sentences a list answer collects
    list_gap: float = 0.08  # how far below the best a list sentence may score
    span_margin: float = 15.0  # characters of distance that make one span clearly the nearest
    max_answer_chars: int = 300


def confidence_of(evidence: Evidence, weights: tuple[float, float, float, float]) -> float:
    z = weights[0] * evidence.dense + weights[1] * evidence.lexical + weights[2] * evidence.untyped
    return float(1.0 / (1.0 + math.exp(-(z + weights[3]))))


@dataclass
class AnswerResult:
    answer: str
    abstained: bool
    confidence: float
    answer_type: str
    citations: list[Citation] = field(default_factory=list)
    evidence: Evidence | None = None
    # The passages given, best first by the evidence the answer read.
    ranking: list[RankedPassage] = field(default_factory=list)


@dataclass
class _Cand:
    sent: SentenceRow
    passage_rank: int
    passage_score: float
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0


def _idf(n_docs: int, df: dict[str, int], tok: str) -> float:
    return math.log(1 + (n_docs - df.get(tok, 0) + 0.5) / (df.get(tok, 0) + 0.5))


def _idf_weights(
    query: dict[str, float], bags: Sequence[AbstractSet[str]]
) -> tuple[dict[str, float], dict[str, int]]:
    """Each query item's weight times its idf among the bags (the read sentences' words, pairs
    or glosses), and the document frequencies of the items found."""
    df: dict[str, int] = {}
    for bag in bags:
        for t in bag & query.keys():
            df[t] = df.get(t, 0) + 1
    return {t: w * _idf(len(bags), df, t) for t, w in query.items()}, df


def _share(weights: dict[str, float], bag: AbstractSet[str]) -> float:
    """The weighted share of the items that `bag` holds."""
    return sum(w for t, w in weights.items() if t in bag) / (sum(weights.values()) or 1.0)


def citation(n: int, index: Index, doc_id: str, start: int, end: int) -> Citation:
    """Citation `n`: the document's characters [start, end) as its quote, with its metadata."""
    doc = index.documents[doc_id]
    return Citation(
        n, doc.doc_id, doc.title, doc.url, doc.published, doc.text[start:end], start, end
    )


def _citation(n: int, index: Index, sent: SentenceRow) -> Citation:
    return citation(n, index, sent.doc_id, sent.start, sent.end)


def _candidates(passages: list[Passage], index: Index) -> list[_Cand]:
    seen: set[int] = set()
    cands: list[_Cand] = []
    for rank, p in enumerate(passages):
        for s in index.chunk_sentences(p.row):
            if s.row not in seen:
                seen.add(s.row)
                cands.append(_Cand(s, rank, p.score))
    return cands


# A number of the question's own: not the digits of a name ("R1", "GPT-4", "MWC2024").
_QNUM = re.compile(r"(?<![A-Za-z\d-])\d[\d,]*(?:\.\d+)?")
_YEAR = re.compile(r"^(?:19|20)\d{2}\s?年?$")


def _unit_of(question: str) -> str | None:
    """The measure word a Chinese question asks for ("多少家" -> "家"), if any."""
    m = re.search(r"(?:多少|几)\s?([家个款轮台人次名位倍种项部条元美元亿万])", question)
    return m.group(1) if m else None


def _term_hits(text: str, query: Query) -> list[int]:
    """Where the question's words (of two characters or more) occur in the text."""
    low = text.lower()
    return [m.start() for t in query.terms if len(t) > 1 for m in re.finditer(re.escape(t), low)]


def _gap(start: int, end: int, hits: list[int], default: int) -> float:
    """Characters between the span and the nearest hit (0 when a hit is inside it)."""
    return float(min((max(start - h, h - end, 0) for h in hits), default=default))


def _named_by(item: str, query: Query) -> bool:
    """The question itself names this item, so it is not an answer to it. A name with its
    original spelling after it is named by either: "谁是梅尔菲伯爵?" and "Who was Count of
    Melfi?" both name 梅尔菲 (Melfi)."""
    original = _ORIGINAL.search(item)
    if original:
        name, spelt = item[: original.start()], original.group().strip(" (（)）")
        return _named_by(spelt, query) or bool(name) and _named_by(name, query)
    tokens = set(tokenize(item))
    return item.lower() in query.text.lower() or bool(tokens) and tokens <= query.terms.keys()


def _best_span(
    sent: SentenceRow,
    kinds: tuple[str, ...],
    query: Query,
    margin: float,
    dictionary: Dictionary | None = None,
) -> SpanCand | None:
    """The typed span nearest to the question's words in the sentence, not itself asked about;
    None when another span fits about as well (within `margin` of the cost). With a dictionary,
    a "person" made of common words only is no person."""
    text, question = sent.text, query.text
    hits = _term_hits(text, query)
    qnums = {n.replace(",", "") for n in _QNUM.findall(question)}
    unit = _unit_of(question)
    scored: list[tuple[float, SpanCand, str]] = []
    for kind_rank, kind in enumerate(kinds):
        for span in find_spans(text, kind):
            if _named_by(span.text, query):
                continue  # the question already says it; it is not the answer
            if kind == "person" and dictionary and dictionary.is_common(span.text):
                continue  # jieba tags some common words as names (许可证, 卫冕冠军)
            nums = {n.replace(",", "") for n in _QNUM.findall(span.text)}
            if nums and nums <= qnums:
                continue
            cost = float(min((abs(h - span.start) for h in hits), default=len(text)))
            cost += 40 * kind_rank
            if kind == "count":
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
    return _with_noun(text, best) if kind == "count" else best


_COUNTER = re.compile(r"[个家项条种位名支座所件只头批类部]$")


def _with_noun(text: str, span: SpanCand) -> SpanCand:
    """The count with the noun it counts right after it: 三个 + 中心, 140个 + 市场, 三分之二 +
    的人口. "Three centres" answers a question better than "three", and gold answers say so
    (XQuAD dev, right answer with abstention off: zh 498 -> 500, en 440 -> 442 of 632)."""
    after = [w for w in _tagged(text[span.end :]) if w[2].strip()]
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


def _list_items(text: str, query: Query) -> list[str]:
    """The items of the sentence's enumeration nearest the question's words, leaving out any
    enumeration that names something the question itself names (in "which clouds build in Mexico",
    the list of countries holding Mexico is context, not the answer)."""
    hits = _term_hits(text, query)
    best: tuple[float, list[str]] | None = None
    for run in enumerations(text):
        if any(_named_by(s.text, query) for s in run):
            continue
        cost = _gap(run[0].start, run[-1].end, hits, len(text))
        if best is None or cost < best[0]:
            best = (cost, [s.text for s in run])
    return best[1] if best else []


# What a list question lists, by the first of these words it uses ("哪些云厂商" lists companies).
_LIST_KINDS: list[tuple[str, re.Pattern[str]]] = [
    (
        "org",
        re.compile(
            r"compan|cloud|provider|firm|vendor|maker|giant|start-?up|unicorn|厂商|公司|企业|巨头|云|独角兽"
        ),
    ),
    (
        "place",
        re.compile(r"countr|region|market|cit(?:y|ies)|location|place|area|国家|地区|城市|市场"),
    ),
    ("name", re.compile(r"\bapps?\b|product|model|project|tool|应用|产品|模型|项目|工具")),
]
_ORG_START = ("nt", "nz", "nrt", "nr", "eng")
_ORG_MAX_CHARS = 6


def _list_kind(question: str) -> str | None:
    q = question.lower()
    found = [(m.start(), kind) for kind, p in _LIST_KINDS if (m := p.search(q))]
    return min(found)[1] if found else None


def _org_phrases(text: str) -> list[SpanCand]:
    """Company-like names: a proper noun (or Latin word) with the nouns that follow it, up to six
    characters ("亚马逊" + "云" + "科技", "微软" + "Azure")."""
    words = _tagged(text)
    spans = []
    for i, (start, _, word, flag) in enumerate(words):
        if not flag.startswith(_ORG_START) or (len(word) < 2 and flag != "eng"):
            continue
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


def _list_item(text: str, kind: str, query: Query) -> str | None:
    """The one item of `kind` the sentence gives: the nearest to the question's words that the
    question does not name itself."""
    spans = {
        "org": _org_phrases,
        "place": _place_spans,
        "name": lambda t: find_spans(t, "latin") + find_spans(t, "quoted"),
    }[kind](text)
    hits = _term_hits(text, query)
    best: tuple[float, str] | None = None
    for span in spans:
        if _named_by(span.text, query):
            continue
        cost = _gap(span.start, span.end, hits, len(text))
        if best is None or cost < best[0]:
            best = (cost, span.text)
    return best[1] if best else None


def extract_answer(
    query: Query,
    passages: list[Passage],
    index: Index,
    settings: AnswerSettings,
    dictionary: Dictionary | None = None,
) -> AnswerResult:
    """The answer, its citations and a confidence for one question (see the module doc). With a
    dictionary, English questions also meet each sentence's English glosses."""
    qtype = detect_type(query.text)
    # Every passage's sentences are scored, so that the passages can be ranked by the evidence
    # the answer is built on; the answer reads the first read_k passages, whatever top_k is, and
    # the weights below come from those alone.
    every = _candidates(passages, index)
    cands = [c for c in every if c.passage_rank < settings.read_k]  # a prefix of `every`
    if not cands:  # no sentence read: the retrieval's order and score stand
        ranking = [RankedPassage.of(i, p, p.score) for i, p in enumerate(passages)]
        return AnswerResult("", True, 0.0, qtype.value, ranking=ranking)

    # Dense: the question against each sentence vector computed at index time.
    dense = index.sentence_vectors([c.sent.row for c in every]) @ query.vector
    tokens = [frozenset(c.sent.tokens) for c in every]
    # Lexical: idf-weighted share of the question's terms the sentence contains.
    terms = {t: w for t, w in query.terms.items() if t not in STOPWORDS}
    weights, df = _idf_weights(terms, tokens[: len(cands)])
    # Character pairs, idf-weighted the same way: for English questions, those of the translations.
    if query.lang == "zh":
        qgrams = dict.fromkeys(han_bigrams(query.text), 1.0)
    else:
        qgrams = {}
        for t, w in terms.items():
            for g in han_bigrams(t):
                qgrams[g] = max(qgrams.get(g, 0.0), w)
    gweights, _ = _idf_weights(qgrams, [c.sent.bigrams for c in cands])
    # English questions: which of their words the glosses of each sentence's words use.
    glossed = [
        frozenset(dictionary.gloss(c.sent.tokens)) if dictionary and query.english else frozenset()
        for c in every
    ]
    eweights, _ = _idf_weights(dict.fromkeys(query.english, 1.0), glossed[: len(cands)])
    top_scores = np.array([c.passage_score for c in cands], dtype=np.float64)
    span_ = float(top_scores.max() - top_scores.min()) or 1.0
    for c, d, toks, bag in zip(every, dense, tokens, glossed, strict=True):
        c.dense = float(d)
        c.lexical = _share(weights, toks)
        prev = index.previous_sentence(c.sent)
        c.score = (
            settings.w_dense * c.dense
            + settings.w_lexical * c.lexical
            + settings.w_bigram * _share(gweights, c.sent.bigrams)
            + settings.w_context * (_share(weights, set(prev.tokens) - toks) if prev else 0.0)
            + settings.w_gloss * _share(eweights, bag)
            + settings.w_passage * (c.passage_score - top_scores.min()) / span_
        )
    # A sentence that only repeats the question's words (a heading "Rabbit R1" for a question
    # about the Rabbit R1) cannot hold its answer, however well it matches.
    question = query.text.lower()
    echoing = {
        id(c)
        for c, toks in zip(every, tokens, strict=True)
        if c.sent.text.lower() in question or toks - STOPWORDS <= query.terms.keys()
    }
    if all(id(c) in echoing for c in cands):
        echoing = set()
    ranked = sorted((c for c in cands if id(c) not in echoing), key=lambda c: -c.score)
    result = _compose(query, qtype, ranked, df, weights, passages, index, settings, dictionary)
    result.ranking = _rank_passages(passages, every, echoing, index, settings.read_k)
    return result


def _rank_passages(
    passages: list[Passage], every: list[_Cand], echoing: set[int], index: Index, read_k: int
) -> list[RankedPassage]:
    """The passages best first. A passage's score is its best sentence's: that names
    the right passage more often than the retrieval score does (XQuAD dev articles, R@1 zh 0.962
    -> 0.970, en 0.872 -> 0.896). The passages the answer read come first, so the first passage
    is the one the answer came from; a passage it did not read scores at most the lowest read."""
    by_row = {c.sent.row: c.score for c in every if id(c) not in echoing}
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


def _compose(
    query: Query,
    qtype: AnswerType,
    ranked: list[_Cand],
    df: dict[str, int],
    weights: dict[str, float],
    passages: list[Passage],
    index: Index,
    settings: AnswerSettings,
    dictionary: Dictionary | None = None,
) -> AnswerResult:
    """The answer from the ranked sentences: abstention, a list, a typed span or a sentence."""
    best = ranked[0]
    evidence = _evidence(best, passages, qtype)
    confidence = confidence_of(
        evidence, settings.confidence_zh if query.lang == "zh" else settings.confidence_en
    )
    if confidence < settings.abstain_below:
        return AnswerResult("", True, confidence, qtype.value, evidence=evidence)

    if qtype == AnswerType.LIST:
        items = _list_items(best.sent.text, query)
        if items:  # the best sentence enumerates the answer
            answer = "、".join(dict.fromkeys(items))
            citation = _citation(1, index, best.sent)
            return AnswerResult(
                f"{answer} [1]", False, confidence, qtype.value, [citation], evidence
            )
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
        kind = _list_kind(query.text)
        anchor = max(df, key=lambda t: weights[t], default=None)  # among words the text holds
        about = [c for c in picked if anchor in c.sent.tokens]
        found = [_list_item(c.sent.text, kind, query) for c in about] if kind else []
        if len(found) >= 2 and all(found):
            parts: list[str] = []
            citations: list[Citation] = []
            for c, item in zip(about, found, strict=True):
                assert item is not None
                if any(item in p or p.split(" [")[0] in item for p in parts):
                    continue
                n = len(citations) + 1
                parts.append(f"{item} [{n}]")
                citations.append(_citation(n, index, c.sent))
            return AnswerResult(
                "；".join(parts), False, confidence, qtype.value, citations, evidence
            )
        parts = []
        citations = []
        length = 0
        for i, c in enumerate(picked, 1):
            if length + len(c.sent.text) > settings.max_answer_chars - 20 and parts:
                break
            parts.append(f"{c.sent.text} [{i}]")
            citations.append(_citation(i, index, c.sent))
            length += len(c.sent.text) + 5
        return AnswerResult("；".join(parts), False, confidence, qtype.value, citations, evidence)

    kinds = _TYPE_SPANS.get(qtype, ())
    span = _best_span(best.sent, kinds, query, settings.span_margin, dictionary) if kinds else None
    text = span.text if span else best.sent.text
    return AnswerResult(
        f"{text} [1]", False, confidence, qtype.value, [_citation(1, index, best.sent)], evidence
    )


_NUMERIC = (AnswerType.WHEN, AnswerType.HOW_MANY, AnswerType.HOW_MUCH, AnswerType.PERCENTAGE)


def _evidence(best: _Cand, passages: list[Passage], qtype: AnswerType) -> Evidence:
    """The evidence for the best sentence. Its cosine alone separates answerable questions from
    near misses badly ("when will the New Zealand data centre open?" finds the sentence announcing
    it at 0.83); whether the top passage holds the question's words, and whether a question after
    a date or number finds one, separate them better."""
    # The type's first kind: a price is not answered by a count of seconds.
    untyped = qtype in _NUMERIC and not find_spans(best.sent.text, _TYPE_SPANS[qtype][0])
    top_lexical = (passages[0].lexical or 0.0) if passages else 0.0
    return Evidence(best.dense, math.log1p(top_lexical), float(untyped))
