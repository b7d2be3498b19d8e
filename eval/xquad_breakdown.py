"""Where XQuAD answer containment is lost: retrieval, sentence choice, span, or abstention.

    .venv/bin/python eval/xquad_breakdown.py [--xquad DIR] [--english] [--split dev|test]

Every question is answered with abstention off, then sorted into the first outcome that holds:
the answer contains a gold span; the cited sentence does (so the span was wrong); the top passage
is from the gold paragraph (so the sentence was wrong); it is not. The share the default confidence
would abstain on is printed beside. Same index and settings as `rag eval --squad`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.answer import AnswerSettings  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate import SPLITS, load_squad, open_squad_pipeline  # noqa: E402
from rag.metrics import contains_span  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xquad", type=Path, default=Path("../shared/benchmarks/xquad"))
    ap.add_argument("--english", action="store_true", help="ask the English questions")
    ap.add_argument("--split", choices=SPLITS)
    args = ap.parse_args()
    questions = args.xquad / "xquad.en.json" if args.english else None
    corpus = load_squad(args.xquad / "xquad.zh.json", questions, split=args.split)
    pipe = open_squad_pipeline(corpus, Settings.from_env())
    default = pipe.answer_settings.abstain_below
    pipe.answer_settings = replace(AnswerSettings(), abstain_below=0.0)
    outcomes: Counter[str] = Counter()
    would_abstain = 0
    for q in corpus.questions:
        resp = pipe.ask(q.question)
        quote = resp.citations[0].quote if resp.citations else ""
        would_abstain += resp.confidence < default
        if contains_span(q.golds, resp.answer):  # the eval's containment
            outcomes["answer holds a gold span"] += 1
        elif contains_span(q.golds, quote):
            outcomes["right sentence, wrong span"] += 1
        elif resp.passages and resp.passages[0].doc_id == q.doc_id:
            outcomes["right paragraph, wrong sentence"] += 1
        else:
            outcomes["top passage from another paragraph"] += 1
    n = len(corpus.questions)
    print(f"{n} questions ({'en' if args.english else 'zh'}, split {args.split or 'all'})")
    for name, count in outcomes.most_common():
        print(f"  {name:36s} {count / n:.3f}")
    print(f"  {'(the default would abstain on)':36s} {would_abstain / n:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
