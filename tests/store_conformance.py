"""The promises every store engine keeps, as a class of tests each engine inherits.

    class TestMyEngine(StoreConformance):
        @pytest.fixture()
        def backend(self, tmp_path): return MyBackend(...)   # a fresh, empty store

Everything is written through `rag.indexing.Indexer` (the one writer) with the deterministic
`HashEmbedder`, so the suite runs in seconds and the same documents give the same vectors on every
engine. The shape follows Haystack's `haystack/testing/document_store.py`: one mixin per promise
would be finer-grained; one class keeps it readable at this size.
"""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from rag.chunk import ChunkSettings
from rag.embed import EmbeddingCache, HashEmbedder
from rag.indexing import Indexer
from rag.lexical import tokenize
from rag.script import fold
from rag.store import Store, StoreBackend, StoreError
from rag.types import Document

DOCS = [
    Document(
        "cloud", "阿里云在墨西哥建设数据中心。亚马逊云科技也宣布了新的区域。", title="云厂商出海"
    ),
    Document(
        "saudi",
        "腾讯云在沙特启动了数字化项目。当地合作伙伴负责运营。",
        url="https://www.36kr.com/p/1",
    ),
    Document("robot", "优必选的人形机器人进入汽车工厂。工厂计划明年扩大试点。"),
    Document("trad", "華為在北非五年內計劃投資4.3億美元。此舉將建設新的雲區域。"),
]
REPLACED = Document("cloud", "阿里云宣布在巴西建设第二座数据中心。", title="云厂商出海")


class StoreConformance:
    """Inherit and provide a `backend` fixture: a fresh, empty engine."""

    @pytest.fixture()
    def backend(self) -> StoreBackend:
        raise NotImplementedError("an engine's test class provides a fresh `backend`")

    @pytest.fixture()
    def indexer(self, backend: StoreBackend, tmp_path: Path) -> Indexer:
        embedder = HashEmbedder()
        cache = EmbeddingCache(tmp_path / "conformance-cache.sqlite")
        return Indexer(backend, embedder, cache, ChunkSettings(size=40, overlap=10))

    @pytest.fixture()
    def store(self, indexer: Indexer) -> Store:
        report = indexer.apply(DOCS, replace_all=True)
        assert report.store is not None
        return report.store

    # -- empty ----------------------------------------------------------------------------------
    def test_an_empty_store_has_no_version_and_says_how_to_build(
        self, backend: StoreBackend
    ) -> None:
        assert backend.committed_version() is None
        with pytest.raises(StoreError, match="rag build"):
            backend.open()

    # -- corpus ---------------------------------------------------------------------------------
    def test_documents_and_hashes_round_trip(self, store: Store, backend: StoreBackend) -> None:
        opened = backend.open()
        for s in (store, opened):
            assert dict(s.documents) == {d.doc_id: d for d in DOCS}
            assert set(s.hashes) == {d.doc_id for d in DOCS}
            assert s.stats.documents == len(DOCS)
        assert opened.version == store.version == backend.committed_version()
        assert dict(opened.hashes) == dict(store.hashes)

    def test_every_chunk_and_sentence_is_an_exact_slice_of_its_document(self, store: Store) -> None:
        rows = self._rows(store)
        assert len(rows) == store.stats.chunks
        assert sum(store.chunks_of(d.doc_id) for d in DOCS) == store.stats.chunks
        sentences = 0
        for row in rows:
            chunk = store.chunk(row)
            text = store.documents[chunk.doc_id].text
            assert text[chunk.start : chunk.end] == chunk.text
            assert chunk.chunk_id.startswith(f"{chunk.doc_id}#")
            assert chunk.tokens == tuple(tokenize(chunk.text))
            inside = store.chunk_sentences(row)
            assert [s.start for s in inside] == sorted(s.start for s in inside)
            for s in inside:
                assert s.doc_id == chunk.doc_id and s.start < chunk.end and s.end > chunk.start
                assert text[s.start : s.end] == s.text
            sentences += len(inside)
        assert sentences >= store.stats.sentences  # a sentence may lie in two chunks
        assert store.chunks_of("nobody") == 0

    def test_previous_sentence_stays_inside_its_document(self, store: Store) -> None:
        for row in self._rows(store):
            for s in store.chunk_sentences(row):
                prev = store.previous_sentence(s)
                if prev is not None:
                    assert prev.doc_id == s.doc_id and prev.end <= s.start

    def test_knows_the_tokens_of_its_chunks_only(self, store: Store) -> None:
        assert store.knows("墨西哥") and store.knows("数据中心")
        assert not store.knows("不存在的词汇")

    # -- vectors --------------------------------------------------------------------------------
    def test_a_chunk_is_its_own_nearest_neighbour(self, store: Store) -> None:
        embedder = HashEmbedder()
        for row in self._rows(store):
            vector = embedder.embed_queries([fold(store.chunk(row).text)])[0]
            hits = store.search(vector, k=3)
            assert hits[0][0] == row or hits[0][1] == pytest.approx(hits[1][1], abs=1e-5)
            scores = [s for _, s in hits]
            assert scores == sorted(scores, reverse=True)
        assert len(store.search(vector, k=10_000)) == store.stats.chunks

    def test_stored_vectors_are_the_embedders_vectors_of_the_folded_text(
        self, store: Store
    ) -> None:
        embedder = HashEmbedder()
        rows = self._rows(store)
        texts = [fold(store.chunk(r).text) for r in rows]
        assert np.allclose(store.chunk_vectors(rows), embedder.embed_passages(texts), atol=1e-5)
        sents = [s for r in rows for s in store.chunk_sentences(r)]
        got = store.sentence_vectors([s.row for s in sents])
        want = embedder.embed_passages([fold(s.text) for s in sents])
        assert np.allclose(got, want, atol=1e-5)

    # -- lexical --------------------------------------------------------------------------------
    def test_lexical_scores_are_bm25_over_the_chunk_tokens(self, store: Store) -> None:
        rows = self._rows(store)
        reference = bm25s.BM25()
        reference.index([list(store.chunk(r).tokens) or [""] for r in rows], show_progress=False)
        terms = {"数据中心": 1.0, "墨西哥": 0.5, "工厂": 1.0}
        want = sum(w * reference.get_scores([t]) for t, w in terms.items())
        top, scores = store.lexical(terms, k=len(rows), rows=rows, field_weight=0.0)
        assert np.allclose(scores, want, atol=1e-4)
        assert [r for r, _ in top] == [rows[i] for i in np.argsort(-want) if want[i] > 0]
        assert all(s > 0 for _, s in top)
        assert store.lexical(terms, k=0, rows=[], field_weight=0.0)[0] == []

    def test_document_fields_lift_every_chunk_of_the_named_source(self, store: Store) -> None:
        rows = self._rows(store)
        _, scores = store.lexical({"36kr": 1.0}, k=0, rows=rows, field_weight=0.5)
        for row, score in zip(rows, scores, strict=True):
            assert (score > 0) == (store.chunk(row).doc_id == "saudi")

    # -- writes ---------------------------------------------------------------------------------
    def test_nothing_changed_writes_nothing(self, store: Store, indexer: Indexer) -> None:
        report = indexer.apply(DOCS, replace_all=True, base=store)
        assert not report.changed and report.embedded == 0
        assert report.store is not None and report.store.version == store.version

    def test_a_replaced_document_loses_its_old_rows_and_rows_are_never_reused(
        self, store: Store, indexer: Indexer, backend: StoreBackend
    ) -> None:
        before = set(self._rows(store))
        old_rows = {r for r in before if store.chunk(r).doc_id == "cloud"}
        report = indexer.apply([REPLACED], base=store)
        after = backend.open()
        assert report.store is not None and report.store.version == after.version
        assert after.version != store.version
        assert after.documents["cloud"] == REPLACED
        rows = set(self._rows(after))
        assert not rows & old_rows, "the old chunks are gone"
        assert {r for r in rows - before} and min(rows - before) > max(before), "never reused"
        assert not after.knows("墨西哥") and after.knows("巴西")
        vector = HashEmbedder().embed_queries(["阿里云在墨西哥建设数据中心。"])[0]
        assert not {r for r, _ in after.search(vector, k=100)} & old_rows
        assert store.documents["cloud"] == DOCS[0], "an open state is never changed"

    def test_a_deleted_document_is_gone_from_every_leg(
        self, store: Store, indexer: Indexer, backend: StoreBackend
    ) -> None:
        report = indexer.apply(deletes=["robot"], base=store)
        assert report.removed == 1
        after = backend.open()
        assert "robot" not in after.documents and "robot" not in after.hashes
        assert after.chunks_of("robot") == 0
        rows = self._rows(after)
        assert all(after.chunk(r).doc_id != "robot" for r in rows)
        top, _ = after.lexical({"机器人": 1.0, "工厂": 1.0}, k=100, rows=[], field_weight=0.5)
        assert top == []
        vector = HashEmbedder().embed_queries(["优必选的人形机器人进入汽车工厂。"])[0]
        assert {r for r, _ in after.search(vector, k=100)} <= set(rows)
        assert after.stats.documents == len(DOCS) - 1

    def test_a_full_build_drops_documents_it_no_longer_holds(
        self, store: Store, indexer: Indexer
    ) -> None:
        report = indexer.apply(DOCS[:2], replace_all=True, base=store)
        assert (report.removed, report.unchanged) == (2, 2)
        assert report.store is not None and set(report.store.documents) == {"cloud", "saudi"}

    def test_a_writer_with_a_stale_base_keeps_what_was_committed_since(
        self, store: Store, indexer: Indexer
    ) -> None:
        extra = Document("extra", "字节跳动在新加坡设立研发中心。")
        indexer.apply([extra], base=store)
        late = Document("late", "百度在香港推出新的服务。")
        report = indexer.apply([late], base=store)  # `store` is stale now
        assert report.store is not None
        assert {"extra", "late"} <= set(report.store.documents)

    def test_other_chunking_recuts_every_document_instead_of_dropping_it(
        self, store: Store, backend: StoreBackend, tmp_path: Path
    ) -> None:
        embedder = HashEmbedder()
        cache = EmbeddingCache(tmp_path / "other-cache.sqlite")
        other = Indexer(backend, embedder, cache, ChunkSettings(size=20, overlap=0))
        report = other.apply([Document("new", "新文章讲述了出海的故事。")], base=store)
        assert report.store is not None
        assert set(report.store.documents) == {d.doc_id for d in DOCS} | {"new"}
        assert report.store.config.chunk_size == 20
        assert all(len(report.store.chunk(r).text) <= 20 for r in self._rows(report.store))

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _rows(store: Store) -> list[int]:
        """Every chunk row, ascending, found through the protocol alone (a search for all)."""
        probe = np.zeros(HashEmbedder().dim, dtype=np.float32)
        probe[0] = 1.0
        return sorted(r for r, _ in store.search(probe, k=store.stats.chunks or 1))
