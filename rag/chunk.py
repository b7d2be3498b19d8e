"""Chunk: split a document into retrieval chunks and answer sentences, with exact offsets.

Entry points: `chunk_document(doc, settings) -> list[Chunk]` and
`split_sentences(doc) -> list[Sentence]`.

    >>> doc = Document(doc_id="d", text="第一句。第二句！\\n\\n第三段。")
    >>> [s.text for s in split_sentences(doc)]
    ['第一句。', '第二句！', '第三段。']

Both keep `doc.text[start:end] == text`, which is what citations rely on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.types import Chunk, Document, Sentence

# Paragraph, line, Chinese sentence ends, English sentence ends, then clause, space, character.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "! ", "? ", ". ", "，", ", ", " ", ""]


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk size and overlap in characters; the defaults and why are in index/README.md."""

    size: int = 300
    overlap: int = 60

    def __post_init__(self) -> None:
        if self.size < 20 or not 0 <= self.overlap < self.size:
            raise ValueError(
                f"chunk size must be >= 20 and 0 <= overlap < size (got {self.size}, "
                f"{self.overlap})"
            )


def chunk_document(doc: Document, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Recursive split on Chinese-aware separators; each chunk is an exact slice of the text."""
    settings = settings or ChunkSettings()
    splitter = RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        chunk_size=settings.size,
        chunk_overlap=settings.overlap,
        keep_separator="end",
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    cursor = 0
    for piece in splitter.split_text(doc.text):
        # Pieces come in order and overlap by at most `overlap`, so search from just behind the
        # previous piece's start rather than trusting a global find (repeated text would fool it).
        start = doc.text.find(piece, max(0, cursor))
        if start < 0:
            start = doc.text.find(piece)
        if start < 0:  # the splitter changed the text; never index a chunk we cannot cite
            continue
        chunks.append(Chunk(doc.doc_id, start, start + len(piece), piece))
        cursor = start + 1
    return chunks


# A sentence ends at a terminator (with any closing quotes or brackets after it) or a line break.
_SENTENCE = re.compile(r"[^\n]*?(?:[。！？!?；]+[”’」』）)\"']*|\.(?=\s|$)[”’\"']*|(?=\n)|$)", re.S)
MIN_SENTENCE_CHARS = 2


def split_sentences(doc: Document) -> list[Sentence]:
    """Sentences (and headings/short lines) of a document, trimmed, with exact offsets."""
    sentences: list[Sentence] = []
    for m in _SENTENCE.finditer(doc.text):
        raw = m.group(0)
        if not raw.strip():
            continue
        lead = len(raw) - len(raw.lstrip())
        start = m.start() + lead
        text = raw.strip()
        if len(text) >= MIN_SENTENCE_CHARS:
            sentences.append(Sentence(doc.doc_id, start, start + len(text), text))
    return sentences
