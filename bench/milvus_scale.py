"""FAISS (as the store builds it) vs milvus-lite (as `rag.store.milvus` builds it), side by side.

    nice -n 10 .venv/bin/python bench/milvus_scale.py --sizes 100000 --out bench/milvus_scale.json
    nice -n 10 .venv/bin/python bench/milvus_scale.py --sizes 1000000 --timeout 1500
    RAG_INDEX_DIR=index nice -n 10 .venv/bin/python bench/milvus_scale.py --sizes 101 \
        --engines seeds-faiss,seeds-milvus

For each size and engine, in a fresh subprocess (so its memory is its own): ingest rate (vectors
per second, until searchable), single-query latency p50/p95 over `--queries` queries (k=10,
batch 1), recall@10 against exact search, and the process's resident memory once loaded.

Vectors: the Gaussian mixture of bench/faiss_scale.py (384-d, normalised; random unit vectors
with topic structure, not text embeddings). FAISS: `rag.store.ann.build_index` with the kind
`choose_kind` picks (HNSW M=32 at these sizes, efSearch 128). milvus-lite: the chunk schema's
vector part (row id, born/died version fields, a FLOAT_VECTOR with HNSW M=32, efConstruction 80,
ef 128), inserted in batches of 1000 through pymilvus, searched with the store's version filter
(`born <= v and died > v`), embedded in the measuring process (its gRPC server is a thread
there, so its memory counts). The lexical (sparse) and metadata parts are not in these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/faiss_scale.py

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from faiss_scale import Mixture, recall_at_k, rss_bytes  # noqa: E402

K = 10
DIM = 384


def data(n: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    mix = Mixture(DIM, 2000, 0.35, 7)  # bench/faiss_scale.py's defaults
    return mix.sample(n, seed=1), mix.sample(queries, seed=2)


def exact(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The true top-k ids by inner product, in blocks (bounded temporaries)."""
    out = np.empty((len(queries), K), dtype=np.int64)
    best = np.full((len(queries), K), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        block = vectors[start : start + 100_000] @ queries.T  # (block, q)
        top = np.argpartition(-block, K, axis=0)[:K].T  # (q, K)
        scores = np.take_along_axis(block.T, top, axis=1)
        merged_s = np.concatenate([best, scores], axis=1)
        merged_i = np.concatenate([out, top + start], axis=1)
        order = np.argsort(-merged_s, axis=1)[:, :K]
        best = np.take_along_axis(merged_s, order, axis=1)
        out = np.take_along_axis(merged_i, order, axis=1)
    return out


def timed(search: Any, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    for q in queries[: max(1, min(10, len(queries) // 10))]:  # warm-up
        search(q)
    found, wall = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search(q))
        wall.append(time.perf_counter() - t)
    p50, p95 = np.percentile(np.array(wall) * 1e3, [50, 95])
    return np.array(found), float(p50), float(p95)


def run_faiss(n: int, queries: int) -> dict[str, Any]:
    import faiss

    from rag.store import ann

    vectors, qs = data(n, queries)
    truth = exact(vectors, qs)
    base = rss_bytes()
    kind = ann.choose_kind(n)
    t = time.perf_counter()
    index = ann.build_index(vectors, np.arange(n, dtype=np.int64), kind)
    ann.set_search_params(index, kind)
    ingest = time.perf_counter() - t
    faiss.omp_set_num_threads(1)  # one query uses one thread (bench/faiss_scale.py)
    found, p50, p95 = timed(lambda q: index.search(q.reshape(1, -1), K)[1][0], qs)
    return {
        "engine": f"faiss {kind.value}",
        "n": n,
        "ingest_s": ingest,
        "ingest_per_s": n / ingest,
        "p50_ms": p50,
        "p95_ms": p95,
        "recall@10": recall_at_k(found, truth),
        "rss_mib": (rss_bytes() - base) / 2**20,
        "rss_total_mib": rss_bytes() / 2**20,
    }


def run_milvus(n: int, queries: int) -> dict[str, Any]:
    from pymilvus import DataType, MilvusClient

    vectors, qs = data(n, queries)
    truth = exact(vectors, qs)
    base = rss_bytes()
    folder = tempfile.mkdtemp(prefix="milvus-bench-")
    client = MilvusClient(str(Path(folder) / "bench.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("born", DataType.INT64)
    schema.add_field("died", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    params = client.prepare_index_params()
    params.add_index(
        "vector", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 80}
    )
    client.create_collection("c", schema=schema, index_params=params, consistency_level="Strong")
    t = time.perf_counter()
    for start in range(0, n, 1000):
        block = vectors[start : start + 1000]
        client.insert(
            "c",
            [
                {"row": start + i, "born": 1, "died": 2**62, "vector": v}
                for i, v in enumerate(block.tolist())
            ],
        )
        if start % 100_000 == 0:
            print(f"  milvus insert {start}/{n} {time.perf_counter() - t:.0f}s", flush=True)
    inserted = time.perf_counter() - t
    print(f"  milvus inserted {n} in {inserted:.0f}s; flushing", flush=True)
    client.flush("c")
    # Searchable and indexed: the first search waits for what flush left to build.
    client.search("c", data=[qs[0].tolist()], anns_field="vector", limit=K)
    ingest = time.perf_counter() - t
    print(f"  milvus searchable after {ingest:.0f}s", flush=True)

    def search(q: np.ndarray) -> list[int]:
        hits = client.search(
            "c",
            data=[q.tolist()],
            anns_field="vector",
            limit=K,
            filter="born <= 1 and died > 1",
            search_params={"metric_type": "IP", "params": {"ef": 128}},
        )[0]
        return [int(h["row"]) for h in hits] + [-1] * (K - len(hits))

    found, p50, p95 = timed(search, qs)
    rss = rss_bytes()
    client.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "engine": "milvus-lite hnsw",
        "n": n,
        "insert_s": inserted,
        "ingest_s": ingest,
        "ingest_per_s": n / ingest,
        "p50_ms": p50,
        "p95_ms": p95,
        "recall@10": recall_at_k(found, truth),
        "rss_mib": (rss - base) / 2**20,
        "rss_total_mib": rss / 2**20,
    }


def run_seeds(store: str, queries: int) -> dict[str, Any]:
    """`Pipeline.ask` over the seeds' dev questions on one store: the whole query path (dense,
    lexical, sentences, answer), in process; vectors from the embedding cache in RAG_INDEX_DIR
    (copied from a FAISS build), so the build embeds nothing."""
    from rag.config import Settings
    from rag.evaluate import load_gold
    from rag.pipeline import Pipeline

    root = Path(__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix=f"seeds-{store}-")) / "index"
    folder.mkdir()
    cache = Path(os.environ.get("RAG_INDEX_DIR", "index")) / "embeddings.sqlite"
    if cache.exists():
        shutil.copy(cache, folder / "embeddings.sqlite")
    base = rss_bytes()
    pipe = Pipeline(Settings(index_dir=folder, store=store, cache_size=0))
    pipe.build([root / "seeds"])
    items = load_gold(root / "eval" / "gold" / "seeds.jsonl", split="dev")[:queries]
    for item in items[:5]:
        pipe.ask(item.question)
    wall = []
    for item in items:
        t = time.perf_counter()
        pipe.ask(item.question)
        wall.append(time.perf_counter() - t)
    p50, p95 = np.percentile(np.array(wall) * 1e3, [50, 95])
    return {
        "engine": f"seeds /ask, {store}",
        "n": len(items),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "rss_mib": (rss_bytes() - base) / 2**20,
        "rss_total_mib": rss_bytes() / 2**20,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| vectors | engine | ingest (vectors/s) | query p50 (ms) | p95 (ms) | recall@10 | "
        "process memory (MiB, growth / total) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "ingest_per_s" not in r and "error" not in r:
            lines.append(
                f"| {r['n']} questions | {r['engine']} | | {r['p50_ms']:.1f} | "
                f"{r['p95_ms']:.1f} | | {r['rss_mib']:,.0f} / {r['rss_total_mib']:,.0f} |"
            )
            continue
        if "error" in r:
            lines.append(f"| {r['n']:,} | {r['engine']} | {r['error']} | | | | |")
            continue
        lines.append(
            f"| {r['n']:,} | {r['engine']} | {r['ingest_per_s']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p95_ms']:.2f} | {r['recall@10']:.3f} | {r['rss_mib']:,.0f} / "
            f"{r['rss_total_mib']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000")
    ap.add_argument(
        "--engines",
        default="faiss,milvus",
        help="faiss, milvus (vectors only), seeds-faiss, seeds-milvus (/ask on the seeds; "
        "the size is the number of dev questions)",
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine and size")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--one", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        engine, n = args.one[0], int(args.one[1])
        if engine.startswith("seeds-"):
            print("RESULT " + json.dumps(run_seeds(engine[6:], n)), flush=True)
            return 0
        run = run_faiss if engine == "faiss" else run_milvus
        print("RESULT " + json.dumps(run(n, args.queries)), flush=True)
        return 0
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            cmd = [sys.executable, __file__, "--one", engine, str(n), "--queries"]
            try:
                out = subprocess.run(
                    [*cmd, str(args.queries)],
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                    check=False,
                )
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
                if lines:
                    results.append(json.loads(lines[-1][7:]))
                else:
                    tail = (out.stderr or out.stdout)[-300:].replace("\n", " ")
                    results.append({"engine": engine, "n": n, "error": f"failed: {tail}"})
            except subprocess.TimeoutExpired as exc:
                # Say how far it got: the last progress line of the killed run.
                partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout
                last = [ln for ln in (partial or "").splitlines() if ln.strip()][-1:]
                err = f"not done in {args.timeout:.0f} s (last: {' '.join(last).strip()})"
                results.append({"engine": engine, "n": n, "error": err})
            print(json.dumps(results[-1]), flush=True)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
