"""Near misses: a question over its own paragraph less the sentence that holds its answer.

    from near_miss import without_answer_sentence, near_miss_squad, swap_name
    .venv/bin/python eval/near_miss.py [READER.onnx]   # how well a reader tells them apart

An unanswerable question about a company the articles cover reads like this: its entity and
topic are in the passage, its answer is not. Training pairs some questions with such a paragraph
as no-answer examples (eval/train_reader.py --hard-neg); the confidence fit asks the held-out
DRCD/CMRC questions over their paragraphs made so, as unanswerable rows
(eval/fit_reader_confidence.py), and the seeds' answerable dev questions over the articles less
their answers' sentences (`near_miss_seeds`), the same kind in the articles' own domain. Run as
a script, it reads each held-out question over its paragraph and over the near miss with a
reader (the shipped one by default) and prints how often each says "no answer" and the AUC of
the best span's margin over the no-answer score.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.evaluate import GoldItem

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.chunk import SENTENCE_STOPS, sentence_stop  # noqa: E402
from rag.metrics import normalise  # noqa: E402

HELD_OUT = ROOT / "eval" / "gold" / "mrc_heldout.json"

MIN_LEFT = 60  # characters: less is not a paragraph to read


def without_answer_sentence(context: str, start: int, end: int) -> str:
    """`context` less the sentence(s) that [start, end) falls in, "" if too little is left."""
    lo = max((context.rfind(ch, 0, start) for ch in SENTENCE_STOPS), default=-1) + 1
    hi = min(sentence_stop(context, end) + 1, len(context))
    rest = (context[:lo] + context[hi:]).strip()
    return rest if len(rest) >= MIN_LEFT else ""


# jieba's tags for names: people, places, organisations, other proper nouns.
NAME_TAGS = ("nr", "ns", "nt", "nz")


def names(text: str) -> list[tuple[str, str]]:
    """The (name, tag) pairs jieba's tagger finds in a Chinese text, two characters or more."""
    import jieba.posseg as pseg

    return [(w.word, w.flag) for w in pseg.lcut(text) if w.flag in NAME_TAGS and len(w.word) > 1]


def swap_name(
    question: str, context: str, pool: dict[str, list[str]], rng: random.Random
) -> str | None:
    """The question with one of its names that the context holds put in place of another name
    of the same kind that the context does not hold, None where it has none: the paragraph
    speaks of the first, so it no longer answers the question (SQuAD 2.0's entity swap). The
    other near miss of the articles: "iFlytek's revenue" over a sentence on CapCut's."""
    held = [(w, t) for w, t in names(question) if w in context]
    if not held:
        return None
    word, tag = rng.choice(held)
    for _ in range(10):
        other = rng.choice(pool[tag])
        if other not in context and word not in other and other not in word:
            return question.replace(word, other, 1)
    return None


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


MAX_REMOVED = 4  # sentences a question's answer may sit in; more is not one fact removed


def _sentences(text: str) -> list[tuple[int, int]]:
    out, lo = [], 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_STOPS:
            out.append((lo, i + 1))
            lo = i + 1
    if lo < len(text):
        out.append((lo, len(text)))
    return out


def near_miss_seeds(
    documents: list[tuple[str, str]], gold: list[GoldItem], dest: Path, part: int, parts: int
) -> list[str]:
    """A SQuAD-layout file of the seeds' documents ((doc_id, cleaned text) pairs) less the
    sentences that hold the answer of every `parts`-th answerable dev question from `part` on:
    for each, the answer group found in the fewest sentences, every sentence holding one of its
    alternatives removed. Those questions, now unanswerable about articles that still speak of
    their companies, are returned (and written as the file's questions): the seeds' own near
    misses, of which their dev split has 12 written by hand."""
    sents = {d: [(a, b, normalise(t[a:b])) for a, b in _sentences(t)] for d, t in documents}

    def holding(alts: list[str]) -> set[tuple[str, int]]:
        keys = [normalise(x) for x in alts]
        return {
            (d, a) for d, rows in sents.items() for a, _, t in rows if any(k in t for k in keys)
        }

    asked = [g for g in gold if g.answers][part::parts]
    removed: set[tuple[str, int]] = set()
    chosen = []
    for g in asked:
        found = min((holding(alts) for alts in g.answers), key=len)
        if 0 < len(found) <= MAX_REMOVED:
            removed |= found
            chosen.append(g)
    texts = {
        d: "".join(t[a:b] for a, b, _ in sents[d] if (d, a) not in removed) for d, t in documents
    }
    left = {d: normalise(t) for d, t in texts.items()}

    # Only the questions whose answer is gone from every document (an alternative may also sit in
    # a sentence removed for another question, or stay where it was written apart).
    def answered(alts: list[str]) -> bool:
        return any(normalise(x) in t for t in left.values() for x in alts)

    gone = [g for g in chosen if not all(answered(alts) for alts in g.answers)]
    qas = [{"id": f"near-{g.id}", "question": g.question, "answers": []} for g in gone]
    data = [
        {"title": d, "paragraphs": [{"context": texts[d], "qas": qas if i == 0 else []}]}
        for i, (d, _) in enumerate(documents)
    ]
    dest.write_text(json.dumps({"version": "near-miss-seeds", "data": data}, ensure_ascii=False))
    return [g.question for g in gone]


def main() -> None:
    import numpy as np

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
