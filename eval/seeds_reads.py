"""In-domain reading examples from the seeds gold set: each question of a split with the passages
the service reads for it, the answer's place in a passage that holds it, or "no answer here" for
one that does not (and for every passage of an unanswerable question).

The DRCD/CMRC/XQuAD training pairs a question with its own paragraph or a stranger's; at serving
time the reader sees neither, but two passages of five articles on one subject, where the commonest
error is a fact of one company read as another's. `eval/train_reader.py --seeds-fold` trains on
these; `fold` takes every other question of the split (`in_fold`), so a run
trained on one half is measured on the other (`eval/seeds_folds.py`). Never the test split.

    .venv/bin/python eval/seeds_reads.py     # counts, and a few examples
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.metrics import normalise  # noqa: E402

GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"


@dataclass(frozen=True)
class Read:
    qid: str
    question: str
    context: str
    answer_start: int  # -1: the passage does not answer
    answer_text: str


def locate(text: str, alternatives: Iterable[str]) -> tuple[int, int] | None:
    """The first place in `text` of any alternative, matched as the CONTRACT matches (NFKC, lower
    case, whitespace ignored), as offsets into `text` itself."""
    flat: list[str] = []
    owner: list[int] = []  # the index in `text` of each character of `flat`
    for i, ch in enumerate(text):
        for c in normalise(ch):
            flat.append(c)
            owner.append(i)
    joined = "".join(flat)
    best: tuple[int, int] | None = None
    for alt in alternatives:
        key = normalise(alt)
        at = joined.find(key) if key else -1
        if at >= 0 and (best is None or owner[at] < best[0]):
            best = (owner[at], owner[at + len(key) - 1] + 1)
    return best


def in_fold(items: list[Any], fold: int) -> list[Any]:
    """Every other question of a split, from its `fold`-th (0 or 1): the one rule of which half
    a question is in, for training (`seeds_reads`) and measuring (`eval/seeds_folds.py`) alike."""
    return items[fold::2]


def seeds_reads(
    split: str = "dev", fold: int | None = None, passages: int = 3, pipe: Any = None
) -> list[Read]:
    """The reads of the `split` questions (of `fold`, 0 or 1, only, if given): the first `passages`
    passages the answerer ranks for each (the reader reads the first two), by `pipe` (the rules
    over the seed index, if not given). A list question (more than one group) gives none: its
    answer is not one span."""
    from rag.config import Settings
    from rag.evaluate import gold_pipeline, load_gold

    pipe = pipe or gold_pipeline(Settings.from_env(cache_size=0, reader="rules"))
    items = load_gold(GOLD, split=split)
    out: list[Read] = []
    for item in items if fold is None else in_fold(items, fold):
        if len(item.answers) > 1:
            continue
        alts = item.answers[0] if item.answers else []
        answer = pipe.ask(item.question, top_k=passages)
        for p in answer.passages[:passages]:
            span = locate(p.text, alts) if alts else None
            if span is None:
                out.append(Read(item.id, item.question, p.text, -1, ""))
            else:
                a, b = span
                out.append(Read(item.id, item.question, p.text, a, p.text[a:b]))
    return out


if __name__ == "__main__":
    reads = seeds_reads()
    pos = [r for r in reads if r.answer_start >= 0]
    print(f"{len(reads)} reads of {len({r.qid for r in reads})} questions, {len(pos)} with a span")
    for r in pos[:5]:
        print(f"  {r.qid} {r.question} -> {r.answer_text!r}")
