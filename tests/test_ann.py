"""rag.store.ann against real FAISS on small clustered synthetic data (fast: a few seconds)."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from rag.store import ann
from rag.store.ann import IndexKind

DIM = 32
N = 12_000  # above IVFPQ_MIN_VECTORS so IVF-PQ really trains
K = 10
ID_OFFSET = 1_000_000  # ids are not row numbers: checks the id mapping


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> object:
    """One OpenMP thread: on a busy shared machine, k-means barriers waiting for a descheduled
    second thread made these tests ~10x slower; the results do not depend on it."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors (like embeddings), their ids, and queries near random rows."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((200, DIM))
    vecs = _unit(centres[rng.integers(0, 200, N)] + 0.5 * rng.standard_normal((N, DIM)))
    ids = np.arange(N, dtype=np.int64) * 3 + ID_OFFSET
    queries = _unit(vecs[rng.choice(N, 50, replace=False)] + 0.05 * rng.standard_normal((50, DIM)))
    return vecs, ids, queries


def _exact(vecs: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ vecs.T
    return ids[np.argsort(-scores, axis=1)[:, :K]]


def _hnsw(index: faiss.Index) -> faiss.IndexHNSW:
    inner = ann.inner_index(index)
    assert isinstance(inner, faiss.IndexHNSW)
    return inner


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def built(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[IndexKind, faiss.Index]:
    vecs, ids, _ = data
    kinds = (IndexKind.FLAT, IndexKind.HNSW, IndexKind.IVFPQ)
    return {kind: ann.build_index(vecs, ids, kind) for kind in kinds}


# Minimum recall@10 against exact search. Measured: flat 1.0, HNSW 1.0, IVF-PQ ~0.8 (PQ codes
# are lossy); the bounds leave room for randomness but fail on a broken id map or metric.
MIN_RECALL = {IndexKind.FLAT: 1.0, IndexKind.HNSW: 0.95, IndexKind.IVFPQ: 0.6}


@pytest.mark.parametrize("kind", list(MIN_RECALL))
def test_each_kind_returns_true_neighbour_ids(
    kind: IndexKind,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    built: dict[IndexKind, faiss.Index],
) -> None:
    vecs, ids, queries = data
    index = built[kind]
    assert index.ntotal == N
    _, found = index.search(queries, K)
    truth = _exact(vecs, ids, queries)
    assert _recall(found, truth) >= MIN_RECALL[kind]
    assert np.mean(found[:, 0] == truth[:, 0]) >= MIN_RECALL[kind]  # the nearest one itself


def test_index_types_and_search_params(built: dict[IndexKind, faiss.Index]) -> None:
    flat = ann.inner_index(built[IndexKind.FLAT])
    hnsw = ann.inner_index(built[IndexKind.HNSW])
    ivf = ann.inner_index(built[IndexKind.IVFPQ])
    assert isinstance(flat, faiss.IndexFlatIP)
    assert isinstance(hnsw, faiss.IndexHNSWFlat)
    assert hnsw.metric_type == faiss.METRIC_INNER_PRODUCT
    assert hnsw.hnsw.efSearch == ann.HNSW_EF_SEARCH
    assert isinstance(ivf, faiss.IndexIVFPQ)
    assert ivf.metric_type == faiss.METRIC_INNER_PRODUCT
    assert ivf.nprobe == min(ann.IVF_NPROBE, ivf.nlist)


def test_search_params_survive_serialisation_and_can_be_reapplied(
    built: dict[IndexKind, faiss.Index],
) -> None:
    copy = faiss.deserialize_index(faiss.serialize_index(built[IndexKind.HNSW]))
    assert _hnsw(copy).hnsw.efSearch == ann.HNSW_EF_SEARCH  # persisted
    _hnsw(copy).hnsw.efSearch = 1
    ann.set_search_params(copy, IndexKind.HNSW)
    assert _hnsw(copy).hnsw.efSearch == ann.HNSW_EF_SEARCH


@pytest.mark.parametrize("kind", [IndexKind.FLAT, IndexKind.HNSW, IndexKind.IVFPQ])
def test_remove_ids_removes(
    kind: IndexKind,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    built: dict[IndexKind, faiss.Index],
) -> None:
    vecs, ids, _ = data
    index = faiss.deserialize_index(faiss.serialize_index(built[kind]))  # a copy to mutate
    gone = ids[:100]
    queries = vecs[:100]  # each removed vector is its own best match
    index = ann.remove_ids(index, gone)
    assert index.ntotal == N - 100
    _, found = index.search(queries, K)
    assert not np.isin(found, gone).any()
    # the rest is still found: the nearest remaining neighbours come back
    truth = _exact(vecs[100:], ids[100:], queries)
    assert _recall(found, truth) >= MIN_RECALL[kind]
    if kind is IndexKind.HNSW:
        assert _hnsw(index).hnsw.efSearch == ann.HNSW_EF_SEARCH


def test_remove_nothing_keeps_hnsw(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    vecs, ids, _ = data
    index = ann.build_index(vecs[:500], ids[:500], IndexKind.HNSW)
    assert ann.remove_ids(index, np.array([-5], dtype=np.int64)) is index


def test_ivfpq_too_small_to_train_falls_back_to_flat(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    vecs, ids, queries = data
    n = ann.IVFPQ_MIN_VECTORS - 1
    index = ann.build_index(vecs[:n], ids[:n], IndexKind.IVFPQ)
    assert isinstance(ann.inner_index(index), faiss.IndexFlatIP)
    _, found = index.search(queries, K)
    assert _recall(found, _exact(vecs[:n], ids[:n], queries)) == 1.0


def test_auto_resolves_by_size(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    vecs, ids, _ = data
    index = ann.build_index(vecs[:1000], ids[:1000], IndexKind.AUTO)
    assert isinstance(ann.inner_index(index), faiss.IndexFlatIP)


def test_choose_kind_thresholds() -> None:
    assert ann.choose_kind(0) is IndexKind.FLAT
    assert ann.choose_kind(ann.FLAT_MAX_VECTORS) is IndexKind.FLAT
    assert ann.choose_kind(ann.FLAT_MAX_VECTORS + 1) is IndexKind.HNSW
    assert ann.choose_kind(1_000_000) is IndexKind.HNSW
    assert ann.choose_kind(ann.HNSW_MAX_VECTORS) is IndexKind.HNSW
    assert ann.choose_kind(ann.HNSW_MAX_VECTORS + 1) is IndexKind.IVFPQ
    assert ann.FLAT_MAX_VECTORS < ann.HNSW_MAX_VECTORS


def test_parse_kind() -> None:
    assert ann.parse_kind("hnsw") is IndexKind.HNSW
    assert ann.parse_kind(" IVFPQ ") is IndexKind.IVFPQ
    assert ann.parse_kind("auto") is IndexKind.AUTO
    assert IndexKind.FLAT == "flat"  # a str enum: usable directly in configs and JSON


def test_parse_kind_error_lists_valid_values() -> None:
    with pytest.raises(ValueError) as err:
        ann.parse_kind("x")
    assert str(err.value) == (
        "Unknown index kind 'x'. Supported kinds are: ['flat', 'hnsw', 'ivfpq', 'auto']"
    )


def test_mismatched_ids_are_rejected(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    vecs, ids, _ = data
    with pytest.raises(ValueError, match="do not match"):
        ann.build_index(vecs[:10], ids[:9], IndexKind.FLAT)


def test_ivf_sizes() -> None:
    assert ann.ivf_nlist(1_000_000) == 2048  # 4*sqrt(n)=4000, but a 100k sample trains 2564
    assert ann.ivf_nlist(100_000) == 1024
    assert ann.pq_subquantizers(384) == 96
    assert ann.pq_subquantizers(30) == 6  # 30/4 -> 7 does not divide 30; next divisor below
