"""Near misses: a question over its own paragraph less the sentence that holds its answer.

    from near_miss import without_answer_sentence, near_miss_squad
    .venv/bin/python eval/near_miss.py [READER.onnx]   # how well a reader tells them apart

An unanswerable question about a company the articles cover reads like this: its entity and
topic are in the passage, its answer is not. Training pairs some questions with such a paragraph
as no-answer examples (eval/train_reader.py --hard-neg); the confidence fit asks the held-out
DRCD/CMRC questions over their paragraphs made so, as unanswerable rows
(eval/fit_reader_confidence.py). Run as a script, it reads each held-out question over its
paragraph and over the near miss with a reader (the shipped one by default) and prints how often
each says "no answer" and the AUC of the best span's margin over the no-answer score.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = ROOT / "eval" / "gold" / "mrc_heldout.json"

_SENTENCE_END = "。！？!?\n"
MIN_LEFT = 60  # characters: less is not a paragraph to read


def without_answer_sentence(context: str, start: int, end: int) -> str:
    """`context` less the sentence(s) that [start, end) falls in, "" if too little is left."""
    lo = max((context.rfind(ch, 0, start) for ch in _SENTENCE_END), default=-1) + 1
    his = [i for ch in _SENTENCE_END if (i := context.find(ch, end)) >= 0]
    hi = min(his) + 1 if his else len(context)
    rest = (context[:lo] + context[hi:]).strip()
    return rest if len(rest) >= MIN_LEFT else ""


def near_miss_squad(src: Path, dest: Path) -> int:
    """A SQuAD-layout file of `src`'s paragraphs, each less the answer sentence of its first
    question (the one question kept: the others' answers may still be there); returns how many."""
    data = json.loads(src.read_text(encoding="utf-8"))["data"]
    out = []
    for art in data:
        for para in art["paragraphs"]:
            qa = para["qas"][0]
            ans = qa["answers"][0]
            s = int(ans["answer_start"])
            ctx = without_answer_sentence(para["context"], s, s + len(ans["text"]))
            if ctx and ans["text"] not in ctx:
                para_out = {"context": ctx, "qas": [{**qa, "answers": []}]}
                out.append(
                    {"title": f"{art.get('title', 'untitled')}-near", "paragraphs": [para_out]}
                )
    dest.write_text(json.dumps({"version": "near-miss", "data": out}, ensure_ascii=False))
    return len(out)


def main() -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from rag.reader.onnx_reader import DEFAULT_WEIGHTS, SpanReader

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_WEIGHTS
    reader = SpanReader.load(path)

    def margin(question: str, text: str) -> float:
        read = reader.read(question, [text])[0]
        return (read.spans[0].score if read.spans else -1e9) - read.null

    answerable, missed = [], []
    for art in json.loads(HELD_OUT.read_text(encoding="utf-8"))["data"]:
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                ans = qa["answers"][0]
                s = int(ans["answer_start"])
                answerable.append(margin(qa["question"], para["context"]))
                ctx = without_answer_sentence(para["context"], s, s + len(ans["text"]))
                if ctx and ans["text"] not in ctx:
                    missed.append(margin(qa["question"], ctx))
    pos, neg = np.array(answerable), np.array(missed)
    auc = float((pos[:, None] > neg[None, :]).mean())
    print(
        f"{path.name}: no answer on {np.mean(pos < 0):.3f} of {len(pos)} answerable held-out "
        f"questions and on {np.mean(neg < 0):.3f} of {len(neg)} near misses; AUC {auc:.3f}"
    )


if __name__ == "__main__":
    main()
