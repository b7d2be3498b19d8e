"""The typed data that flows between the pipeline stages.

sources -> ingest (Document) -> chunk (Chunk, Sentence) -> embed -> store -> retrieve (Passage)
-> answer (the CONTRACT's /ask object). Every offset is a character offset into `Document.text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One article after cleaning; `text` is what every offset refers to."""

    doc_id: str
    text: str
    title: str = ""
    url: str | None = None
    published: str | None = None  # ISO 8601 date or datetime
    author: str | None = None
    source: str | None = None  # the file it came from, when it came from one


@dataclass(frozen=True)
class Span:
    """A piece of a document: `doc.text[start:end] == text`."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk(Span):
    """A retrieval unit (a few sentences)."""


@dataclass(frozen=True)
class Sentence(Span):
    """An answer-extraction unit."""


@dataclass
class Passage:
    """A retrieved chunk with its fused score and the score of each retrieval leg."""

    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    dense: float | None = None
    lexical: float | None = None
    row: int = field(default=-1, repr=False)  # the chunk's id in the store


def chunk_id(doc_id: str, n: int) -> str:
    """The public id of a document's n-th chunk, as in the CONTRACT (`000_8acd...#3`)."""
    return f"{doc_id}#{n}"
