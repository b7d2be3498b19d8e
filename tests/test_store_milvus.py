"""The Milvus store (`rag.store.milvus`) keeps the store's promises on a real milvus-lite.

Unit level: the deterministic `HashEmbedder`, milvus-lite embedded in the test process (a
folder under tmp_path). Reads are checked against the FAISS + SQLite generations built from the
same documents, BM25 against bm25s itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bm25s
import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")

from conftest import SEEDS  # noqa: E402

from rag.embed import EmbeddingCache, HashEmbedder  # noqa: E402
from rag.indexing import Indexer  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.lexical import tokenize  # noqa: E402
from rag.store import GenerationBackend, StoreError  # noqa: E402
from rag.store.bm25 import field_tokens  # noqa: E402
from rag.store.milvus import MilvusBackend, MilvusStore  # noqa: E402
from rag.types import Document  # noqa: E402

pytestmark = pytest.mark.milvus

EMBEDDER = HashEmbedder(64)
QUESTIONS = [
    "阿里云 墨西哥 数据中心",
    "科大讯飞新加坡办公室是哪天开业的？",
    "据36氪的展望，MWC2024 上华为发布了什么",
    "腾讯云 海外 节点 数量",
    "出海 大模型 AI 公司",
    "智谱 MiniMax 月之暗面",
]


def _indexer(backend: object, tmp: Path) -> Indexer:
    return Indexer(backend, EMBEDDER, EmbeddingCache(tmp / "embeddings.sqlite"))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seeds() -> list[Document]:
    return load_sources([SEEDS]).documents


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, seeds: list[Document]
) -> tuple[MilvusStore, object]:
    """The seeds in Milvus and in FAISS generations, same embedder and cuts (read-only)."""
    tmp = tmp_path_factory.mktemp("milvus-seeds")
    milvus = MilvusBackend(str(tmp / "milvus.db"))
    faiss = GenerationBackend(tmp / "faiss", EMBEDDER)
    m = _indexer(milvus, tmp).apply(seeds, replace_all=True).store
    f = _indexer(faiss, tmp).apply(seeds, replace_all=True).store
    assert isinstance(m, MilvusStore)
    return m, f


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[MilvusBackend]:
    b = MilvusBackend(str(tmp_path / "milvus.db"), grace_seconds=0.0)
    yield b
    b.close()


def _doc(doc_id: str, text: str, title: str = "") -> Document:
    return Document(doc_id, text, title)


def test_reads_match_the_faiss_generations(built: tuple[MilvusStore, object]) -> None:
    m, f = built
    assert m.stats == f.stats  # type: ignore[attr-defined]
    assert dict(m.hashes) == dict(f.hashes)  # type: ignore[attr-defined]
    assert sorted(m.documents) == sorted(f.documents)  # type: ignore[attr-defined]
    for doc_id in m.documents:
        assert m.documents[doc_id] == f.documents[doc_id]  # type: ignore[attr-defined]
        assert m.chunks_of(doc_id) == f.chunks_of(doc_id)  # type: ignore[attr-defined]
    rows = list(range(m.stats.chunks))
    for row in rows:
        mc, fc = m.chunk(row), f.chunk(row)  # type: ignore[attr-defined]
        assert (mc.chunk_id, mc.text, mc.tokens, mc.start) == (
            fc.chunk_id,
            fc.text,
            fc.tokens,
            fc.start,
        )
        ms = m.chunk_sentences(row)
        fs = f.chunk_sentences(row)  # type: ignore[attr-defined]
        assert [(s.start, s.end, s.text) for s in ms] == [(s.start, s.end, s.text) for s in fs]
        assert np.allclose(
            m.sentence_vectors([s.row for s in ms]),
            f.sentence_vectors([s.row for s in fs]),  # type: ignore[attr-defined]
        )
        if ms:
            mp, fp = m.previous_sentence(ms[0]), f.previous_sentence(fs[0])  # type: ignore[attr-defined]
            assert (mp and mp.text) == (fp and fp.text)
    assert np.allclose(m.chunk_vectors(rows), f.chunk_vectors(rows), atol=1e-6)  # type: ignore[attr-defined]
    for tok in ["阿里云", "mwc2024", "没有这个词汇"]:
        assert m.knows(tok) == f.knows(tok)  # type: ignore[attr-defined]


def test_dense_search_finds_what_exact_search_finds(built: tuple[MilvusStore, object]) -> None:
    m, f = built
    for q in QUESTIONS:
        v = EMBEDDER.embed_queries([q])[0]
        got, want = m.search(v, 10), f.search(v, 10)  # type: ignore[attr-defined]
        assert [r for r, _ in got] == [r for r, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def _same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    """Equal scores in the same order; rows of equal score may come in either order (and the
    last such group may be cut at k differently)."""
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-6)

    def groups(ranked: list[tuple[int, float]]) -> dict[float, set[int]]:
        out: dict[float, set[int]] = {}
        for row, score in ranked:
            out.setdefault(round(score, 4), set()).add(row)
        return out

    g, w = groups(got), groups(want)
    last = min(w, default=None)
    assert all(g[s] == rows for s, rows in w.items() if s != last)


class _Bm25s:
    """The reference: bm25s.BM25() (defaults) over the chunks' tokens, plus bm25s over each
    document's fields weighted by `field_weight`, as retrieval scored before the store held BM25."""

    def __init__(self, store: MilvusStore) -> None:
        self.rows = _live_rows(store)
        chunks = [store.chunk(r) for r in self.rows]
        docs = sorted(store.documents)
        self.chunks = bm25s.BM25()
        self.chunks.index([list(c.tokens) or [""] for c in chunks], show_progress=False)
        self.fields = bm25s.BM25()
        fields = [field_tokens(store.documents[d]) or [""] for d in docs]
        self.fields.index(fields, show_progress=False)
        self.doc_of = np.array([docs.index(c.doc_id) for c in chunks])
        self.n_docs = len(docs)

    def lexical(
        self, terms: dict[str, float], k: int, rows: list[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        scores = np.zeros(len(self.rows), dtype=np.float32)
        fields = np.zeros(self.n_docs, dtype=np.float32)
        for tok, weight in terms.items():
            if tok in self.chunks.vocab_dict:
                scores += weight * self.chunks.get_scores([tok])
            if tok in self.fields.vocab_dict:
                fields += weight * self.fields.get_scores([tok])
        every = scores + field_weight * fields[self.doc_of]
        top = [(self.rows[i], float(every[i])) for i in np.argsort(-every)[:k] if every[i] > 0]
        return top, every[[self.rows.index(r) for r in rows]]


def _live_rows(store: MilvusStore) -> list[int]:
    v = store.search(EMBEDDER.embed_queries(["x"])[0], store.stats.chunks)
    return sorted(r for r, _ in v)


def test_bm25_scores_equal_bm25s(built: tuple[MilvusStore, object]) -> None:
    m, _ = built
    leg = _Bm25s(m)
    rows = list(range(0, m.stats.chunks, 3))
    for q in QUESTIONS:
        terms = {t: 1.0 for t in tokenize(q)} | {"ai": 0.4}
        got_top, got_rows = m.lexical(terms, 10, rows, 0.5)
        want_top, want_rows = leg.lexical(terms, 10, rows, 0.5)
        assert got_top, q
        _same_ranking(got_top, want_top)
        assert np.allclose(got_rows, want_rows, rtol=1e-5, atol=1e-6)


def test_bm25_stays_exact_after_writes(backend: MilvusBackend, tmp_path: Path) -> None:
    """Adds and deletes move the corpus statistics away from those the stored sparse vectors
    were made with; the scores still equal bm25s over the live rows."""
    docs = load_sources([SEEDS]).documents
    ix = _indexer(backend, tmp_path)
    ix.apply(docs[:3], replace_all=True)
    extra = _doc("short", "阿里云在墨西哥。腾讯云。", title="阿里云 短讯")
    ix.apply([*docs[3:], extra])
    store = ix.apply(deletes=[docs[0].doc_id]).store
    assert isinstance(store, MilvusStore)
    leg = _Bm25s(store)
    rows = _live_rows(store)[:20]
    for q in QUESTIONS:
        terms = {t: 1.0 for t in tokenize(q)}
        got_top, got_rows = store.lexical(terms, 10, rows, 0.5)
        want_top, want_rows = leg.lexical(terms, 10, rows, 0.5)
        _same_ranking(got_top, want_top)
        assert np.allclose(got_rows, want_rows, rtol=1e-5, atol=1e-6)


def test_every_write_changes_the_version_and_other_readers_see_it(
    backend: MilvusBackend, tmp_path: Path
) -> None:
    ix = _indexer(backend, tmp_path)
    assert backend.committed_version() is None
    with pytest.raises(StoreError, match="rag build"):
        backend.open()
    first = ix.apply([_doc("a", "阿里云在墨西哥建设数据中心。")], replace_all=True).store
    replica = MilvusBackend(backend.uri)  # a second process would open it the same way
    assert first is not None and replica.committed_version() == first.version
    second = ix.apply([_doc("a", "阿里云在巴西建设数据中心。")]).store
    assert second is not None and second.version != first.version
    assert replica.committed_version() == second.version
    assert replica.open().documents["a"].text == "阿里云在巴西建设数据中心。"
    third = ix.apply(deletes=["a"]).store
    assert third is not None and third.version not in {first.version, second.version}
    assert "a" not in replica.open().documents
    # No write, no new version.
    assert ix.apply(deletes=["a"]).store.version == third.version  # type: ignore[union-attr]


def test_a_reader_keeps_its_version_while_others_write(
    backend: MilvusBackend, tmp_path: Path
) -> None:
    ix = _indexer(backend, tmp_path)
    old = ix.apply(
        [_doc("a", "阿里云在墨西哥建设数据中心。"), _doc("b", "腾讯云在沙特开设节点。")],
        replace_all=True,
    ).store
    assert isinstance(old, MilvusStore)
    new = ix.apply(deletes=["a"]).store
    assert isinstance(new, MilvusStore)
    v = EMBEDDER.embed_queries(["阿里云 墨西哥"])[0]
    assert {old.chunk(r).doc_id for r, _ in old.search(v, 5)} == {"a", "b"}
    assert {new.chunk(r).doc_id for r, _ in new.search(v, 5)} == {"b"}
    top, _ = new.lexical({"阿里云": 1.0, "墨西哥": 1.0}, 5, [], 0.5)
    assert top == []
    assert "a" in old.documents and "a" not in new.documents


def test_a_crashed_write_leaves_the_committed_state(backend: MilvusBackend, tmp_path: Path) -> None:
    ix = _indexer(backend, tmp_path)
    ix.apply([_doc("a", "阿里云在墨西哥建设数据中心。")], replace_all=True)

    class Crash(Exception):
        pass

    # A writer that dies after writing its rows and marks, before moving `current`.
    with pytest.raises(Crash), backend.transaction(ix.config, None, False) as tx:
        store = tx.start.store
        assert isinstance(store, MilvusStore)
        names, v = store._names, store._pointer.version + 1
        backend._client.upsert(names.chunks, [{"row": 0, "died": v}], partial_update=True)
        backend._client.insert(
            names.documents,
            [
                {
                    "key": f"z@{v}#0",
                    "doc_id": "z",
                    "part": 0,
                    "text": "x",
                    "meta": {"hash": "h"},
                    "born": v,
                    "died": 2**62,
                    "v": [1.0, 0.0],
                }
            ],  # fmt: skip
        )
        raise Crash
    reader = backend.open()
    assert set(reader.documents) == {"a"}
    hit = reader.search(EMBEDDER.embed_queries(["阿里云"])[0], 3)
    assert [r for r, _ in hit] == [0]
    # The next writer undoes the leftovers before it writes, so its version is clean.
    after = ix.apply([_doc("b", "腾讯云在沙特开设节点。")]).store
    assert after is not None and set(after.documents) == {"a", "b"}
    assert [r for r, _ in after.search(EMBEDDER.embed_queries(["阿里云"])[0], 1)] == [0]


def test_a_rebuild_swaps_generations_and_the_old_one_goes(
    backend: MilvusBackend, tmp_path: Path
) -> None:
    ix = _indexer(backend, tmp_path)
    old = ix.apply([_doc("a", "阿里云在墨西哥建设数据中心。")], replace_all=True).store
    assert isinstance(old, MilvusStore)
    # Another embedder cannot update in place: everything is cut and embedded again.
    other = Indexer(backend, HashEmbedder(32), EmbeddingCache(tmp_path / "e32.sqlite"))
    new = other.apply([_doc("b", "腾讯云在沙特开设节点。")]).store
    assert isinstance(new, MilvusStore)
    assert new._pointer.gen != old._pointer.gen
    assert set(new.documents) == {"a", "b"} and new.config.dim == 32
    # grace_seconds=0: the retired generation is dropped at the next clean.
    removed = backend.clean()
    assert any(old._pointer.gen in r for r in removed)
    names = backend._client.list_collections()
    assert not any(old._pointer.gen in n for n in names)


def test_one_writer_at_a_time_across_clients(backend: MilvusBackend, tmp_path: Path) -> None:
    ix = _indexer(backend, tmp_path)
    ix.apply([_doc("a", "阿里云。")], replace_all=True)
    other = MilvusBackend(backend.uri)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backend.transaction(ix.config, None, False):
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(30)
        from rag.store import milvus

        started = time.monotonic()
        with pytest.raises(StoreError, match="another writer"), milvus._Lease(other, timeout=0.5):
            pass
        assert time.monotonic() - started < 10
    finally:
        release.set()
        t.join(30)
    # Released: the other client writes.
    other_ix = _indexer(other, tmp_path)
    assert other_ix.apply([_doc("b", "腾讯云。")]).store.stats.documents == 2  # type: ignore[union-attr]


def test_documents_longer_than_a_milvus_varchar_survive(
    backend: MilvusBackend, tmp_path: Path
) -> None:
    text = "阿里云在墨西哥建设数据中心。" * 1600  # 22k characters, 67 KB of UTF-8
    store = _indexer(backend, tmp_path).apply([_doc("long", text)], replace_all=True).store
    assert store is not None and store.documents["long"].text == text
