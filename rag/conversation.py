"""Conversation: read a follow-up question in the context of the turns before it.

Entry point: `Resolver(similarity).run(question, history) -> Resolution`.

    >>> resolver = Resolver()
    >>> history = [Turn("阿里云将在几个国家新建数据中心？", "5个国家 [1]")]
    >>> resolver.run("那腾讯云呢？", history).question
    '腾讯云将在几个国家新建数据中心？'

There is no language model to rewrite follow-ups, so three readings cover what people type,
each from the shape of the question alone (no rule names a question, an entity or an article):

1. Ellipsis, "那腾讯呢？", "And Huawei?", "what about in Brazil?": the previous question with one
   of its slots (a name, a noun phrase, a place) replaced by the new one. The slot is the one most
   similar to the new phrase (`similarity`, the embedder's cosine in the pipeline; without one,
   a slot of the same script). When the previous question asked *for* an entity ("which
   company") and the new phrase is more like that answer than any slot, it takes the place of
   the question word instead: "Which clouds are building in Mexico?" → "And Tencent?" reads
   "Tencent clouds are building in Mexico?".
2. Reference, "When did it open?", "这家公司", "they": a pronoun or demonstrative with nothing
   before it in the question to refer to is replaced by the entity of the previous turn: its
   answer when that question asked for an entity and the answer is short, else the first name
   (or noun phrase) of the previous question.
3. Bare questions, "是哪天发布的？", "How much did they raise?" after the pronoun is read, or
   "When?": a question with no topic of its own is read with the previous question's topic words
   in front of it.

Anything else stands on its own and is left exactly as it was asked. Earlier turns are resolved
first (each in the context of the one before), so a chain of follow-ups keeps its subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import jieba.posseg as pseg

from rag.lexical import HAN_RUN, STOPWORDS, _ensure_jieba, language
from rag.metrics import strip_markers
from rag.script import HAN, HAN_CHAR, fold

MAX_TURNS = 10  # the contract's limit on `history`
# Earlier turns resolved to read the last one: a subject rarely survives more follow-ups than this.
CHAIN = 3
MAX_ANTECEDENT_CHARS = 40  # an answer longer than this is a sentence, not an entity to refer to

Similarity = Callable[[str, Sequence[str]], Sequence[float]]


class Reading(StrEnum):
    STANDALONE = "standalone"
    ELLIPSIS = "ellipsis"
    REFERENCE = "reference"
    BARE = "bare"


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was asked, and what the service answered ("" = abstained)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Resolution:
    question: str
    reading: Reading
    # What the reading put in ("腾讯云" for an ellipsis, the antecedent for a reference).
    filled: str = ""


_END = "？?。.!！；;，,、\u3000 "

# -- ellipsis ------------------------------------------------------------------------------------
_ZH_ELLIPSIS = re.compile(
    r"^(?:那么|那|还有|而|再|另外)?\s*(?P<x>.{1,30}?)\s*(?:呢|怎么样|如何)[？?。!！\s]*$"
)
_EN_ELLIPSIS = re.compile(
    r"^(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)[?.!\s]*$|^and\s+(?P<y>.+?)[?.!\s]*$",
    re.IGNORECASE,
)
_EN_LEAD = re.compile(r"^(?:(?P<prep>in|for|at|on|from|of|to|with|by)\s+)?(?:the\s+)?", re.I)

# -- question words ------------------------------------------------------------------------------
_ZH_WH = re.compile(
    r"哪一?(?:些|个|家|款|位|种|几家|几个|天|年|月|里|儿)?|什么时候|什么|多少|几[个款家名位种月年天次]?"
    r"|谁|怎么|如何|为什么|是否|吗"
)
_EN_WH = re.compile(
    r"\b(?:what|which|who|whom|whose|when|where|why|how(?:\s+(?:many|much|long|far|old))?)\b",
    re.IGNORECASE,
)
# Question kinds that ask for an entity, so their answer is what a follow-up may refer to.
_ZH_ASKS_ENTITY = re.compile(r"哪[一]?[些个家款位种]|谁|叫什么|什么名|是什么公司")
_EN_ASKS_ENTITY = re.compile(r"\b(?:which|who|whom)\b|\bwhat\s+(?:is|was)\s+\w+\s+called\b", re.I)

# -- references ----------------------------------------------------------------------------------
# Pronouns and demonstratives; "其他", "其中", "此外", "因此", "应该" are ordinary words.
_ZH_REF = re.compile(
    r"(?:它们|他们|她们|它|他|她|(?<![尤极])其(?![他它中实次余])|(?<![应])该"
    f"(?=[{HAN}])"
    r"|(?:这|那)(?:家|个|款|位|项|些|种|一|次|笔)|(?<![因如彼])此(?![外前后时刻次]))"
)
_EN_REF = re.compile(
    r"\b(?:(?:this|that|these|those|the)\s+(?:company|companies|firm|app|application|model|"
    r"project|product|platform|office|startup|system|device|report|deal|plan)|"
    r"it|its|they|them|their|he|him|his|she|her)\b",
    re.IGNORECASE,
)
_EN_POSSESSIVE = re.compile(r"^(?:its|their|his|her)$", re.IGNORECASE)
_EN_SUBJECT = re.compile(r"\s+(?:they|it|he|she|we)\b", re.IGNORECASE)

# jieba tags that end a noun phrase: prepositions, pronouns, particles, conjunctions, adverbs,
# numerals, measure words, times, punctuation; verbs of two characters or more.
_BOUNDARY_TAGS = ("p", "r", "u", "y", "x", "c", "d", "m", "q", "t", "e", "o", "w", "zg", "a")
_CAPITALISED = re.compile(r"(?:[A-Z][\w.+-]*|[a-z]+[A-Z][\w]*|\d+[A-Za-z]+\w*)(?:'s)?")
_MODIFIER = re.compile(r".*-[a-z]+")  # "AI-native", "Chinese-made": an adjective, not a name
_EN_OBJECT_QUESTION = re.compile(r"\b(?:did|does|do)\b", re.IGNORECASE)


# -- slots: the names and noun phrases of a question ----------------------------------------------
@dataclass(frozen=True)
class Slot:
    text: str
    start: int
    end: int


def _zh_slots(question: str) -> list[Slot]:
    """Noun phrases of a Chinese question: maximal runs of words that are not function words,
    question words or verbs. jieba cuts unknown names into single characters (科大/讯/飞), so a
    one-character verb between two nominal words joins them instead of ending the phrase, and
    one right after a bound morpheme ends the name rather than cutting it short."""
    _ensure_jieba()
    folded = fold(question)
    words = [(w.word, w.flag) for w in pseg.cut(folded)]
    # Question words as the pattern reads them ("什么时候"), whichever way jieba cuts them.
    asked = {i for m in _ZH_WH.finditer(folded) for i in range(m.start(), m.end())}
    spans: list[tuple[int, int, str, str]] = []
    pos = 0
    for word, flag in words:
        spans.append((pos, pos + len(word), word, flag))
        pos += len(word)

    def boundary(k: int) -> bool:
        start, end, word, flag = spans[k]
        if asked.intersection(range(start, end)):
            return True
        if flag == "eng":
            return False
        if word.isspace() and 0 < k < len(spans) - 1:
            return not (spans[k - 1][3] == "eng" and spans[k + 1][3] == "eng")  # "Rabbit R1"
        if not word.strip() or _ZH_WH.match(word) or word in STOPWORDS:
            return True
        if flag.startswith("v") and flag != "vn":
            if len(word) == 1 and 0 < k < len(spans) - 1:
                if len(spans[k - 1][2]) == 1 and spans[k - 1][3].endswith("g"):
                    # After a bound morpheme (jieba's *g tags: not a word alone), the last
                    # piece of a name cut into characters (科大/讯/飞 的), not a verb.
                    return False
                return boundary(k - 1) or boundary(k + 1)
            return True
        return flag.startswith(_BOUNDARY_TAGS)

    slots: list[Slot] = []
    run: list[int] = []
    for k in range(len(spans) + 1):
        if k < len(spans) and not boundary(k):
            run.append(k)
            continue
        if run:
            start, end = spans[run[0]][0], spans[run[-1]][1]
            text = question[start:end]
            if len(text) >= 2:
                slots.append(Slot(text, start, end))
        run = []
    return slots


def _en_slots(question: str) -> list[Slot]:
    """Names of an English question: runs of capitalised words (the first word only when it is no
    function word), and any Chinese run in it."""
    slots: list[Slot] = []
    words = list(re.finditer(r"[\w.+'-]+|[^\w\s]", question))
    run: list[re.Match[str]] = []

    def flush() -> None:
        if run:
            start, end = run[0].start(), run[-1].end()
            text = question[start:end]
            if text.endswith("'s"):
                text, end = text[:-2], end - 2
            slots.append(Slot(text, start, end))
        run.clear()

    for i, m in enumerate(words):
        word = m.group()
        lower = word.lower().removesuffix("'s")
        first_function = i == 0 and (lower in STOPWORDS or _EN_WH.fullmatch(lower))
        name = _CAPITALISED.fullmatch(word) and not _MODIFIER.fullmatch(word)
        if name and not first_function and not HAN_CHAR.search(word):
            run.append(m)
            if word.endswith("'s"):
                flush()  # "iFlytek's Singapore office": the owner is a name of its own
        else:
            flush()
    flush()
    for m in HAN_RUN.finditer(question):
        slots.append(Slot(m.group(), m.start(), m.end()))
    return sorted(slots, key=lambda s: s.start)


def slots(question: str) -> list[Slot]:
    return _zh_slots(question) if language(question) == "zh" else _en_slots(question)


def _content_words(question: str) -> list[str]:
    """The question's words without question words, stopwords and punctuation."""
    if language(re.sub(r"[\d\s年月日]+", "", question)) == "zh":
        _ensure_jieba()
        words = [w.word for w in pseg.cut(question)]
        return [
            w for w in words if w.strip(_END) and not _ZH_WH.fullmatch(w) and w not in STOPWORDS
        ]
    words = re.findall(r"[\w.+'-]+", question)
    return [w for w in words if w.lower() not in STOPWORDS and not _EN_WH.fullmatch(w)]


def topic(question: str) -> str:
    """The previous question without its question words and closing punctuation, to put in front
    of a bare follow-up."""
    words = _content_words(question)
    joiner = "" if all(HAN_CHAR.search(w) for w in words) else " "
    return joiner.join(words)


def _answer_items(answer: str) -> list[str]:
    """The entities of a short answer; a date or a number is no entity to refer back to."""
    bare = strip_markers(answer)
    items = [x.strip(_END) for x in re.split(r"[；;、，,]|\s+and\s+", bare)]
    return [x for x in items if x and len(x) <= MAX_ANTECEDENT_CHARS and not x[0].isdigit()]


def _asks_entity(question: str) -> bool:
    pattern = _ZH_ASKS_ENTITY if language(question) == "zh" else _EN_ASKS_ENTITY
    return bool(pattern.search(question))


def _same_script(a: str, b: str) -> bool:
    return language(a) == language(b)


class Resolver:
    """Reads follow-ups (see the module doc). `similarity(a, [b...])` scores how alike a phrase is
    to each candidate (higher is more alike); without it, candidates of the same script win."""

    def __init__(
        self,
        similarity: Similarity | None = None,
        is_common: Callable[[str], bool] | None = None,
    ) -> None:
        self.similarity = similarity
        # Whether a Chinese phrase is made of common words only (the dictionary's test): "一共"
        # gives a question no topic, "中国" or "荣耀" does. Without it, any noun phrase does.
        self.is_common = is_common

    def run(self, question: str, history: Sequence[Turn]) -> Resolution:
        q = question.strip()
        if not history:
            return Resolution(q, Reading.STANDALONE)
        previous = self._previous(history)
        answer = history[-1].answer
        return (
            self._ellipsis(q, previous, answer)
            or self._reference(q, previous, answer)
            or self._bare(q, previous)
            or Resolution(q, Reading.STANDALONE)
        )

    def _previous(self, history: Sequence[Turn]) -> str:
        """The last earlier question as it was read, each earlier one resolved in turn."""
        chain = list(history[-CHAIN:])
        resolved = chain[0].question.strip()
        for k in range(1, len(chain)):
            context = [Turn(resolved, chain[k - 1].answer)]
            resolved = self.run(chain[k].question, context).question
        return resolved

    def _best(self, phrase: str, candidates: Sequence[str]) -> tuple[int, float]:
        """Index and score of the candidate most like `phrase`."""
        if self.similarity is not None:
            scores = list(self.similarity(phrase, candidates))
        else:
            scores = [1.0 if _same_script(phrase, c) else 0.0 for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        return best, float(scores[best])

    # -- 1. ellipsis -----------------------------------------------------------------------------
    def _ellipsis(self, q: str, previous: str, answer: str) -> Resolution | None:
        m = _ZH_ELLIPSIS.match(q) or _EN_ELLIPSIS.match(q)
        if not m:
            return None
        phrase = (m.groupdict().get("x") or m.groupdict().get("y") or "").strip(_END)
        if not phrase:
            return None
        lang = language(q)
        if (_ZH_WH if lang == "zh" else _EN_WH).search(phrase) or _EN_REF.search(phrase):
            return None  # "And how much lower is their cost?" is a question of its own
        prep = ""
        if lang == "en":
            lead = _EN_LEAD.match(phrase)
            if lead:
                prep = (lead.group("prep") or "").lower()
                phrase = phrase[lead.end() :].strip() or phrase
        candidates = slots(previous)
        items = _answer_items(answer) if _asks_entity(previous) else []
        if not candidates and not items:
            return Resolution(f"{previous} {q}", Reading.BARE, phrase)
        names = [c.text for c in candidates]
        scores = self.similarity(phrase, names + items) if self.similarity else None
        if scores is not None and names:
            best = max(range(len(names)), key=lambda i: (scores[i], -i))
            slot_score = float(scores[best])
        elif names:
            best, slot_score = self._best(phrase, names)
        else:
            best, slot_score = -1, float("-inf")
        item_score = max(scores[len(names) :], default=float("-inf")) if scores else float("-inf")
        if items and item_score > slot_score:
            wh = (_ZH_WH if language(previous) == "zh" else _EN_WH).search(previous)
            if wh:
                text = previous[: wh.start()] + phrase + previous[wh.end() :]
                return Resolution(text, Reading.ELLIPSIS, phrase)
        if best < 0:
            return Resolution(f"{previous} {q}", Reading.BARE, phrase)
        slot = candidates[best]
        head = previous[: slot.start]
        if lang == "en" and prep:
            # "what about in Brazil?": the new preposition replaces the slot's own, if it has one.
            head = re.sub(r"\b(?:in|for|at|on|from|of|to|with|by)\s+$", "", head, flags=re.I)
            text = f"{head}{prep} {phrase}{previous[slot.end :]}"
        else:
            text = f"{head}{phrase}{previous[slot.end :]}"
        return Resolution(text, Reading.ELLIPSIS, phrase)

    # -- 2. references ---------------------------------------------------------------------------
    def _antecedent(self, previous: str, answer: str) -> str | None:
        """The answer when the previous question asked for its subject ("Which company owns
        Talkie AI?": the question word comes before any name), else its first name."""
        found = slots(previous)
        items = _answer_items(answer)
        wh = (_ZH_WH if language(previous) == "zh" else _EN_WH).search(previous)
        subject_asked = wh is not None and (not found or wh.start() < found[0].start)
        if language(previous) == "en":  # "Which company did Tencent partner with?" asks an object
            subject_asked = subject_asked and not _EN_OBJECT_QUESTION.search(previous)
        if items and _asks_entity(previous) and subject_asked:
            return items[0]
        return found[0].text if found else None

    def _reference(self, q: str, previous: str, answer: str) -> Resolution | None:
        lang = language(q)
        found = list((_ZH_REF if lang == "zh" else _EN_REF).finditer(q))
        if lang == "en":
            # "the project they launched": a relative clause; "the project" is what is asked,
            # the pronoun after it the reference.
            found = [
                m for m in found if " " not in m.group() or not _EN_SUBJECT.match(q, m.end())
            ] or found
        if not found:
            return None
        m = found[0]
        if any(s.end <= m.start() for s in slots(q)):
            return None  # "华为及其伙伴": the question names what it refers to
        antecedent = self._antecedent(previous, answer)
        if not antecedent:
            return self._bare(q, previous, force=True)
        word = m.group()
        if lang == "en":
            filler = f"{antecedent}'s" if _EN_POSSESSIVE.match(word) else antecedent
            if " " in word:  # "the company" -> "iFlytek company" reads oddly; the name is enough
                filler = antecedent
        else:
            # "这家公司" -> "科大讯飞公司": the demonstrative goes, the noun it qualifies stays.
            filler = antecedent
        text = q[: m.start()] + filler + q[m.end() :]
        return Resolution(text, Reading.REFERENCE, antecedent)

    # -- 3. bare questions -----------------------------------------------------------------------
    def _has_topic(self, q: str) -> bool:
        found = slots(q)
        if language(q) == "en":
            # "How many AI companies dissolved?" has a topic without a name in it.
            return bool(found) or len(_content_words(q)) > 1
        return any(
            not HAN_CHAR.search(s.text) or self.is_common is None or not self.is_common(s.text)
            for s in found
        )

    def _bare(self, q: str, previous: str, force: bool = False) -> Resolution | None:
        """`force`: a reference with nothing to refer to is read with the previous topic too."""
        if not force and self._has_topic(q):
            return None
        context = topic(previous)
        if not context:
            return None
        joiner = "" if language(q) == "zh" and language(previous) == "zh" else " "
        return Resolution(f"{context}{joiner}{q}", Reading.BARE, context)


def resolve(
    question: str, history: Sequence[Turn], similarity: Similarity | None = None
) -> Resolution:
    """`Resolver(similarity).run(question, history)`."""
    return Resolver(similarity).run(question, history)


__all__ = ["MAX_TURNS", "Reading", "Resolution", "Resolver", "Slot", "Turn", "resolve", "slots"]
