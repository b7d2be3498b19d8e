"""Script: fold Traditional Chinese characters to Simplified, for matching only.

Entry point: `fold(text) -> str`, the same text with every Traditional character that has a
Simplified form replaced by it, and nothing else changed.

    >>> fold("科大訊飛新加坡辦公室是哪天開業的？")
    '科大讯飞新加坡办公室是哪天开业的？'
    >>> len(fold(s)) == len(s)   # always: one character for one character
    True

Folding is character by character (OpenCC's Traditional-to-Simplified character table, its first
reading of each character), never phrase by phrase, so the result is exactly as long as the input
and an offset into the folded text is the same offset into the original. That is what lets the
lexical leg, the dictionary and question typing read Traditional text as Simplified while every
citation still points into the text as it was stored, which is never rewritten. The table's
one-to-many characters (乾 is 干 or 乾) take the common reading; phrase-level conversion would
pick better, at the price of changing lengths.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

# The Han characters, as a character-class body: CJK Unified Ideographs, Extension A, the
# compatibility ideographs and the supplementary planes' extensions. The one definition every
# module that asks "is this Chinese?" uses (`HAN_CHAR`, rag.lexical's `HAN_RUN`), so that they
# agree: the copies in eight modules had drifted apart (one lacked Extension A, one the
# compatibility block). rag.metrics keeps the CMRC evaluation's own narrower range.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_CHAR = re.compile(f"[{HAN}]")


@cache
def _table() -> dict[int, int]:
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table: dict[int, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        traditional, simplified = parts[0], parts[1]
        if len(traditional) == 1 and len(simplified) == 1 and traditional != simplified:
            table[ord(traditional)] = ord(simplified)
    return table


def fold(text: str) -> str:
    """`text` with Traditional characters folded to Simplified; same length, same offsets."""
    if not HAN_CHAR.search(text):
        return text  # nothing to fold: Latin text, digits, punctuation
    return text.translate(_table())


def is_traditional(text: str) -> bool:
    """Whether folding changes the text (it has characters only Traditional writing uses)."""
    return fold(text) != text


__all__ = ["fold", "is_traditional"]
