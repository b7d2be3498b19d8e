"""FAISS generations write deltas: a write stores only what it changes, a reopened chain equals
what the writer holds in memory, and compaction gives back a full generation equal to a fresh
build. Unit layer: the hash embedder, small documents."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import ChunkSettings
from rag.embed import EmbeddingCache, HashEmbedder
from rag.indexing import Indexer
from rag.store import GenerationBackend
from rag.store.generations import CURRENT, MAX_DEPTH, Index, chain, open_index
from rag.types import Document

EMBEDDER = HashEmbedder()
PHRASES = [
    "阿里云在墨西哥建设数据中心。",
    "腾讯云在沙特启动项目。",
    "华为在北非投资。",
    "机器人进入汽车工厂。",
    "字节跳动在新加坡设立研发中心。",
    "百度在香港推出新服务。",
]
DEPTH = 4  # deltas before a compaction, in these tests (the default is MAX_DEPTH)


def _doc(i: int, rng: random.Random) -> Document:
    text = "".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 6)))
    return Document(f"doc{i:03d}", text, title=rng.choice(["出海", "云", ""]))


def _indexer(path: Path, max_depth: int = MAX_DEPTH) -> Indexer:
    cache = EmbeddingCache(path / "embeddings.sqlite")
    backend = GenerationBackend(path, EMBEDDER, max_depth=max_depth)
    return Indexer(backend, EMBEDDER, cache, ChunkSettings(40, 10))


def _same(a: Index, b: Index) -> None:
    assert a.documents == b.documents and a.hashes == b.hashes
    assert a.chunks == b.chunks and a.sentences == b.sentences
    assert a.stats == b.stats
    assert all(a.chunk_sentences(r) == b.chunk_sentences(r) for r in a.chunks)
    rows = [s.row for s in a.sentences]
    assert np.array_equal(a.sentence_vectors(rows), b.sentence_vectors(rows))
    assert np.array_equal(a.chunk_vectors(list(a.chunks)), b.chunk_vectors(list(b.chunks)))
    for s in a.sentences:
        assert a.previous_sentence(s) == b.previous_sentence(s)


def _answers_alike(a: Index, b: Index) -> None:
    """Same search hits (as sets of rows: ties may order differently across layers) and the same
    BM25, to the bit."""
    rows = sorted(a.chunks)
    assert rows == sorted(b.chunks)
    for phrase in PHRASES:
        v = EMBEDDER.embed_queries([phrase])[0]
        hits_a, hits_b = a.search(v, len(rows)), b.search(v, len(rows))
        assert {r for r, _ in hits_a} == {r for r, _ in hits_b} == set(rows)
        assert np.allclose(sorted(s for _, s in hits_a), sorted(s for _, s in hits_b), atol=1e-6)
        terms = {"数据中心": 1.0, "墨西哥": 0.4, "出海": 1.0}
        assert np.array_equal(a.lexical(terms, 0, rows, 0.5)[1], b.lexical(terms, 0, rows, 0.5)[1])


def test_a_small_write_is_a_delta_holding_only_its_document(tmp_path: Path) -> None:
    rng = random.Random(0)
    indexer = _indexer(tmp_path)
    base = indexer.apply([_doc(i, rng) for i in range(20)], replace_all=True).store
    report = indexer.apply([_doc(99, rng)], base=base)
    assert isinstance(report.store, Index)
    gen = report.store.path
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["base"] == base.version and manifest["depth"] == 1
    assert not (gen / "chunks.faiss").exists(), "a delta writes no index of the whole corpus"
    assert np.load(gen / "chunks.npy").shape[0] == report.store.chunks_of("doc099")
    assert chain(gen) == [gen.name, base.version]
    assert (tmp_path / base.version).is_dir(), "the base stays while a delta stands on it"


def test_many_writes_reopen_as_the_writer_holds_them_and_compact_to_a_fresh_build(
    tmp_path: Path,
) -> None:
    rng = random.Random(1)
    indexer = _indexer(tmp_path, max_depth=DEPTH)
    docs = {d.doc_id: d for d in (_doc(i, rng) for i in range(30))}
    store = indexer.apply(list(docs.values()), replace_all=True).store
    depths = []
    for step in range(3 * DEPTH + 2):
        if step % 3 == 2:
            gone = rng.choice(sorted(docs))
            del docs[gone]
            store = indexer.apply(deletes=[gone], base=store).store
        else:  # a new document, or a replaced one
            doc = _doc(rng.choice([100 + step, rng.randint(0, 29)]), rng)
            docs[doc.doc_id] = doc
            store = indexer.apply([doc], base=store).store
        assert isinstance(store, Index)
        depths.append(store.manifest.depth)
        assert set(store.documents) == set(docs)
        if step % 3 == 0:
            _same(store, open_index(tmp_path, EMBEDDER))
    assert max(depths) == DEPTH and depths.count(0) >= 2, "deltas, then compactions"
    reopened = open_index(tmp_path, EMBEDDER)
    _same(store, reopened)
    fresh = _indexer(tmp_path / "fresh").apply(list(docs.values()), replace_all=True).store
    assert isinstance(fresh, Index)
    assert fresh.documents.keys() == reopened.documents.keys()
    gens = {p.name for p in tmp_path.iterdir() if p.name.startswith("gen-")}
    assert gens == set(chain(tmp_path / (tmp_path / CURRENT).read_text().strip()))


def test_a_delta_state_answers_as_a_full_build_of_the_same_documents(tmp_path: Path) -> None:
    rng = random.Random(2)
    indexer = _indexer(tmp_path)
    docs = [_doc(i, rng) for i in range(12)]
    store = indexer.apply(docs[:8], replace_all=True).store
    for doc in docs[8:]:
        store = indexer.apply([doc], base=store).store
    store = indexer.apply(deletes=[docs[2].doc_id, docs[9].doc_id], base=store).store
    assert isinstance(store, Index) and store.manifest.depth == 5
    rebuilt = indexer.apply(
        [d for d in docs if d.doc_id not in {docs[2].doc_id, docs[9].doc_id}], replace_all=True
    )
    assert not rebuilt.changed, "the same documents: nothing to write"
    # A fresh folder, the same documents in the same order of writing: a full generation.
    full = (
        _indexer(tmp_path / "full")
        .apply(
            [d for d in docs if d.doc_id not in {docs[2].doc_id, docs[9].doc_id}], replace_all=True
        )
        .store
    )
    assert isinstance(full, Index) and full.manifest.depth == 0
    assert full.documents == store.documents
    # Rows differ (the delta state numbered its own), so compare by text.
    assert sorted(c.text for c in full.chunks.values()) == sorted(
        c.text for c in store.chunks.values()
    )
    v = EMBEDDER.embed_queries(["阿里云 墨西哥"])[0]
    top_full = [full.chunk(r).text for r, _ in full.search(v, 3)]
    top_delta = [store.chunk(r).text for r, _ in store.search(v, 3)]
    assert top_full == top_delta


@pytest.mark.parametrize("kind", ["delete-only", "replace"])
def test_dead_rows_never_come_back(tmp_path: Path, kind: str) -> None:
    rng = random.Random(3)
    indexer = _indexer(tmp_path)
    docs = [_doc(i, rng) for i in range(10)]
    store = indexer.apply(docs, replace_all=True).store
    assert store is not None
    old_rows = {r for r in store.chunks if store.chunk(r).doc_id == "doc003"}  # type: ignore[attr-defined]
    if kind == "replace":
        store = indexer.apply([Document("doc003", "全新的文本内容。")], base=store).store
    else:
        store = indexer.apply(deletes=["doc003"], base=store).store
    assert isinstance(store, Index)
    for phrase in PHRASES:
        v = EMBEDDER.embed_queries([phrase])[0]
        assert not {r for r, _ in store.search(v, 100)} & old_rows
    top, _ = store.lexical({t: 1.0 for t in ("数据中心", "墨西哥", "机器人", "工厂")}, 100, [], 0.5)
    assert not {r for r, _ in top} & old_rows


def test_a_follower_reads_only_the_delta_and_holds_what_a_fresh_open_holds(
    tmp_path: Path,
) -> None:
    """Another process (a second worker) follows a write by applying the delta to the state it
    has open, not by reading the corpus again."""
    rng = random.Random(4)
    indexer = _indexer(tmp_path)
    indexer.apply([_doc(i, rng) for i in range(10)], replace_all=True)
    backend = GenerationBackend(tmp_path, EMBEDDER)
    follower = backend.open()
    for write in ([_doc(50, rng)], ["doc002"]):  # another writer, through the folder
        if isinstance(write[0], Document):
            indexer.apply(write)  # type: ignore[arg-type]
        else:
            indexer.apply(deletes=write)  # type: ignore[arg-type]
        nxt = backend.open(reuse=follower)
        assert nxt.faiss_index is follower.faiss_index, "the open state was reused, not re-read"
        fresh = open_index(tmp_path, EMBEDDER)
        assert nxt.version == fresh.version
        _same(nxt, fresh)
        follower = nxt
