"""Traditional vs Simplified Chinese (issue 18): the seeds gold set in both scripts.

    python eval/script_eval.py [--no-fold] [--out eval/reports/traditional.md]

Three runs of the gold set (`eval/gold/seeds.jsonl`), each on both splits:

- `simplified`: as it is, on the seed index (the baseline);
- `traditional questions`: every question converted to Traditional with OpenCC (s2t), on the
  same index;
- `traditional articles`: the seed articles converted to Traditional (same doc_ids) and indexed
  afresh, asked the Simplified questions; the gold answers are converted too, since an
  extractive answer is in the article's script.

`--no-fold` measures the same with script folding switched off (`rag.script.fold` as the
identity in the tokeniser, the pipeline and the answerer, and a separately built Traditional
index), which is what the service did before issue 18. Indexes go under
`$RAG_CACHE_DIR/script-eval/` and are reused.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import opencc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.evaluate import GoldItem, evaluate_gold, load_gold  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402


def _cache() -> Path:
    root = os.environ.get("RAG_CACHE_DIR") or os.path.expanduser("~/.cache/rag")
    return Path(root) / "script-eval"


def _pipeline(index: Path, documents: list | None = None) -> Pipeline:
    pipe = Pipeline(replace(Settings.from_env(), index_dir=index, cache_size=0))
    if not pipe.ready:
        if documents is None:
            pipe.build([ROOT / "seeds"], progress=True)
        else:
            with pipe._write_lock:  # build from documents in memory, as Pipeline.build does
                pipe._writer().apply(documents, replace_all=True, progress=True)
            pipe = Pipeline(replace(Settings.from_env(), index_dir=index, cache_size=0))
    return pipe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-fold", action="store_true", help="switch script folding off")
    ap.add_argument("--out", help="append the Markdown table to this file")
    args = ap.parse_args()
    if args.no_fold:
        import rag.answer.spans
        import rag.lexical
        import rag.pipeline

        def identity(text: str) -> str:
            return text

        rag.lexical.fold = rag.pipeline.fold = rag.answer.spans.fold = identity
    s2t = opencc.OpenCC("s2t").convert
    tag = "nofold" if args.no_fold else "fold"
    simplified = _pipeline(_cache() / "seeds")  # tokens of Simplified text fold to themselves
    docs = load_sources([ROOT / "seeds"]).documents
    trad_docs = [replace(d, text=s2t(d.text), title=s2t(d.title or "")) for d in docs]
    traditional = _pipeline(_cache() / f"seeds-traditional-{tag}", trad_docs)

    rows = []
    for split in ("dev", "test"):
        gold = load_gold(ROOT / "eval" / "gold" / "seeds.jsonl", split=split)
        t_questions = [replace(g, question=s2t(g.question)) for g in gold]
        t_answers = [
            replace(g, answers=[[s2t(a) for a in group] for group in g.answers]) for g in gold
        ]
        runs: list[tuple[str, Pipeline, list[GoldItem]]] = [
            ("simplified", simplified, gold),
            ("traditional questions", simplified, t_questions),
            ("traditional articles", traditional, t_answers),
        ]
        for name, pipe, items in runs:
            m = evaluate_gold(pipe, items).metrics
            rows.append((split, name, m.hit_at[5], m.answer_accuracy, m.citation_validity))
            print(rows[-1], file=sys.stderr)
    head = f"folding {'off' if args.no_fold else 'on'}"
    lines = [
        f"| split | run ({head}) | hit@5 | accuracy | citation validity |",
        "|---|---|---|---|---|",
    ]
    for split, name, hit5, acc, valid in rows:
        lines.append(f"| {split} | {name} | {hit5:.3f} | {acc:.3f} | {valid:.3f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(table + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
