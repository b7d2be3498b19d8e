"""How the reader's ONNX runs could be grouped: one window a run (what it does), per question, in
groups of similar length, or across concurrent questions (micro-batching, issue 16), side by side
in one run; and how much a window's logits depend on the other windows of its run.

    .venv/bin/python bench/reader_batching.py [--questions 8] [--repeat 3]

The windows are real: each question is paired with three paragraphs of the seed articles, as
`rag.reader.answer` pairs it with three passages. Every row reads the same windows; medians of
--repeat. A run pads every window to the longest of its group, so what matters is how alike the
lengths in a group are, and whether bigger groups buy anything on these cores. A graph that
quantizes its activations dynamically (one scale per run: the reader shipped before 2026-12-03)
makes a window's logits depend on what else is in its run; the last lines say by how much (0
for today's, whose activations stay float).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag.ingest import load_sources  # noqa: E402
from rag.reader.features import Feature  # noqa: E402
from rag.reader.onnx_reader import SpanReader  # noqa: E402

QUESTIONS = [
    "华为计划在北非投资多少？",
    "阿里云在哪里建数据中心？",
    "When did iFlytek open its Singapore office?",
    "科大讯飞的办公室在哪里？",
    "腾讯云在海外有多少节点？",
    "Which clouds are building datacentres in Mexico?",
    "谁担任公司的首席执行官？",
    "哪些中国公司在出海？",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    docs = load_sources([ROOT / "seeds"]).documents
    paras = [p for d in docs for p in d.text.split("\n\n") if len(p) > 100]
    reader = SpanReader.load()
    qs = QUESTIONS[: args.questions]
    per_q = [[f for _, f in reader.features(q, paras[3 * i : 3 * i + 3])] for i, q in enumerate(qs)]
    every = [f for fs in per_q for f in fs]

    def runs(groups: list[list[Feature]]) -> Callable[[], None]:
        return lambda: [reader.run(g) for g in groups]  # type: ignore[func-returns-value]

    def by_length(feats: list[Feature], size: int) -> list[list[Feature]]:
        ordered = sorted(feats, key=lambda f: len(f.ids))
        return [ordered[i : i + size] for i in range(0, len(ordered), size)]

    rows = {
        "one window a run (what the reader does)": runs([[f] for f in every]),
        "each question in one run": runs(per_q),
        "each question, groups of 4 by length": runs([g for fs in per_q for g in by_length(fs, 4)]),
        "all questions together, groups of 4 by length": runs(by_length(every, 4)),
        "all questions together, groups of 8 by length": runs(by_length(every, 8)),
        "all questions in one run": runs([every]),
    }
    reader.run(every[:2])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeat):
        for name, run in rows.items():  # interleaved: every row shares the machine's noise
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) * 1000)
    lengths = sorted(len(f.ids) for f in every)
    print(
        f"{len(qs)} questions, {len(every)} windows ({lengths[0]}-{lengths[-1]} tokens), "
        f"x {args.repeat}, ONNX Runtime threads {reader.threads}\n"
    )
    base = statistics.median(times["one window a run (what the reader does)"])
    print("| grouping | median ms | speed vs the reader's |\n|---|---:|---:|")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"| {name} | {m:.0f} | {base / m:.2f}x |")
    alone = reader.logits(every)
    own = [lg for fs in per_q for lg in reader.run(fs)]
    together = reader.run(every)
    for label, other in (("with its question's", own), ("with every question's", together)):
        diff = max(float(abs(a - b).max()) for a, b in zip(alone, other, strict=True))
        print(f"\nmax |logit difference|, a window read alone vs {label}: {diff:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
