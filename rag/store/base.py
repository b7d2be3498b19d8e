"""The store's protocols: what queries read (`Store`), what writers write through (`StoreBackend`).

A `Store` is one committed state of the corpus, read-only and safe to share between threads: its
documents, chunks and sentences (`Corpus`), their vectors (`VectorIndex`) and BM25 over the chunks
(`LexicalIndex`). Every engine (FAISS + SQLite generation folders, Milvus) implements the same
three, so retrieval and answering never know which one they read. A `StoreBackend` opens the
committed state and applies a `ChangeSet` (documents whose rows go, new rows with their vectors)
as one atomic commit; `rag.indexing` computes the change set (diff by content hash, chunk,
tokenise, embed) and is the only writer.

Rows: a chunk's `row` is its id in the vector index, unique for the life of the store (never
reused, so ids stay stable across updates); a sentence's `row` is the backend's handle to its
vector (`sentence_vectors`), stable within one committed state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from rag.errors import RagError
from rag.lexical import han_bigrams
from rag.types import Document


class StoreError(RagError, RuntimeError):
    """An index that cannot be opened or written; the message says how to fix it."""


@dataclass(frozen=True)
class ChunkRow:
    row: int
    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class SentenceRow:
    row: int
    doc_id: str
    start: int
    end: int
    text: str
    tokens: tuple[str, ...]

    @cached_property
    def bigrams(self) -> frozenset[str]:
        return han_bigrams(self.text)


@dataclass(frozen=True)
class StoreConfig:
    """What a store's vectors and cuts were made with: a writer whose config differs cannot
    update it in place (the vectors or the chunks would not match), only rebuild it."""

    embedder: str
    dim: int
    chunk_size: int
    chunk_overlap: int


@dataclass(frozen=True)
class StoreStats:
    documents: int
    chunks: int
    sentences: int


def split_tokens(joined: str | None) -> tuple[str, ...]:
    """Stored space-joined tokens back to a tuple. Interned: a corpus repeats a small vocabulary
    millions of times, and separate string objects made token lists over half the memory of a
    100k-passage index (bench/memory.py)."""
    return tuple(sys.intern(t) for t in joined.split(" ")) if joined else ()


def content_hash(doc: Document) -> str:
    """What identifies a document's indexed content (text and the metadata we return)."""
    payload = json.dumps([doc.text, doc.title, doc.url, doc.published], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Corpus(Protocol):
    """Documents, chunks and sentences of one committed state."""

    @property
    def version(self) -> str:
        """Names this committed state: equal versions hold equal content (answer caches key on
        it, servers compare it to follow writes made elsewhere)."""
        ...

    @property
    def config(self) -> StoreConfig: ...

    @property
    def stats(self) -> StoreStats: ...

    @property
    def documents(self) -> Mapping[str, Document]: ...

    @property
    def hashes(self) -> Mapping[str, str]:
        """doc_id -> `content_hash` of what is stored."""
        ...

    def chunk(self, row: int) -> ChunkRow: ...

    def chunks_of(self, doc_id: str) -> int:
        """How many chunks a document has (0 when unknown)."""
        ...

    def chunk_sentences(self, row: int) -> list[SentenceRow]:
        """The sentences inside a chunk, in text order (what answer extraction reads)."""
        ...

    def previous_sentence(self, sent: SentenceRow) -> SentenceRow | None:
        """The sentence before `sent` in its document."""
        ...

    def knows(self, token: str) -> bool:
        """Whether some chunk holds this lexical token."""
        ...


class VectorIndex(Protocol):
    """Chunk and sentence vectors (normalised: inner product is cosine)."""

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k chunks nearest to one query vector: (chunk row, inner product), best first."""
        ...

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray: ...

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray: ...


class LexicalIndex(Protocol):
    """BM25 over the chunks' tokens, plus BM25 over their documents' fields (title, source host)."""

    def lexical(
        self, terms: Mapping[str, float], k: int, rows: Sequence[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        """Weighted BM25 (+ `field_weight` x the chunk's document-field BM25): the k best chunks
        with a positive score, best first, and the scores of the given `rows`, aligned."""
        ...


class Store(Corpus, VectorIndex, LexicalIndex, Protocol):
    """One committed state: everything a query reads."""


@dataclass
class NewRows:
    """A document to store with its cut pieces and their vectors (`rag.indexing` makes these)."""

    doc: Document
    hash: str
    chunks: list[ChunkRow]  # rows are assigned by the backend; `row` here is ignored
    chunk_vectors: np.ndarray
    sentences: list[SentenceRow]  # likewise
    sentence_vectors: np.ndarray


@dataclass
class ChangeSet:
    """One atomic write by a writer of `config`: drop every row of `drop` (deleted or replaced
    documents), add `add`. With `fresh`, the store starts empty (a rebuild), `drop` ignored."""

    config: StoreConfig
    add: list[NewRows] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    fresh: bool = False


@dataclass
class Committed:
    """What a writer starts from: the live state when it can be updated in place; otherwise
    (none yet, another embedder or chunking, unreadable with `replace_all`) `store` is None and
    `documents` holds whatever documents could be read, with their hashes, to be cut again."""

    store: Store | None
    documents: dict[str, tuple[Document, str]] = field(default_factory=dict)


class Transaction(Protocol):
    start: Committed

    def commit(self, changes: ChangeSet) -> Store:
        """Write the change set durably and atomically; returns the new committed state."""
        ...


class StoreBackend(Protocol):
    """The writable side of an engine; `open_backend(settings)` picks one."""

    @property
    def name(self) -> str: ...

    def committed_version(self) -> str | None:
        """The version of the committed state (cheap: servers poll it), None when empty."""
        ...

    def open(self, reuse: Store | None = None) -> Store:
        """The committed state; a StoreError that says how to build one when there is none.
        `reuse`, a state this process has open, may spare reading what it already holds."""
        ...

    def transaction(
        self, config: StoreConfig, base: Store | None, replace_all: bool
    ) -> contextlib.AbstractContextManager[Transaction]:
        """Exclusive write access (across processes) from the committed state. `base`, the
        caller's open copy, is used when it is still the committed one (no second read)."""
        ...

    def clean(self) -> list[str]:
        """Remove what crashed writes left behind; their names. Safe while others serve."""
        ...
