"""Near misses: a question over its own paragraph less the sentence that holds its answer.

    from near_miss import without_answer_sentence, near_miss_squad

An unanswerable question about a company the articles cover reads like this: its entity and
topic are in the passage, its answer is not. Training pairs some questions with such a paragraph
as no-answer examples (eval/train_reader.py --hard-neg); the confidence fit asks the held-out
DRCD/CMRC questions over their paragraphs made so, as unanswerable rows
(eval/fit_reader_confidence.py).
"""

from __future__ import annotations

import json
from pathlib import Path

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
