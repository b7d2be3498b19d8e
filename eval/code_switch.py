"""Code-switched questions: a Chinese question with some of its words put into English.

    from code_switch import Senses, code_switch
    .venv/bin/python eval/code_switch.py "华为计划在北非投资多少？"   # a few samples

The reader answers English questions over Chinese text, but nearly all of its training questions
are Chinese (DRCD, CMRC): the only English ones are XQuAD's dev half, about 580. Replacing words of
a Chinese question by their first CC-CEDICT sense ("华为 在 北非 投资 多少" -> "Huawei 在 North
Africa invest 多少") is the code-switching augmentation of cross-lingual transfer (Qin et al.,
CoSDA-ML, 2020): the model sees English question words next to the Chinese words of the
passage they stand for, which a dictionary gives for free. eval/train_reader.py --code-switch P
switches a share P of the Chinese training questions (their own RNG: the held-out questions stay
as they were).
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.translate import PAREN, SKIP_SENSE, cedict_entries  # noqa: E402

_CJK = re.compile(r"[\u4e00-\u9fff]")
# rag.translate's, and "also ..." notes (other readings): neither is what a question would say.
_SKIP = (*SKIP_SENSE, "also ")


class Senses:
    """Simplified Chinese word -> its first CC-CEDICT sense that reads as an English phrase."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    @classmethod
    def load(cls) -> Senses:
        table: dict[str, str] = {}
        for _head, simp, senses in cedict_entries():
            if simp in table:
                continue  # the first entry of a word is its most common reading
            for sense in senses:
                low = sense.strip()
                if not low or any(low.lower().startswith(p) for p in _SKIP):
                    continue
                text = PAREN.sub("", low).split(";")[0].strip(" .,?!")
                text = text[3:] if text.startswith("to ") else text
                if text and len(text.split()) <= 3 and text.isascii():
                    table[simp] = text
                    break
        return cls(table)


def code_switch(question: str, senses: Senses, rng: random.Random, rate: float = 0.6) -> str:
    """`question` with each Chinese word of two characters or more that has a sense put into
    English with probability `rate`; English runs are set off by spaces, as in a mixed sentence.
    Single characters stay: they are mostly particles and measure words (了, 个), whose first
    sense ("finish", "individual") is not what an English question would say."""
    out: list[str] = []
    for word in jieba.lcut(question):
        english = senses.table.get(word) if len(word) > 1 and _CJK.search(word) else None
        if english and rng.random() < rate:
            out.append(f" {english} ")
        else:
            out.append(word)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


if __name__ == "__main__":
    s, r = Senses.load(), random.Random(0)
    for q in sys.argv[1:] or ["华为计划在北非投资多少？", "科大讯飞的新加坡办公室是哪一天开业的？"]:
        for _ in range(3):
            print(code_switch(q, s, r))
