"""Chunking promises: every chunk and sentence is an exact slice of the document
(`text[start:end] == chunk.text`, what citations rely on), and chunks lose no text."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.chunk import ChunkSettings, chunk_document, split_sentences
from rag.ingest import load_sources
from rag.types import Document, Span

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_DOCS = load_sources([SEEDS]).documents
SETTINGS = [ChunkSettings(), ChunkSettings(150, 0), ChunkSettings(600, 180)]


def _uncovered(doc: Document, spans: list[Span]) -> str:
    covered = bytearray(len(doc.text))
    for s in spans:
        covered[s.start : s.end] = b"\x01" * (s.end - s.start)
    return "".join(
        c for c, hit in zip(doc.text, covered, strict=True) if not hit and not c.isspace()
    )


def _doc_ids(doc: Document) -> str:
    return doc.doc_id[:3]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.size}-{s.overlap}")
@pytest.mark.parametrize("doc", SEED_DOCS, ids=_doc_ids)
def test_chunk_offsets_are_exact(doc: Document, settings: ChunkSettings) -> None:
    chunks = chunk_document(doc, settings)
    assert chunks
    for c in chunks:
        assert c.doc_id == doc.doc_id
        assert doc.text[c.start : c.end] == c.text


@pytest.mark.parametrize("doc", SEED_DOCS, ids=_doc_ids)
def test_sentence_offsets_are_exact(doc: Document) -> None:
    sentences = split_sentences(doc)
    assert sentences
    for s in sentences:
        assert doc.text[s.start : s.end] == s.text
        assert s.text == s.text.strip()


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.size}-{s.overlap}")
@pytest.mark.parametrize("doc", SEED_DOCS, ids=_doc_ids)
def test_chunks_cover_all_non_space_text(doc: Document, settings: ChunkSettings) -> None:
    assert _uncovered(doc, list(chunk_document(doc, settings))) == ""


@pytest.mark.parametrize("doc", SEED_DOCS, ids=_doc_ids)
def test_sentences_cover_all_non_space_text(doc: Document) -> None:
    assert _uncovered(doc, list(split_sentences(doc))) == ""


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.size}-{s.overlap}")
def test_chunks_are_in_order_and_no_longer_than_the_size(settings: ChunkSettings) -> None:
    for doc in SEED_DOCS:
        chunks = chunk_document(doc, settings)
        assert all(len(c.text) <= settings.size for c in chunks)
        assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_repeated_paragraphs_keep_exact_offsets_and_full_coverage() -> None:
    para = "阿里云宣布将在墨西哥新建数据中心。重点布局AI基础设施。"
    doc = Document(doc_id="rep", text="\n\n".join([para] * 12 + ["最后一段不同。"]))
    chunks = chunk_document(doc, ChunkSettings(size=60, overlap=20))
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert _uncovered(doc, list(chunks)) == ""
    assert chunks[-1].end == len(doc.text)


def test_sentences_split_at_chinese_and_english_ends_and_line_breaks() -> None:
    doc = Document(doc_id="s", text="第一句。第二句！“引号里的话。”\n标题行\nIt works. Really?")
    assert [s.text for s in split_sentences(doc)] == [
        "第一句。",
        "第二句！",
        "“引号里的话。”",
        "标题行",
        "It works.",
        "Really?",
    ]


def test_bad_chunk_settings_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="0 <= overlap < size"):
        ChunkSettings(size=100, overlap=100)
    with pytest.raises(ValueError, match="size must be >= 20"):
        ChunkSettings(size=10, overlap=0)
