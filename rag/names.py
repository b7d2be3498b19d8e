"""Romanised names: a question's "Zhipu", "Youdao" or "Doubao" is the corpus's 智谱, 有道, 豆包.

Entry point: `Romanised.of([words_of(text), ...], dictionary)`, then
`.transliterate(question, knows) -> str`.

    >>> names = Romanised.of([words_of("智谱AI CEO张鹏表示……")], Dictionary.load())
    >>> names.transliterate("Who is the CEO of Zhipu AI?", knows=lambda w: False)
    'Who is the CEO of 智谱 AI?'

English speakers call many Chinese companies, products and people by their pinyin, written
without tones or spaces. No dictionary has these names (CC-CEDICT lacks 智谱; 有道 is "to have
attained the Way" there), the embedder and the reader never learned that "Zhipu" is 智谱, and
the lexical leg has nothing to match: the question finds and reads the wrong passage ("Who is the
CEO of Zhipu AI?" -> Qualcomm's CEO). So the corpus's own words are indexed by how they read
(each character's CC-CEDICT readings), and a Latin word of a question (or two or three in a
row: "Zhang Peng" -> 张鹏) that is no English word, that the dictionary does not translate, that
the corpus does not itself spell in Latin, and that reads as two or more pinyin syllables is
replaced by the corpus word that reads so (the most frequent, if several do). The words are
jieba's (the lexical leg's tokens) and pairs and triples of the single characters it leaves
(妙/鸭 -> 妙鸭), so a name jieba does not know is still found.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from rag.lexical import HAN_RUN, STOPWORDS, tokenize
from rag.translate import Dictionary

_LATIN = re.compile(r"[A-Za-z]+(?:'(?!s\b)[A-Za-z]+)*")  # "Xi'an" whole; "Youdao's" -> Youdao
MIN_LETTERS = 4  # "Baidu", "Zhipu"; shorter words ("Li", "An") read as too many things
MAX_SYLLABLES = 4
MAX_WORDS = 3  # a name in parts: "Zhou Xin Yu"
MAX_READINGS = 16  # per word: polyphonic characters multiply
# Readings that are no syllable a name is spelt with (erhua, interjections).
_NOT_SYLLABLES = frozenset({"r", "m", "n", "ng", "hm", "hng", "xx"})


class Romanised:
    """Pinyin (syllables joined by spaces) -> the corpus words that read so, with counts."""

    def __init__(
        self,
        words: dict[str, Counter[str]],
        syllables: frozenset[str],
        dictionary: Dictionary,
    ) -> None:
        self.words = words
        self.syllables = syllables
        self.dictionary = dictionary

    @classmethod
    def of(cls, words_by_text: Iterable[Counter[str]], dictionary: Dictionary) -> Romanised:
        """From the `words_of` each text (which a caller may keep per document, so that a
        changed corpus is cut again only where it changed)."""
        readings = dictionary.readings
        syllables = frozenset(r for rs in readings.values() for r in rs) - _NOT_SYLLABLES
        counts: Counter[str] = Counter()
        for text_words in words_by_text:
            counts.update(text_words)
        words: dict[str, Counter[str]] = {}
        for word, n in counts.items():
            options = [[r for r in readings.get(ch, ()) if r in syllables] for ch in word]
            if not all(options):
                continue
            for said in itertools.islice(itertools.product(*options), MAX_READINGS):
                words.setdefault(" ".join(said), Counter())[word] += n
        return cls(words, syllables, dictionary)

    def transliterate(self, text: str, knows: Callable[[str], bool]) -> str:
        """`text` with each romanised name put in the corpus's characters; `knows(word)` says
        whether the corpus spells a (lower-case) Latin word itself ("MiniMax", "Yuca"). A
        name may be two or three words apart by spaces ("Zhang Peng" -> 张鹏), the longest
        first."""
        words = list(_LATIN.finditer(text))
        out, last, i = [], 0, 0
        while i < len(words):
            for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
                run = words[i : i + n]
                if any(text[a.end() : b.start()] != " " for a, b in itertools.pairwise(run)):
                    continue
                found = self._name([m.group(0) for m in run], knows)
                if found:
                    out += [text[last : run[0].start()], found]
                    last, i = run[-1].end(), i + n
                    break
            else:
                i += 1
        return "".join(out) + text[last:] if out else text

    def _name(self, parts: list[str], knows: Callable[[str], bool]) -> str | None:
        ws = [p.lower().replace("'", "") for p in parts]
        joined = "".join(ws)
        if len(joined) < MIN_LETTERS:
            return None
        if len(ws) == 1:
            # A word the dictionary translates is left to it ("Alibaba" -> 阿里巴巴, "Beijing"
            # -> 北京): the lexical leg has its translations, the question keeps its phrases
            # whole ("Alibaba Cloud" is 阿里云, not "阿里巴巴 Cloud"), and a corpus without 北京
            # may well have 背景, which reads the same.
            if self.dictionary.is_english(joined) or self.dictionary.translate(joined):
                return None
        elif any(w in STOPWORDS for w in ws) or self.dictionary.lookup(" ".join(ws)):
            # Each word of a name in parts may be English alone ("Zhang", "Peng"); the whole
            # is a name only if it reads as a word of the corpus, which "the man" would not.
            return None
        best: tuple[int, str] | None = None
        for cut in itertools.product(*(_segmentations(w, self.syllables) for w in ws)):
            said = [syllable for part in cut for syllable in part]
            if not 2 <= len(said) <= MAX_SYLLABLES:
                continue
            for zh, n in self.words.get(" ".join(said), Counter()).items():
                if best is None or (n, zh) > best:
                    best = (n, zh)
        # Asked last: it may be a round trip to the store (Milvus), and most words read as no
        # word of the corpus at all.
        return best[1] if best and not knows(joined) else None


def words_of(text: str) -> Counter[str]:
    """The Chinese words of a text as the lexical leg cuts them, of two characters or more, and
    runs of two or three single characters it leaves between them, with their counts."""
    return Counter(_words(text))


def _words(text: str) -> Iterator[str]:
    for run in HAN_RUN.findall(text):
        tokens = tokenize(run)
        singles: list[str] = []
        for tok in [*tokens, ""]:
            if len(tok) == 1:
                singles.append(tok)
                continue
            for n in (2, 3):
                for i in range(len(singles) - n + 1):
                    yield "".join(singles[i : i + n])
            singles = []
            if len(tok) >= 2:
                yield tok


def _segmentations(word: str, syllables: frozenset[str]) -> list[tuple[str, ...]]:
    """Every way to cut a word into syllables, at most MAX_SYLLABLES of them."""
    out: list[tuple[str, ...]] = []

    def walk(i: int, path: tuple[str, ...]) -> None:
        if i == len(word):
            out.append(path)
            return
        if len(path) == MAX_SYLLABLES:
            return
        for j in range(i + 1, min(len(word), i + 6) + 1):
            if word[i:j] in syllables:
                walk(j, (*path, word[i:j]))

    walk(0, ())
    return out
