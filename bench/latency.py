"""Per-stage /ask latency, the bare question-embedding time, and what the answer cache buys.

    .venv/bin/python bench/latency.py [--index DIR] [--repeat N]

Without `--index` the seed index is built into a temporary folder from seeds/ (with `--index DIR`
an index already there is opened, an empty folder is built into). Questions: a fixed rule, the
first 10 English and the first 10 Chinese questions of the dev split of eval/gold/seeds.jsonl.

1. Cache OFF (`Settings(cache_size=0)`): every question is asked `--repeat` times, round-robin;
   right after each ask the same question is embedded alone (`embedder.embed_queries([q])`) and
   the response is serialised (`json.dumps`), so the three share the machine's noise. Reported:
   p50/p95/p99 of every stage of `timings_ms`, of the bare embedding and of the serialisation,
   and end-to-end p50 / bare-embedding p50 (target <= 1.3).
2. Cache ON (`cache_size=1024`): each question asked once (a miss) and then `--repeat` more times
   (hits); reported: miss and hit latency and the speed-up (miss p50 / hit p50).

One untimed warm-up ask runs first (the first embedder call pays a one-off start-up cost).
p99 of 100 samples is close to the maximum; read it as "the worst seen".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag.config import Settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.report import cpu_model  # noqa: E402
from rag.store import current_generation  # noqa: E402

GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"
PER_LANG = 10
STAGES = ("embed", "query_terms", "retrieve", "extract", "total")
RATIO_TARGET = 1.3


def questions(path: Path = GOLD, per_lang: int = PER_LANG) -> list[tuple[str, str]]:
    """(lang, question): the first `per_lang` en and the first `per_lang` zh of the dev split."""
    picked: dict[str, list[str]] = {"en": [], "zh": []}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        lang = row.get("lang")
        if row.get("split") == "dev" and lang in picked and len(picked[lang]) < per_lang:
            picked[lang].append(row["question"])
    return [("en", q) for q in picked["en"]] + [("zh", q) for q in picked["zh"]]


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def ms(value: float) -> str:
    """Milliseconds with the digits that matter: 3955, 52.8, 0.421, 0.0071."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def row(name: str, values: Sequence[float]) -> str:
    p50, p95, p99 = (ms(pct(values, q)) for q in (50, 95, 99))
    return f"| {name} | {p50} | {p95} | {p99} | {len(values)} |"


def machine() -> str:
    cpu = cpu_model()
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = ["?"]
    return f"{os.cpu_count()} cores, {cpu}, load average {' '.join(load)}"


def open_or_build(index_dir: Path, settings: Settings) -> tuple[Pipeline, float | None]:
    """The pipeline over `index_dir`; built from seeds/ when the folder holds no index."""
    pipe = Pipeline(settings)
    if current_generation(index_dir) is not None:
        return pipe, None
    t = time.perf_counter()
    pipe.build([ROOT / "seeds"])
    return pipe, time.perf_counter() - t


def cache_off(pipe: Pipeline, qs: list[tuple[str, str]], repeat: int) -> dict[str, Any]:
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    bare: list[float] = []
    dumps: list[float] = []
    sizes: list[int] = []
    by_lang: dict[str, dict[str, list[float]]] = {
        lang: {"total": [], "bare": []} for lang in ("en", "zh")
    }
    for _ in range(repeat):
        for lang, q in qs:
            resp = pipe.ask(q)
            for s in STAGES:
                stages[s].append(resp.timings_ms[s])
            by_lang[lang]["total"].append(resp.timings_ms["total"])
            t = time.perf_counter()
            pipe.embedder.embed_queries([q])
            ms = (time.perf_counter() - t) * 1000
            bare.append(ms)
            by_lang[lang]["bare"].append(ms)
            t = time.perf_counter()
            body = json.dumps(resp.to_json(), ensure_ascii=False)
            dumps.append((time.perf_counter() - t) * 1000)
            sizes.append(len(body.encode("utf-8")))
    return {"stages": stages, "bare": bare, "dumps": dumps, "sizes": sizes, "by_lang": by_lang}


def cache_on(pipe: Pipeline, qs: list[tuple[str, str]], repeat: int) -> dict[str, list[float]]:
    miss: list[float] = []
    hit: list[float] = []
    hit_wall: list[float] = []
    for _, q in qs:
        first = pipe.ask(q)
        assert "cache" not in first.timings_ms, "first ask of a question was a cache hit"
        miss.append(first.timings_ms["total"])
        for _ in range(repeat):
            t = time.perf_counter()
            again = pipe.ask(q)
            hit_wall.append((time.perf_counter() - t) * 1000)
            assert "cache" in again.timings_ms, "repeated question missed the cache"
            hit.append(again.timings_ms["total"])
    return {"miss": miss, "hit": hit, "hit_wall": hit_wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--index", type=Path, help="index folder (opened, or built from seeds/)")
    ap.add_argument("--repeat", type=int, default=5, help="asks per question (default 5)")
    args = ap.parse_args(argv)

    qs = questions()
    with tempfile.TemporaryDirectory(prefix="rag-latency-") as tmp:
        index_dir = args.index or Path(tmp) / "index"
        pipe, build_s = open_or_build(index_dir, Settings(index_dir=index_dir, cache_size=0))
        pipe.ask(qs[0][1])  # warm-up, untimed
        off = cache_off(pipe, qs, args.repeat)
        cached = Pipeline(Settings(index_dir=index_dir, cache_size=1024), embedder=pipe.embedder)
        on = cache_on(cached, qs, args.repeat)
        n_chunks = pipe.index.manifest.chunks

    print(f"# Latency ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
    print(f"Machine: {machine()}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    how = f"built in {build_s:.1f} s" if build_s else "opened"
    print(
        f"Index: {n_chunks} chunks ({how}); "
        f"{len(qs)} questions ({sum(1 for lang, _ in qs if lang == 'en')} en, "
        f"{sum(1 for lang, _ in qs if lang == 'zh')} zh) x {args.repeat} repeats\n"
    )
    print("Cache OFF, milliseconds:\n")
    print("| stage | p50 | p95 | p99 | n |")
    print("|---|---:|---:|---:|---:|")
    for s in STAGES:
        print(row(s, off["stages"][s]))
    print(row("bare question embedding (embed_queries alone)", off["bare"]))
    print(row("json.dumps of the response", off["dumps"]))
    total50, bare50 = pct(off["stages"]["total"], 50), pct(off["bare"], 50)
    ratio = total50 / bare50
    verdict = "meets" if ratio <= RATIO_TARGET else "misses"
    print(
        f"\nEnd-to-end p50 / bare-embedding p50 = {ms(total50)} / {ms(bare50)} = **{ratio:.2f}** "
        f"({verdict} the <= {RATIO_TARGET} target). Response size p50 "
        f"{int(pct(off['sizes'], 50))} bytes.\n"
    )
    print("| lang | total p50 | bare embed p50 | ratio |")
    print("|---|---:|---:|---:|")
    for lang, d in off["by_lang"].items():
        t50, b50 = pct(d["total"], 50), pct(d["bare"], 50)
        print(f"| {lang} | {ms(t50)} | {ms(b50)} | {t50 / b50:.2f} |")
    print("\nCache ON (cache_size=1024), milliseconds:\n")
    print("| ask | p50 | p95 | p99 | n |")
    print("|---|---:|---:|---:|---:|")
    print(row("first ask (miss), timings_ms.total", on["miss"]))
    print(row("repeated ask (hit), timings_ms.total", on["hit"]))
    print(row("repeated ask (hit), wall time around ask()", on["hit_wall"]))
    speedup = pct(on["miss"], 50) / pct(on["hit_wall"], 50)
    print(
        f"\nCache speed-up (miss p50 / hit wall p50): **{speedup:,.0f}x**; a hit costs "
        f"{ms(pct(on['hit_wall'], 50))} ms against {ms(pct(on['miss'], 50))} ms for a miss."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
