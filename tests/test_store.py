"""Store promises: the index survives on disk, updates are incremental (only new text is embedded),
deleted rows never come back (a delta kills them, a compaction removes them), and a build that
dies half-way leaves the previous index live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.chunk import ChunkSettings, chunk_document, split_sentences
from rag.config import Settings
from rag.embed import Embedder
from rag.indexing import open_indexer
from rag.ingest import load_sources
from rag.pipeline import Pipeline
from rag.retrieve import Retriever, make_query
from rag.store.generations import CURRENT, Index, current_generation, open_index
from rag.translate import Dictionary
from rag.types import Document

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MEXICO = "which clouds are building datacentres in Mexico?"
MEXICO_DOCS = {"000_8acd2f9418a98b58", "001_7aa850d2b7b17e92", "002_7e17846a98e3cd51"}
SEED_IDS = {p.stem for p in SEEDS.glob("*.txt")}
SMALL_DOC = "004_a0179fc3e901306a"  # the shortest seed: four chunks

NEW_DOC = Document(
    doc_id="new_lunar_base",
    title="月球基地计划",
    text=(
        "月球科研站将在二〇三五年前建成基本型。首批设备包括钻探机器人和太阳能电站。"
        "工程师计划用三次发射把模块送到南极附近的撞击坑边缘。\n\n"
        "第二阶段会扩建居住舱和通信中继卫星。国际伙伴可以提供载荷和科学仪器。"
        "项目负责人表示，水冰资源的勘探结果将决定基地的最终选址。\n\n"
        "为了减少运输成本，建筑材料尽量就地取材，利用月壤烧结砖块。"
        "试验表明，这种砖块能够承受剧烈的温差变化。"
    ),
)


def _texts_of(doc: Document) -> list[str]:
    return [c.text for c in chunk_document(doc)] + [s.text for s in split_sentences(doc)]


def _all_rows(index: Index, embedder: Embedder, question: str) -> list[int]:
    """Every chunk row the vector index can return for a query (k = all vectors)."""
    vector = embedder.embed_queries([question])[0]
    return [row for row, _ in index.search(vector, k=index.stats.chunks)]


def test_seed_index_reopens_from_disk_and_finds_the_mexico_clouds(
    seed_index_dir: Path, embedder: Embedder
) -> None:
    index = open_index(seed_index_dir, embedder)
    assert set(index.documents) == SEED_IDS
    assert index.faiss_index.ntotal == index.manifest.chunks == len(index.chunks)
    assert (
        len(index.sentence_vectors(range(len(index.sentences))))
        == index.manifest.sentences
        == len(index.sentences)
    )
    passages = Retriever(index).run(make_query(MEXICO, embedder, Dictionary.load()), top_k=5)
    assert any(p.doc_id in MEXICO_DOCS and "墨西哥" in p.text for p in passages), passages


def test_stored_offsets_slice_the_stored_text(seed_index_dir: Path, embedder: Embedder) -> None:
    index = open_index(seed_index_dir, embedder)
    for c in index.chunks.values():
        assert index.documents[c.doc_id].text[c.start : c.end] == c.text
    for s in index.sentences:
        assert index.documents[s.doc_id].text[s.start : s.end] == s.text


def test_adding_a_document_embeds_only_that_document(index_copy: Path, embedder: Embedder) -> None:
    texts = _texts_of(NEW_DOC)
    assert len(set(texts)) == len(texts)  # so the count below is exact
    before = open_index(index_copy, embedder)
    report = open_indexer(Settings(index_dir=index_copy), embedder).apply(upserts=[NEW_DOC])
    assert report.embedded == len(texts)
    assert (report.added, report.unchanged, report.removed) == (1, 0, 0)
    after = open_index(index_copy, embedder)
    assert set(after.documents) == SEED_IDS | {NEW_DOC.doc_id}
    n_new = len(chunk_document(NEW_DOC))
    assert after.stats.chunks == len(after.chunks) == before.stats.chunks + n_new
    rows = _all_rows(after, embedder, "月球基地用什么建筑材料？")[:3]
    assert after.chunks[rows[0]].doc_id == NEW_DOC.doc_id


def test_replacing_a_document_changes_its_content_and_drops_its_old_chunks(
    index_copy: Path, embedder: Embedder
) -> None:
    before = open_index(index_copy, embedder)
    old_rows = set(before.doc_chunks[SMALL_DOC])
    replacement = Document(doc_id=SMALL_DOC, text=NEW_DOC.text, title="替换后的文章")
    report = open_indexer(Settings(index_dir=index_copy), embedder).apply(upserts=[replacement])
    assert (report.added, report.removed, report.unchanged) == (1, 0, 0)
    after = open_index(index_copy, embedder)
    assert after.documents[SMALL_DOC].text == NEW_DOC.text
    assert after.documents[SMALL_DOC].title == "替换后的文章"
    assert old_rows.isdisjoint(after.chunks)
    assert "大语言模型" not in " ".join(after.chunks[r].text for r in after.doc_chunks[SMALL_DOC])
    returned = _all_rows(after, embedder, "中国AI大语言模型涌现，迟早会卷?")
    assert old_rows.isdisjoint(returned)
    n_new = len(chunk_document(replacement))
    assert after.stats.chunks == len(after.chunks) == before.stats.chunks - len(old_rows) + n_new


def test_deleting_a_document_removes_its_vectors(index_copy: Path, embedder: Embedder) -> None:
    before = open_index(index_copy, embedder)
    old_rows = set(before.doc_chunks[SMALL_DOC])
    report = open_indexer(Settings(index_dir=index_copy), embedder).apply(deletes=[SMALL_DOC])
    assert (report.removed, report.embedded) == (1, 0)
    after = open_index(index_copy, embedder)
    assert set(after.documents) == SEED_IDS - {SMALL_DOC}
    assert after.stats.chunks == len(after.chunks) == before.stats.chunks - len(old_rows)
    returned = _all_rows(after, embedder, "中国AI大语言模型涌现，迟早会卷?")
    assert set(returned) == set(after.chunks), "every live chunk, and only those"
    assert old_rows.isdisjoint(returned)
    assert all(s.doc_id != SMALL_DOC for s in after.sentences)
    assert len(after.sentence_vectors(range(len(after.sentences)))) == len(after.sentences)


def test_unchanged_rebuild_embeds_nothing_and_keeps_the_generation(
    index_copy: Path, embedder: Embedder
) -> None:
    live = (index_copy / CURRENT).read_text()
    docs = load_sources([SEEDS]).documents
    report = open_indexer(Settings(index_dir=index_copy), embedder).apply(
        upserts=docs, replace_all=True
    )
    assert (report.changed, report.embedded, report.unchanged) == (False, 0, len(SEED_IDS))
    assert (index_copy / CURRENT).read_text() == live


def _small_index(path: Path, embedder: Embedder, settings: ChunkSettings) -> None:
    docs = [
        Document(doc_id="a", text="阿里云在墨西哥建设数据中心。"),
        Document(doc_id="b", text="腾讯云在沙特启动了数字化项目。"),
    ]
    open_indexer(Settings(index_dir=path, chunk=settings), embedder).apply(
        upserts=docs, replace_all=True
    )


def test_other_chunk_settings_recut_every_document_instead_of_dropping_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    _small_index(tmp_path, embedder, ChunkSettings(300, 60))
    other = ChunkSettings(100, 10)
    report = open_indexer(Settings(index_dir=tmp_path, chunk=other), embedder).apply(
        upserts=[NEW_DOC]
    )
    assert report.changed
    index = open_index(tmp_path, embedder)
    assert set(index.documents) == {"a", "b", NEW_DOC.doc_id}
    assert (index.manifest.chunk_size, index.manifest.chunk_overlap) == (100, 10)
    assert all(len(c.text) <= 100 for c in index.chunks.values())


def test_build_removes_leftovers_of_crashed_builds(index_copy: Path, embedder: Embedder) -> None:
    leftover = index_copy / ".tmp-gen-20000101T000000-deadbeef"
    leftover.mkdir()
    (leftover / "meta.sqlite").write_bytes(b"half written")
    report = Pipeline(Settings(index_dir=index_copy), embedder=embedder).build([SEEDS])[0]
    assert not report.changed
    assert not leftover.exists()


def _write_many_documents(folder: Path, n: int) -> None:
    """n new articles (unseen text, so every chunk and sentence must be embedded)."""
    folder.mkdir()
    base = NEW_DOC.text
    for i in range(n):
        (folder / f"big_{i:03d}.txt").write_text(
            f"第{i}号报告。\n\n{base}\n\n编号{i}的附录。", "utf-8"
        )


def test_a_build_killed_midway_leaves_the_previous_index_usable(
    index_copy: Path, embedder: Embedder, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    _write_many_documents(big, 60)  # ~250 unseen texts: embedding takes far longer than startup
    live = current_generation(index_copy)
    cmd = [
        sys.executable,
        "-m",
        "rag.cli",
        "build",
        str(big),
        "--index",
        str(index_copy),
        "--quiet",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(index_copy.glob(".tmp-gen-*")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no build folder appeared"
            time.sleep(0.02)  # polling for the build folder, not a fixed wait
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert list(index_copy.glob(".tmp-gen-*")), "the kill should have hit a build in progress"
    assert current_generation(index_copy) == live

    index = open_index(index_copy, embedder)
    assert set(index.documents) == SEED_IDS
    pipe = Pipeline(Settings(index_dir=index_copy), embedder=embedder)
    passages = pipe.ask(MEXICO).passages
    assert any("墨西哥" in p.text for p in passages)

    report = pipe.build([SEEDS])[0]  # the next build clears what the killed one left
    assert (report.changed, report.embedded) == (False, 0)
    assert not list(index_copy.glob(".tmp-gen-*"))


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_opening_a_folder_without_an_index_says_to_run_rag_build(
    tmp_path: Path, embedder: Embedder, kind: str
) -> None:
    from rag.store import StoreError

    folder = tmp_path / "idx"
    if kind == "empty":
        folder.mkdir()
    with pytest.raises(StoreError, match=r"rag build --index"):
        open_index(folder, embedder)


# -- writes proportional to the change; several writers over one folder (issue 16) -------------


def _same(a: Index, b: Index) -> None:
    assert a.documents == b.documents and a.hashes == b.hashes
    assert a.chunks == b.chunks and a.sentences == b.sentences
    assert a.faiss_index.ntotal == b.faiss_index.ntotal
    assert (
        a.sentence_vectors(range(len(a.sentences))) == b.sentence_vectors(range(len(b.sentences)))
    ).all()
    assert all(a.chunk_sentences(r) == b.chunk_sentences(r) for r in a.chunks)


def test_a_write_hands_back_the_index_it_committed_without_reading_it(
    index_copy: Path, embedder: Embedder
) -> None:
    base = open_index(index_copy, embedder)
    report = open_indexer(Settings(index_dir=index_copy), embedder).apply([NEW_DOC], base=base)
    assert report.store is not None and report.store is not base
    _same(report.store, open_index(index_copy, embedder))  # what is in memory is what is on disk
    assert base.documents.keys() == SEED_IDS, "the reader's index was not touched by the write"
    again = open_indexer(Settings(index_dir=index_copy), embedder).apply(
        [NEW_DOC], base=report.store
    )
    assert not again.changed and again.store is report.store


def test_a_writer_with_a_stale_index_keeps_what_another_process_committed(
    index_copy: Path, embedder: Embedder
) -> None:
    """Two servers (workers) over one folder: each starts from its own open index, yet a write
    never drops what the other committed in between."""
    one = Pipeline(Settings(index_dir=index_copy), embedder=embedder)
    two = Pipeline(Settings(index_dir=index_copy), embedder=embedder)
    one.upsert(NEW_DOC)
    other = Document(doc_id="other", title="另一篇", text="第二个进程写入的文章。")
    two.upsert(other)  # `two` still had the generation before NEW_DOC open
    ids = set(open_index(index_copy, embedder).documents)
    assert ids == SEED_IDS | {NEW_DOC.doc_id, "other"}
    assert one.refresh() and set(one.index.documents) == ids
    assert not one.refresh(), "nothing new: nothing reloaded"
    assert two.delete(NEW_DOC.doc_id) and one.refresh()
    assert set(one.index.documents) == SEED_IDS | {"other"}
