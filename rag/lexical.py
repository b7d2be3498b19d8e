"""Lexical tokens for BM25 and for answer scoring: jieba for Chinese, words for Latin script.

Entry point: `tokenize(text) -> list[str]`.

    >>> tokenize("在墨西哥建数据中心, MWC2024")
    ['在', '西哥', '墨西哥', '建', '数据', '中心', '数据中心', 'mwc2024', 'mwc', '2024']

Splitting Chinese on spaces scores every Chinese query 0 (a known failure of several peers), so
Chinese runs go through jieba's search-mode cut, which also emits the parts of long words.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

import jieba

from rag.script import HAN, fold

jieba.setLogLevel(logging.WARNING)
_init_lock = threading.Lock()
_ready = False

HAN_RUN = re.compile(f"[{HAN}]+")
_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+#-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_PARTS = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_PIECES = re.compile(f"[{HAN}]+|[A-Za-z0-9][A-Za-z0-9.+#-]*")

# Function words that carry no topic; BM25's idf mostly handles them, but answer scoring counts
# overlaps directly, and there one "的" must not look like evidence.
_STOPWORDS_ZH = (
    "的 了 是 在 和 与 及 或 也 都 就 而 之 其 这 那 有 为 对 从 到 将 被 把 给 等 中 上 下"
)
_STOPWORDS_ZH2 = "个 们 我 你 他 她 它 吗 呢 吧 啊 哪 哪些 什么 谁 多少 几 怎么 如何 为什么 是否"
_STOPWORDS_EN = (
    "a an the of to in on at for by with from and or is are was were be been being do does did "
    "what which who whom whose when where why how many much that this these those it its as "
    "into about than then there their they them has have had not no yes any some can could "
    "will would should may might"
)
STOPWORDS = frozenset(" ".join((_STOPWORDS_ZH, _STOPWORDS_ZH2, _STOPWORDS_EN)).split())
ENGLISH_STOPWORDS = frozenset(_STOPWORDS_EN.split())


def _ensure_jieba() -> None:
    global _ready
    if not _ready:
        with _init_lock:
            if not _ready:
                jieba.initialize()
                _ready = True


def tokenize(text: str, keep_stopwords: bool = True) -> list[str]:
    """Lower-cased tokens: jieba search-mode words for Chinese runs, whole Latin words/numbers.
    Traditional characters are folded to Simplified first (`rag.script.fold`): 訊飛 and 讯飞 are
    the same token, whichever script the question or the document is written in."""
    _ensure_jieba()
    text = fold(text)
    tokens: list[str] = []
    for m in _PIECES.finditer(text):
        piece = m.group(0)
        if HAN_RUN.fullmatch(piece):
            tokens.extend(w for w in jieba.lcut_for_search(piece) if w.strip())
        else:
            for word in _LATIN.findall(piece):
                word = word.lower()
                tokens.append(word)
                parts = _PARTS.findall(word)
                if len(parts) > 1:  # "MWC2024" should also match "MWC" and "2024"
                    tokens.extend(parts)
    if not keep_stopwords:
        tokens = [t for t in tokens if t not in STOPWORDS]
    return tokens


def language(text: str) -> str:
    """'zh' when the text has Chinese characters, else 'en': a question's language for
    retrieval, answering and conversation alike."""
    return "zh" if HAN_RUN.search(text) else "en"


def han_count(text: str) -> int:
    """How many Chinese characters the text has."""
    return sum(map(len, HAN_RUN.findall(text)))


def han_bigrams(text: str) -> frozenset[str]:
    """Pairs of adjacent Chinese characters. They match a paraphrase that jieba cuts differently
    from the text ("擒杀" in "五次擒杀" and "拿下5次擒杀"), which whole-word overlap misses."""
    return frozenset(
        run[i : i + 2] for run in HAN_RUN.findall(fold(text).lower()) for i in range(len(run) - 1)
    )


def content_tokens(text: str) -> list[str]:
    """Tokens without stopwords, for counting overlaps."""
    return tokenize(text, keep_stopwords=False)


def has_content_words(text: str, is_known: Callable[[str], bool]) -> bool:
    """Whether `text` holds a word worth searching for: a Chinese word that is not a function
    word, or a Latin word of two letters or more that `is_known` accepts (a dictionary or index
    word). Punctuation, numbers and operators alone (`' OR 1=1; --`) hold none."""
    for tok in content_tokens(text):
        if HAN_RUN.search(tok):
            return True
        if tok.isalpha() and len(tok) >= 2 and is_known(tok):
            return True
    return False
