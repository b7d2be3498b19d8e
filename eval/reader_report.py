"""Rules against the trained reader on held-out data, side by side: tables, a plot, a breakdown.

    .venv/bin/python eval/reader_report.py [--split test] [--out eval/reports/reader]

Runs, for RAG_READER=rules and RAG_READER=e5-reader over the same indexes: the seeds gold set's
split, XQuAD zh->zh and en->zh (the questions of articles 25-48 for `--split test`, all
paragraphs indexed). Writes `README.md` (the comparison table and the reader's failure
breakdown), `metrics.json`, `comparison.png`, and the reader's numbers to
rag/reader/data/eval.json for its model card. Held-out splits only unless `--split dev`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.evaluate import (  # noqa: E402
    SquadRecord,
    evaluate_gold,
    evaluate_squad,
    gold_pipeline,
    load_gold,
    load_squad,
    open_squad_pipeline,
)
from rag.reader.onnx_reader import DATA_DIR  # noqa: E402

XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad"
READERS = ("rules", "e5-reader")


def breakdown(records: list[SquadRecord], read_k: int) -> dict[str, int]:
    """Where each question ended: right (EM), a partial span, or why it failed."""
    out = {"exact": 0, "partial (F1 > 0)": 0, "abstained": 0, "gold paragraph not read": 0}
    out |= {"read another paragraph's span": 0, "wrong span in the gold paragraph": 0}
    for r in records:
        if r.em:
            out["exact"] += 1
        elif r.abstained:
            out["abstained"] += 1
        elif r.rank is None or r.rank > read_k:
            out["gold paragraph not read"] += 1
        elif r.f1 > 0:
            out["partial (F1 > 0)"] += 1
        elif r.rank != 1:
            out["read another paragraph's span"] += 1
        else:
            out["wrong span in the gold paragraph"] += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "reports" / "reader")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    base = Settings.from_env(cache_size=0)
    results: dict[str, dict[str, Any]] = {r: {} for r in READERS}
    fails: dict[str, dict[str, int]] = {}
    gold = load_gold(ROOT / "eval" / "gold" / "seeds.jsonl", split=args.split, limit=args.limit)
    zh = load_squad(XQUAD / "xquad.zh.json", split=args.split, limit=args.limit)
    en = load_squad(
        XQUAD / "xquad.zh.json", XQUAD / "xquad.en.json", split=args.split, limit=args.limit
    )
    for reader in READERS:
        settings = replace(base, reader=reader)
        seeds = gold_pipeline(settings)
        m = evaluate_gold(seeds, gold, progress=True).metrics.as_dict()
        results[reader]["seeds"] = {
            k: m[k]
            for k in (
                "hit@5",
                "answer_accuracy",
                "false_abstention",
                "abstention_recall",
                "citation_validity",
            )
        }
        squad = open_squad_pipeline(zh, settings)
        for name, corpus in (("xquad zh->zh", zh), ("xquad en->zh", en)):
            run = evaluate_squad(squad, corpus.questions, progress=True)
            m = run.metrics.as_dict()
            results[reader][name] = {
                k: m[k] for k in ("R@1", "EM", "F1", "containment", "abstained")
            } | {"p50_ms": m["latency_ms"]["p50"]}
            if reader == "e5-reader":
                fails[name] = breakdown(run.records, squad.reader_settings.read_k)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(
        json.dumps({"split": args.split, "results": results, "breakdown": fails}, indent=2)
    )
    if args.split == "test" and args.limit is None:
        flat = {s: {k: _r(v) for k, v in m.items()} for s, m in results["e5-reader"].items()}
        (DATA_DIR / "eval.json").write_text(json.dumps(flat, indent=2) + "\n")
    lines = [
        f"# Rules vs the trained reader ({args.split} split)",
        "",
        "`python eval/reader_report.py"
        + (f" --split {args.split}" if args.split != "test" else "")
        + "`; seeds gold set split "
        f"`{args.split}` ({len(gold)} questions), XQuAD articles "
        f"{'25-48' if args.split == 'test' else '1-24'} ({len(zh.questions)} questions a "
        "language, all 240 paragraphs indexed). Latency is in process, during the run.",
        "",
        "| set | metric | rules | reader |",
        "|---|---|---|---|",
    ]
    for s in results["rules"]:
        for k in results["rules"][s]:
            lines.append(
                f"| {s} | {k} | {_r(results['rules'][s][k])} | {_r(results['e5-reader'][s][k])} |"
            )
    lines += ["", "## Where the reader still fails (XQuAD)", ""]
    lines += ["| outcome | " + " | ".join(fails) + " |", "|---" * (len(fails) + 1) + "|"]
    for k in next(iter(fails.values())):
        lines.append(f"| {k} | " + " | ".join(str(f[k]) for f in fails.values()) + " |")
    lines += ["", "![rules vs reader](comparison.png)"]
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    _plot(results, args.out / "comparison.png")
    print("\n".join(lines))
    return 0


def _r(v: object) -> object:
    return round(v, 3) if isinstance(v, float) else v


def _plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [
        ("seeds", "answer_accuracy"),
        ("xquad zh->zh", "EM"),
        ("xquad zh->zh", "F1"),
        ("xquad en->zh", "EM"),
        ("xquad en->zh", "F1"),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.38
    for i, reader in enumerate(READERS):
        xs = [j + (i - 0.5) * width for j in range(len(bars))]
        ax.bar(xs, [results[reader][s][k] or 0 for s, k in bars], width, label=reader)
    ax.set_xticks(range(len(bars)), [f"{s}\n{k}" for s, k in bars], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("held-out answers: rules vs trained reader")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
