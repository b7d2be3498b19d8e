"""Benchmark FAISS index kinds at scale: exact flat vs HNSW vs IVF-PQ (and IVF-Flat).

    .venv/bin/python bench/faiss_scale.py --sizes 10000,100000,1000000 --out bench/faiss_scale.json

For each size: build time, index bytes (faiss.serialize_index) and RSS growth, single-query
(batch 1) latency p50/p95 over `--queries` queries, and recall@10 against exact search. HNSW
efSearch and IVF nprobe are swept; the reported setting is the cheapest with recall@10 >= the
target (0.95). Indexes are built with `rag.store.ann` so the numbers describe what the store builds.

Data: synthetic 384-d vectors from a Gaussian mixture (a few thousand centres with Zipf-like
weights, anisotropic noise with a decaying spectrum under a random rotation), L2-normalised.
Uniform random vectors on the sphere would be unrealistically hard for ANN (no neighbourhood
structure, all distances alike) and unlike text embeddings; this mixture has topic clusters
and a low effective dimension, which is closer. Queries are fresh draws from the same mixture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning: on a shared, oversubscribed machine spinning
# threads steal the cores the working thread needs. Must be set before faiss loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag.report import cpu_model  # noqa: E402
from rag.store import ann  # noqa: E402

K = 10
RECALL_TARGET = 0.95
WARMUP_QUERIES = 20  # untimed queries first: page in the index, spin up OpenMP
GEN_CHUNK = 100_000  # rows generated (and HNSW rows added) per step: bounds float64 temporaries
HNSW_EF_SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256)
NPROBE_SWEEP = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PLATEAU = 0.01  # an index that never reaches the target is reported within this of its best

T0 = time.perf_counter()


def log(msg: str) -> None:
    """A progress line with the elapsed time, flushed (readable in a nohup log)."""
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- data


@dataclass
class Mixture:
    """A fixed Gaussian mixture on the sphere to draw database vectors and queries from."""

    dim: int
    n_centres: int
    noise: float
    seed: int
    centres: np.ndarray = field(init=False, repr=False)
    weights: np.ndarray = field(init=False, repr=False)
    spectrum: np.ndarray = field(init=False, repr=False)
    rotation: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        c = rng.standard_normal((self.n_centres, self.dim))
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        w = 1.0 / np.sqrt(np.arange(1, self.n_centres + 1))  # Zipf-like topic sizes
        self.weights = w / w.sum()
        s = 1.0 / np.sqrt(np.arange(1, self.dim + 1))  # decaying noise spectrum
        self.spectrum = s / np.linalg.norm(s)  # E|noise| = self.noise
        q, _ = np.linalg.qr(rng.standard_normal((self.dim, self.dim)))
        self.rotation = q

    def sample(self, n: int, seed: int) -> np.ndarray:
        """n normalised float32 vectors, generated in chunks."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, GEN_CHUNK):
            m = min(GEN_CHUNK, n - start)
            labels = rng.choice(self.n_centres, size=m, p=self.weights)
            g = rng.standard_normal((m, self.dim)) * self.spectrum
            x = self.centres[labels] + self.noise * (g @ self.rotation)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[start : start + m] = x
        return out


# --------------------------------------------------------------------------- measuring


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids found in the returned top-k."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / truth.shape[1]


def latency_ms(index: faiss.Index, queries: np.ndarray) -> tuple[float, float, float]:
    """Wall p50, wall p95 and CPU p50 of single-query (batch 1) search latency, in ms.

    Timed with one OpenMP thread: these index types do not split one query across threads
    (flat, HNSW and IVF parallelise over queries), and a second thread only adds a barrier
    wait, measured at ~3x the single-thread latency for flat on this busy machine. The CPU
    time (time.thread_time) excludes time the process spent descheduled by other tenants.
    """
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for i in range(min(WARMUP_QUERIES, len(queries))):
            index.search(queries[i : i + 1], K)
        wall = np.empty(len(queries))
        cpu = np.empty(len(queries))
        for i in range(len(queries)):
            t, c = time.perf_counter(), time.thread_time()
            index.search(queries[i : i + 1], K)
            wall[i], cpu[i] = time.perf_counter() - t, time.thread_time() - c
    finally:
        faiss.omp_set_num_threads(threads)
    p50, p95 = np.percentile(wall, [50, 95]) * 1e3
    return float(p50), float(p95), float(np.percentile(cpu, 50) * 1e3)


@dataclass
class Point:
    """One search setting of one index."""

    param: str
    value: int | None
    recall: float
    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float


@dataclass
class Result:
    """One index kind at one size, with its sweep and the chosen setting."""

    n: int
    kind: str
    config: str
    build_s: float
    index_bytes: int
    rss_delta_bytes: int
    sweep: list[Point]
    chosen: Point
    meets_target: bool


def sweep(
    index: faiss.Index,
    queries: np.ndarray,
    truth: np.ndarray,
    param: str,
    values: Sequence[int | None],
    apply: Callable[[int], None],
) -> tuple[list[Point], Point, bool]:
    """Measure every setting; choose the cheapest (first) reaching the recall target."""
    points: list[Point] = []
    for v in values:
        if v is not None:
            apply(v)
        _, found = index.search(queries, K)
        rec = recall_at_k(found, truth)
        p50, p95, cpu50 = latency_ms(index, queries)
        points.append(Point(param, v, rec, p50, p95, cpu50))
        log(
            f"    {param}={v}: recall@{K}={rec:.3f} p50={p50:.3f} ms p95={p95:.3f} ms "
            f"cpu p50={cpu50:.3f} ms (load {os.getloadavg()[0]:.1f})"
        )
        if sum(p.recall >= RECALL_TARGET for p in points) >= 2:
            break  # one setting past the first that meets the target shows the trend
    meeting = [p for p in points if p.recall >= RECALL_TARGET]
    if not meeting:  # below target everywhere: report the cheapest setting on the plateau
        best = max(p.recall for p in points)
        meeting_plateau = [p for p in points if p.recall >= best - PLATEAU]
        return points, _apply(meeting_plateau[0], apply), False
    return points, _apply(meeting[0], apply), True


def _apply(point: Point, apply: Callable[[int], None]) -> Point:
    """Leave the index at the chosen setting."""
    if point.value is not None:
        apply(point.value)
    return point


def build_hnsw_with_progress(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """ann.build_index(HNSW) on the first chunk, then the rest in chunks with progress lines.

    Adding in chunks is what FAISS does inside one add call anyway (insertion is incremental);
    it only lets the bench print progress during a long build.
    """
    index = ann.build_index(vectors[:GEN_CHUNK], ids[:GEN_CHUNK], ann.IndexKind.HNSW)
    n = len(vectors)
    for start in range(GEN_CHUNK, n, GEN_CHUNK):
        t = time.perf_counter()
        index.add_with_ids(vectors[start : start + GEN_CHUNK], ids[start : start + GEN_CHUNK])
        log(f"    hnsw added {min(start + GEN_CHUNK, n):,}/{n:,} ({time.perf_counter() - t:.1f}s)")
    return index


def build_ivf_flat(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """IVF-Flat with the same nlist and training sample as ann's IVF-PQ (for comparison)."""
    spec = f"IVF{ann.ivf_nlist(len(vectors))},Flat"
    index = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    index.train(ann.training_sample(vectors))
    index.add_with_ids(vectors, ids)
    return index


def measure(
    n: int,
    kind: str,
    build: Callable[[], faiss.Index],
    queries: np.ndarray,
    truth: np.ndarray,
) -> Result:
    """Build one index, measure its size, sweep its search parameter."""
    log(f"  {kind}: building over {n:,} vectors")
    rss0 = rss_bytes()
    t = time.perf_counter()
    index = build()
    build_s = time.perf_counter() - t
    rss_delta = rss_bytes() - rss0
    index_bytes = int(faiss.serialize_index(index).nbytes)
    inner = ann.inner_index(index)
    log(f"  {kind}: built in {build_s:.1f}s, {index_bytes / 2**20:.0f} MiB serialised")

    if isinstance(inner, faiss.IndexHNSW):
        config = f"M={ann.HNSW_M} efConstruction={ann.HNSW_EF_CONSTRUCTION}"

        def set_ef(v: int) -> None:
            inner.hnsw.efSearch = v

        points, chosen, ok = sweep(index, queries, truth, "efSearch", HNSW_EF_SWEEP, set_ef)
    elif isinstance(inner, faiss.IndexIVF):
        config = f"nlist={inner.nlist} train={min(n, ann.IVF_TRAIN_SAMPLE):,}"
        if isinstance(inner, faiss.IndexIVFPQ):
            config += f" m={inner.pq.M}x{inner.pq.nbits}b"
        nlist = inner.nlist

        def set_nprobe(v: int) -> None:
            inner.nprobe = v

        values = [v for v in NPROBE_SWEEP if v <= nlist]
        points, chosen, ok = sweep(index, queries, truth, "nprobe", values, set_nprobe)
    else:
        config = "exact"
        points, chosen, ok = sweep(index, queries, truth, "-", [None], lambda v: None)
    del index
    return Result(n, kind, config, build_s, index_bytes, rss_delta, points, chosen, ok)


# --------------------------------------------------------------------------- report


def markdown_table(results: list[Result]) -> str:
    """One row per (size, kind) at the chosen setting."""
    flat_cpu = {r.n: r.chosen.cpu_p50_ms for r in results if r.kind == "flat"}
    rows = [
        "| n | index | config | search param | build s | index MiB | RSS Δ MiB "
        "| p50 ms | p95 ms | CPU p50 ms | recall@10 | speed-up vs flat (CPU p50) |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r.chosen
        param = "-" if c.value is None else f"{c.param}={c.value}"
        if not r.meets_target:
            param += " (< target)"
        speed = flat_cpu.get(r.n, float("nan")) / c.cpu_p50_ms if c.cpu_p50_ms else float("nan")
        rows.append(
            f"| {r.n:,} | {r.kind} | {r.config} | {param} | {r.build_s:.1f} "
            f"| {r.index_bytes / 2**20:.0f} | {r.rss_delta_bytes / 2**20:.0f} "
            f"| {c.p50_ms:.3f} | {c.p95_ms:.3f} | {c.cpu_p50_ms:.3f} | {c.recall:.3f} "
            f"| {speed:.1f}x |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--centres", type=int, default=2000, help="mixture components")
    p.add_argument("--noise", type=float, default=0.8, help="noise norm relative to centre")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--kinds", default="flat,hnsw,ivfpq,ivfflat")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench/faiss_scale.json"))
    args = p.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    faiss.omp_set_num_threads(args.threads)
    log(
        f"faiss {faiss.__version__}, {args.threads} threads, dim={args.dim}, sizes={sizes}, "
        f"kinds={kinds}, {args.queries} queries, mixture of {args.centres} centres"
    )
    mix = Mixture(args.dim, args.centres, args.noise, args.seed)
    queries = mix.sample(args.queries, seed=args.seed + 1)

    results: list[Result] = []
    data_stats: dict[int, dict[str, float]] = {}
    for n in sizes:
        run_size(n, kinds, mix, queries, args, results, data_stats)

    table = markdown_table(results)
    print()
    print(
        "Synthetic clustered data (Gaussian mixture, not uniform on the sphere: uniform "
        "vectors are unrealistically hard for ANN and unlike text embeddings)."
    )
    print(table)
    write_json(args, results, data_stats)
    log(f"wrote {args.out}; peak RSS {peak_rss_bytes() / 2**30:.2f} GiB")
    return 0


def run_size(
    n: int,
    kinds: list[str],
    mix: Mixture,
    queries: np.ndarray,
    args: argparse.Namespace,
    results: list[Result],
    data_stats: dict[int, dict[str, float]],
) -> None:
    """Generate n vectors, compute exact ground truth, measure every kind (appends results)."""
    log(f"n={n:,}: generating vectors")
    vectors = mix.sample(n, seed=args.seed + 2)
    ids = np.arange(n, dtype=np.int64) * 7 + 3  # not row numbers, to test the id mapping
    truth_index = faiss.IndexFlatIP(args.dim)
    truth_index.add(vectors)
    sims, rows = truth_index.search(queries, K)
    del truth_index
    truth = ids[rows]
    rand = vectors[np.random.default_rng(5).choice(n, size=len(queries))]
    data_stats[n] = {
        "mean_cos_top1": float(sims[:, 0].mean()),
        "mean_cos_top10": float(sims[:, K - 1].mean()),
        "mean_cos_random": float(np.mean(np.sum(queries * rand, axis=1))),
    }
    data_stats[n]["load_avg_1m_start"] = os.getloadavg()[0]
    log(f"n={n:,}: data {data_stats[n]}")

    builders: dict[str, Callable[[], faiss.Index]] = {
        "flat": lambda: ann.build_index(vectors, ids, ann.IndexKind.FLAT),
        "hnsw": lambda: build_hnsw_with_progress(vectors, ids),
        "ivfpq": lambda: ann.build_index(vectors, ids, ann.IndexKind.IVFPQ),
        "ivfflat": lambda: build_ivf_flat(vectors, ids),
    }
    for kind in kinds:
        results.append(measure(n, kind, builders[kind], queries, truth))
        write_json(args, results, data_stats)  # partial results survive a kill
    data_stats[n]["load_avg_1m_end"] = os.getloadavg()[0]


def write_json(
    args: argparse.Namespace, results: list[Result], data_stats: dict[int, dict[str, float]]
) -> None:
    """Write everything measured so far."""
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "threads": args.threads},
        "faiss": faiss.__version__,
        "data": {
            "kind": "gaussian mixture on the sphere (clustered, like text embeddings; "
            "uniform random vectors would be unrealistically hard for ANN)",
            "dim": args.dim,
            "centres": args.centres,
            "noise": args.noise,
            "queries": args.queries,
            "stats": {str(k): v for k, v in data_stats.items()},
        },
        "k": K,
        "recall_target": RECALL_TARGET,
        "ann_constants": {
            "HNSW_M": ann.HNSW_M,
            "HNSW_EF_CONSTRUCTION": ann.HNSW_EF_CONSTRUCTION,
            "IVF_TRAIN_SAMPLE": ann.IVF_TRAIN_SAMPLE,
            "PQ_DIMS_PER_SUBQUANTIZER": ann.PQ_DIMS_PER_SUBQUANTIZER,
        },
        "peak_rss_bytes": peak_rss_bytes(),
        "results": [asdict(r) for r in results],
        "table_markdown": markdown_table(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
