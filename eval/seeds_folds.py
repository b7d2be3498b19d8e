"""Does training on the seeds' own reads help on seeds questions it did not see? Two readers, each
trained with one half of the seeds dev questions (`eval/train_reader.py --seeds-fold 0` / `1`,
exported), each asked the other half; beside them the shipped reader on the same questions. The
pooled out-of-fold metrics are an honest dev estimate of a reader trained on all of seeds dev.

    .venv/bin/python eval/seeds_folds.py runs/sf0/reader.onnx runs/sf1/reader.onnx
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seeds_reads import in_fold  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.evaluate import GoldRecord, evaluate_gold, gold_metrics, gold_pipeline, load_gold  # noqa: E402
from rag.reader.onnx_reader import DEFAULT_WEIGHTS, SpanReader  # noqa: E402

GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("fold0", type=Path, help="the reader trained with fold 0 (asked fold 1)")
    ap.add_argument("fold1", type=Path, help="the reader trained with fold 1 (asked fold 0)")
    args = ap.parse_args()
    items = load_gold(GOLD, split="dev")
    pipe = gold_pipeline(Settings.from_env(cache_size=0, reader="e5-reader"))
    shipped = SpanReader.load(DEFAULT_WEIGHTS)
    pooled: dict[str, list[GoldRecord]] = {"shipped": [], "out of fold": []}
    for trained, weights in ((0, args.fold0), (1, args.fold1)):
        asked = in_fold(items, 1 - trained)
        for name, reader in (("shipped", shipped), ("out of fold", SpanReader.load(weights))):
            # The pipeline loads its reader once, from the shipped file; a candidate is put in
            # its place here (an eval-only swap, so the service has one way to find its weights).
            pipe._reader, pipe._reader_loaded = reader, True
            pooled[name] += evaluate_gold(pipe, asked).records
    print("| reader | questions | accuracy | abstention recall | false abstention |")
    print("|---|---|---|---|---|")
    for name, records in pooled.items():
        m = gold_metrics(records)
        print(
            f"| {name} | {len(records)} | {m.answer_accuracy:.3f} | {m.abstention_recall:.3f} | "
            f"{m.false_abstention:.3f} |"
        )
    before = {r.id: r for r in pooled["shipped"]}
    for r in pooled["out of fold"]:
        b = before[r.id]
        if (r.correct, r.abstained) != (b.correct, b.abstained):
            print(f"  {r.id} {r.question[:50]}: {b.answer[:30]!r} -> {r.answer[:30]!r}")


if __name__ == "__main__":
    main()
