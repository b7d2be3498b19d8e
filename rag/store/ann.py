"""Choose and build the FAISS index behind the dense store.

One job: turn L2-normalised float32 vectors and their int64 ids into an inner-product FAISS
index of the right kind, with search parameters that meet the recall target, and remove ids
from it later. The store owns persistence (`faiss.write_index` / `faiss.read_index`).

    >>> import numpy as np
    >>> vecs = np.random.default_rng(0).standard_normal((1000, 64)).astype(np.float32)
    >>> vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    >>> ids = np.arange(1000, dtype=np.int64) + 10_000
    >>> index = build_index(vecs, ids, choose_kind(len(ids)))  # AUTO -> FLAT at this size
    >>> scores, found = index.search(vecs[:1], 5)
    >>> int(found[0, 0])
    10000
    >>> index = remove_ids(index, ids[:1])
    >>> index.ntotal
    999

Kinds (numbers from `bench/faiss_scale.py`, see `bench/RESULTS.md` "FAISS index scale"):

- FLAT: exact; search cost grows linearly with n (61 ms per query at 1M on 2 cores).
- HNSW: graph, ~1.2x the raw vector memory, 0.4 ms queries at recall@10 0.98 at 1M; cannot
  remove in place (remove_ids rebuilds).
- IVFPQ: inverted lists of PQ codes (~1/14 of the raw memory) for when HNSW no longer fits;
  recall@10 only ~0.68 at 1M (over-fetch and re-rank exactly if that matters); needs
  training, so small collections fall back to FLAT.

Search parameters (efSearch, nprobe) are persisted by `faiss.write_index` in faiss 1.15
(checked: an IndexIDMap2(HNSW) and an IndexIVFPQ round-trip through serialize/deserialize keep
them); `set_search_params` re-applies this module's tuned values after loading anyway, so an
index written with older defaults searches with the current ones.
"""

from __future__ import annotations

import math
from enum import StrEnum

import faiss
import numpy as np


class IndexKind(StrEnum):
    """Which FAISS index to build (a str Enum); AUTO is resolved by `choose_kind`."""

    FLAT = "flat"
    HNSW = "hnsw"
    IVFPQ = "ivfpq"
    AUTO = "auto"


def parse_kind(s: str) -> IndexKind:
    """Parse a config/CLI string ("flat", "HNSW", ...) into an IndexKind, or fail clearly."""
    try:
        return IndexKind(s.strip().lower())
    except ValueError:
        valid = [k.value for k in IndexKind]
        raise ValueError(f"Unknown index kind {s!r}. Supported kinds are: {valid}") from None


# --- AUTO thresholds (bench/faiss_scale.py, 2 cores, 384-d, batch 1; bench/RESULTS.md) ---
# Exact flat search, CPU p50 per query: 0.25 ms at 10k, 7.1 ms at 100k, 61 ms at 1M (memory
# bound, ~0.7 ms per 10k once the matrix leaves cache), so it crosses the 2 ms budget near
# 30k; HNSW is 0.15-0.4 ms from 100k to 1M. Flat stays exact, builds instantly and removes in
# place, so it is kept up to here (~1.4 ms est.). At 10k HNSW was only 1.2x faster than flat.
FLAT_MAX_VECTORS = 25_000
# HNSW keeps every float32 vector plus its graph: 1732 MiB at 1M (~1.8 kB per 384-d vector).
# At 5M that is ~9 GB resident, plus a second copy while rebuilding after deletes, too much for
# a shared 24 GiB box; IVF-PQ stores ~108 B per vector (103 MiB at 1M) but recalls far less
# (0.68 at 1M in the bench), so it is only the choice when HNSW does not fit.
HNSW_MAX_VECTORS = 5_000_000

# --- HNSW construction and search ---
HNSW_M = 32  # graph degree; the usual knee for ~384-d text embeddings (recall vs memory)
# Build time at 1M: 896 s on 2 cores at load average ~18 (12 s per 100k on a quiet box);
# a larger efConstruction costs build time roughly in proportion.
HNSW_EF_CONSTRUCTION = 80
# Recall@10 at 1M: efSearch 64 -> 0.936, 96 -> 0.965 (cheapest >= 0.95, 0.33 ms), 128 -> 0.980
# (0.40 ms). 128 keeps a margin over 0.95 for real embeddings (10k synthetic needed 128) at
# 5x under the 2 ms budget.
HNSW_EF_SEARCH = 128

# --- IVF-PQ construction and search ---
IVF_LISTS_PER_SQRT_N = 4  # nlist ~ 4*sqrt(n), the FAISS guideline for 1M-scale IVF
IVF_MIN_POINTS_PER_LIST = 39  # FAISS k-means warns below 39 training points per centroid
# Training on a bounded sample keeps k-means affordable (IVF-PQ built in 163 s at 1M, busy
# box); it caps nlist at 2048, so lists grow beyond ~2.4k vectors past 5M.
IVF_TRAIN_SAMPLE = 100_000
PQ_DIMS_PER_SUBQUANTIZER = 4  # 384-d -> 96 B codes; 8 dims/sub: recall@10 0.72 vs 0.84 at 100k
PQ_BITS = 8  # 256 centroids per sub-quantizer, the fast standard PQ code size
# PQ codebooks need >= 39 * 256 training points; below this n fall back to FLAT (which is also
# exact and fast at that size, so nothing is lost).
IVFPQ_MIN_VECTORS = IVF_MIN_POINTS_PER_LIST * (1 << PQ_BITS)
# IVF-PQ recall@10 at 1M plateaus from nprobe 8-16 (0.674, 0.675; 0.677 at 32+) at 0.8 ms;
# past that PQ error, not the lists, limits recall. 16 leaves room for bigger lists at >5M.
IVF_NPROBE = 16

_SEED = 1234  # fixed training-sample seed so the same vectors always build the same index


def choose_kind(n_vectors: int) -> IndexKind:
    """Resolve AUTO: FLAT while exact search is within budget, then HNSW, then IVFPQ."""
    if n_vectors <= FLAT_MAX_VECTORS:
        return IndexKind.FLAT
    if n_vectors <= HNSW_MAX_VECTORS:
        return IndexKind.HNSW
    return IndexKind.IVFPQ


def ivf_nlist(n_vectors: int) -> int:
    """Number of IVF lists: a power of two near 4*sqrt(n), trainable from the sample."""
    n_train = min(n_vectors, IVF_TRAIN_SAMPLE)
    target = min(IVF_LISTS_PER_SQRT_N * math.sqrt(n_vectors), n_train / IVF_MIN_POINTS_PER_LIST)
    return max(1, 1 << int(math.floor(math.log2(max(target, 1.0)))))


def pq_subquantizers(dim: int) -> int:
    """Number of PQ sub-quantizers: the divisor of dim closest to dim / 4 (from below)."""
    m = max(1, dim // PQ_DIMS_PER_SUBQUANTIZER)
    while dim % m:
        m -= 1
    return m


def build_index(vectors: np.ndarray, ids: np.ndarray, kind: IndexKind) -> faiss.Index:
    """Build an inner-product index of `kind` over `vectors` that returns `ids` from search.

    vectors: float32, L2-normalised, shape (n, d). ids: int64, shape (n,), unique.
    AUTO is resolved with `choose_kind`; IVFPQ with fewer than IVFPQ_MIN_VECTORS falls back
    to FLAT. Search parameters are set (see `set_search_params`).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or ids.shape != (vectors.shape[0],):
        raise ValueError(f"vectors {vectors.shape} and ids {ids.shape} do not match")
    n, dim = vectors.shape
    if kind is IndexKind.AUTO:
        kind = choose_kind(n)
    if kind is IndexKind.IVFPQ and n < IVFPQ_MIN_VECTORS:
        kind = IndexKind.FLAT  # too few vectors to train PQ codebooks; flat is exact anyway

    index: faiss.Index
    if kind is IndexKind.FLAT:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    elif kind is IndexKind.HNSW:
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index = faiss.IndexIDMap2(hnsw)
    elif kind is IndexKind.IVFPQ:
        # the factory's index owns its coarse quantizer (no Python-side lifetime to manage)
        spec = f"IVF{ivf_nlist(n)},PQ{pq_subquantizers(dim)}x{PQ_BITS}np"
        index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
        index.train(training_sample(vectors))
    else:
        raise ValueError(f"Unsupported index kind {kind!r}")
    if n:
        index.add_with_ids(vectors, ids)
    set_search_params(index)
    return index


def set_search_params(index: faiss.Index, kind: IndexKind | None = None) -> faiss.Index:
    """Apply the tuned efSearch / nprobe to `index` (also after `faiss.read_index`).

    The parameters are chosen from the index's actual type, not `kind`, because an IVFPQ
    request on a small collection yields a flat index; `kind` is accepted for symmetry with
    `build_index` and only checked.
    """
    inner = inner_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        if kind not in (None, IndexKind.HNSW, IndexKind.AUTO):
            raise ValueError(f"index is HNSW but kind {kind!r} was given")
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    elif isinstance(inner, faiss.IndexIVF):
        inner.nprobe = min(IVF_NPROBE, inner.nlist)
    return index


def remove_ids(index: faiss.Index, ids: np.ndarray) -> faiss.Index:
    """Remove vectors by id; returns the index to use from now on (maybe a new object).

    FLAT (IndexIDMap2) and IVFPQ remove in place: O(n) scan. HNSW graphs cannot remove, so the
    remaining vectors are reconstructed from the IndexIDMap2's flat storage and the graph is
    rebuilt: O(n log n) with the build's constants, i.e. minutes at 1M (see RESULTS.md
    build times) and a second copy of the vectors in memory while it runs. Batch deletions.
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    inner = inner_index(index)
    if not isinstance(inner, faiss.IndexHNSW):
        index.remove_ids(faiss.IDSelectorBatch(ids))
        return index
    if not isinstance(index, faiss.IndexIDMap2):
        raise TypeError("an HNSW index must be wrapped in IndexIDMap2 to remove ids")
    all_ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    keep = ~np.isin(all_ids, ids)
    if keep.all():
        return index
    vectors = inner.reconstruct_n(0, inner.ntotal)[keep]
    return build_index(vectors, all_ids[keep], IndexKind.HNSW)


def inner_index(index: faiss.Index) -> faiss.Index:
    """The downcast index inside an id map (or the index itself)."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap):  # IndexIDMap2 subclasses IndexIDMap
        return faiss.downcast_index(index.index)
    return index


def training_sample(vectors: np.ndarray) -> np.ndarray:
    """At most IVF_TRAIN_SAMPLE rows, drawn without replacement with a fixed seed."""
    n = vectors.shape[0]
    if n <= IVF_TRAIN_SAMPLE:
        return vectors
    rows = np.random.default_rng(_SEED).choice(n, IVF_TRAIN_SAMPLE, replace=False)
    return vectors[np.sort(rows)]
