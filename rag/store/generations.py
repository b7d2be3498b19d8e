"""FAISS + SQLite generation folders: the default store (`RAG_STORE=faiss`).

Entry points: `GenerationBackend(index_dir, embedder)` (the `StoreBackend`: `open()`, and
`transaction(...)` for `rag.indexing`, the one writer); `open_index(index_dir, embedder) -> Index`,
the committed generation as a `Store`.

Layout (see index/README.md): `index/CURRENT` names the live generation folder `index/gen-*`,
which holds `manifest.json`, `meta.sqlite`, `chunks.faiss` and `sentences.npy`. A commit builds
a new generation in a temporary folder and swaps `CURRENT` with an atomic rename, so a crash
mid-write leaves the previous generation live and readers never see a half-written index.
`embeddings.sqlite` beside the generations caches vectors by content hash across rebuilds
(`rag.indexing` owns it).
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO

import faiss
import numpy as np

from rag.embed import Embedder
from rag.store.ann import IndexKind, build_index, choose_kind, remove_ids, set_search_params
from rag.store.base import (
    ChangeSet,
    ChunkRow,
    Committed,
    SentenceRow,
    Store,
    StoreConfig,
    StoreError,
    StoreStats,
)
from rag.store.bm25 import Bm25Leg
from rag.types import Document

FORMAT_VERSION = 1
CURRENT = "CURRENT"
CACHE_FILE = "embeddings.sqlite"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    embedder: str
    dim: int
    index_kind: str
    chunk_size: int
    chunk_overlap: int
    documents: int
    chunks: int
    sentences: int
    built_at: str
    next_chunk_row: int  # chunk rows are never reused, so FAISS ids stay unique across updates


def _split_tokens(joined: str | None) -> tuple[str, ...]:
    # Interned: a corpus repeats a small vocabulary millions of times, and separate string
    # objects made token lists over half the memory of a 100k-passage index (bench/memory.py).
    return tuple(sys.intern(t) for t in joined.split(" ")) if joined else ()


def read_manifest(path: Path) -> Manifest:
    """The manifest of a generation folder; a StoreError that says how to rebuild if unreadable."""
    try:
        return Manifest(**json.loads((path / "manifest.json").read_text("utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(
            f"index at {path.parent} is unreadable ({exc}); "
            f"run `rag build --index {path.parent}` to rebuild it"
        ) from exc


def read_documents(path: Path) -> dict[str, tuple[Document, str]]:
    """The documents of a generation folder with their content hashes (no vectors needed)."""
    con = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT doc_id, text, title, url, published, author, source, hash FROM documents"
        ).fetchall()
    finally:
        con.close()
    return {row[0]: (Document(*row[:7]), row[7]) for row in rows}


class Index:
    """One open, read-only generation (a `Store`): metadata in memory, vectors in FAISS and
    NumPy, BM25 built at open."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self.path = path
        self.manifest = read_manifest(path)
        m = self.manifest
        rebuild = f"run `rag build --index {path.parent}` to rebuild"
        if m.format_version != FORMAT_VERSION:
            raise StoreError(
                f"index at {path.parent} has format {m.format_version}; this version reads "
                f"format {FORMAT_VERSION}: {rebuild}"
            )
        if m.embedder != embedder.name or m.dim != embedder.dim:
            raise StoreError(
                f"index at {path.parent} was built with embedder {m.embedder} (dim {m.dim}); "
                f"this run uses {embedder.name} (dim {embedder.dim}): {rebuild}, or set "
                f"RAG_EMBEDDER={m.embedder}"
            )
        self.documents: dict[str, Document] = {}
        self.hashes: dict[str, str] = {}
        self.n_chunks: dict[str, int] = {}
        self.chunks: dict[int, ChunkRow] = {}
        self.doc_chunks: dict[str, list[int]] = {}
        self.sentences: list[SentenceRow] = []
        self.doc_sentences: dict[str, list[int]] = {}
        for doc_id, (doc, digest) in read_documents(path).items():
            self.documents[doc_id] = doc
            self.hashes[doc_id] = digest
        con = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)
        try:
            for r in con.execute(
                "SELECT row, chunk_id, doc_id, start, end, text, tokens FROM chunks ORDER BY row"
            ):
                row, cid, doc_id, start, end, text, tokens = r
                chunk = ChunkRow(row, cid, doc_id, start, end, text, _split_tokens(tokens))
                self.chunks[chunk.row] = chunk
                self.doc_chunks.setdefault(chunk.doc_id, []).append(chunk.row)
            for r in con.execute(
                "SELECT row, doc_id, start, end, text, tokens FROM sentences ORDER BY row"
            ):
                row, doc_id, start, end, text, tokens = r
                sent = SentenceRow(row, doc_id, start, end, text, _split_tokens(tokens))
                self.sentences.append(sent)
                self.doc_sentences.setdefault(sent.doc_id, []).append(sent.row)
        finally:
            con.close()
        self.faiss_index = faiss.read_index(str(path / "chunks.faiss"))
        set_search_params(self.faiss_index, IndexKind(m.index_kind))
        self._sentence_matrix = np.load(path / "sentences.npy")
        self._derive()

    @classmethod
    def from_parts(
        cls,
        path: Path,
        manifest: Manifest,
        docs: dict[str, Document],
        hashes: dict[str, str],
        chunk_rows: list[ChunkRow],
        sent_rows: list[SentenceRow],
        faiss_index: faiss.Index,
        sentence_vectors: np.ndarray,
    ) -> Index:
        """The generation a writer has just committed at `path`, from what it wrote, without
        reading it back (the writer hands it to the pipeline, which swaps it in)."""
        index = cls.__new__(cls)
        index.path = path
        index.manifest = manifest
        index.documents = dict(docs)
        index.hashes = dict(hashes)
        index.chunks = {c.row: c for c in sorted(chunk_rows, key=lambda c: c.row)}
        index.doc_chunks = {}
        for c in index.chunks.values():
            index.doc_chunks.setdefault(c.doc_id, []).append(c.row)
        index.sentences = list(sent_rows)
        index.doc_sentences = {}
        for sent in index.sentences:
            index.doc_sentences.setdefault(sent.doc_id, []).append(sent.row)
        index.faiss_index = faiss_index
        set_search_params(faiss_index, IndexKind(manifest.index_kind))
        index._sentence_matrix = sentence_vectors
        index._derive()
        return index

    def _derive(self) -> None:
        self.n_chunks = {d: len(rows) for d, rows in self.doc_chunks.items()}
        # Which sentences lie in each chunk: asked for every candidate chunk of every query, so it
        # is worked out once here (sentences of a document are stored in text order).
        self._chunk_sentences: dict[int, list[int]] = {}
        for doc_id, rows in self.doc_chunks.items():
            sents = self.doc_sentences.get(doc_id, [])
            ends = [self.sentences[i].end for i in sents]
            for row in rows:
                chunk = self.chunks[row]
                first = bisect.bisect_right(ends, chunk.start)
                inside = []
                for i in sents[first:]:
                    if self.sentences[i].start >= chunk.end:
                        break
                    inside.append(i)
                self._chunk_sentences[row] = inside
        self._lexical = Bm25Leg(list(self.chunks.values()), self.documents)

    # -- Corpus --------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.path.name

    @property
    def config(self) -> StoreConfig:
        m = self.manifest
        return StoreConfig(m.embedder, m.dim, m.chunk_size, m.chunk_overlap)

    @property
    def stats(self) -> StoreStats:
        m = self.manifest
        return StoreStats(m.documents, m.chunks, m.sentences)

    def chunk(self, row: int) -> ChunkRow:
        return self.chunks[row]

    def chunks_of(self, doc_id: str) -> int:
        return self.n_chunks.get(doc_id, 0)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every token of every chunk: the words this index can match lexically."""
        return frozenset(t for c in self.chunks.values() for t in c.tokens)

    def knows(self, token: str) -> bool:
        return token in self.vocabulary

    # -- VectorIndex ---------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k chunks nearest to one normalised query vector: (chunk row, inner product)."""
        if not self.chunks:
            return []
        k = min(k, len(self.chunks))
        scores, ids = self.faiss_index.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """Vectors of the given chunk rows (reconstructed from the FAISS index)."""
        return np.vstack([self.faiss_index.reconstruct(int(r)) for r in rows])

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray:
        return self._sentence_matrix[list(rows)]

    # -- LexicalIndex --------------------------------------------------------------------------
    def lexical(
        self, terms: Mapping[str, float], k: int, rows: Sequence[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        return self._lexical.lexical(terms, k, rows, field_weight)

    def previous_sentence(self, sent: SentenceRow) -> SentenceRow | None:
        """The sentence before `sent` in its document (sentences are stored in text order)."""
        prev = self.sentences[sent.row - 1] if sent.row > 0 else None
        return prev if prev is not None and prev.doc_id == sent.doc_id else None

    def chunk_sentences(self, row: int) -> list[SentenceRow]:
        """The sentences that lie inside a chunk (what answer extraction reads)."""
        return [self.sentences[i] for i in self._chunk_sentences.get(row, [])]


def current_generation(index_dir: Path) -> Path | None:
    """The live generation folder, or None when the folder holds no index."""
    try:
        name = (index_dir / CURRENT).read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    path = index_dir / name
    return path if path.is_dir() else None


def open_index(index_dir: Path, embedder: Embedder) -> Index:
    """Open the live generation of `index_dir`; a clear StoreError if there is none."""
    gen = current_generation(index_dir)
    if gen is None:
        raise StoreError(
            f"no index at {index_dir}: run `rag build --index {index_dir}` to build one from seeds/"
        )
    return Index(gen, embedder)


@contextlib.contextmanager
def _writer_lock(index_dir: Path, wait: bool = True) -> Iterator[bool]:
    """Holds `.lock` (one writer at a time, across processes); yields False, holding nothing,
    when `wait` is False and another writer has it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


SERVING = ".serving"  # held (flock, shared) by every `rag serve` process of the folder


def hold_serving(index_dir: Path) -> IO[str]:
    """Mark `index_dir` as served for as long as the returned handle stays open (the lock goes
    with the process, however it ends). `rag build` checks it with `is_served`."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / SERVING, "w")  # noqa: SIM115 - kept open for the server's life
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def is_served(index_dir: Path) -> bool:
    """Whether a `rag serve` process holds `index_dir` (it may hold documents posted to it)."""
    path = index_dir / SERVING
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def clean_leftovers(index_dir: Path) -> list[str]:
    """Remove what crashed builds left (`.tmp-gen-*`) and generations `CURRENT` no longer names;
    returns their names. `rag serve` calls it at start-up. Skipped while another process
    writes (it holds the writer lock, and its temporary folder is not a leftover)."""
    if not index_dir.is_dir():
        return []
    removed: list[str] = []
    with _writer_lock(index_dir, wait=False) as held:
        if not held:
            return []
        live = current_generation(index_dir)
        for path in index_dir.iterdir():
            leftover = path.name.startswith(".tmp-gen-")
            # Old generations go only while CURRENT names a live one: never the last index.
            old = live is not None and path.name.startswith("gen-") and path.name != live.name
            if path.is_dir() and (leftover or old):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Transaction:
    """One write under the writer lock: `commit` builds the new generation and swaps it in."""

    def __init__(self, backend: GenerationBackend, start: Committed) -> None:
        self.backend = backend
        self.start = start

    def commit(self, changes: ChangeSet) -> Index:
        old = None if changes.fresh else self.start.store
        assert old is None or isinstance(old, Index)  # `_committed` opens only generations
        tmp = self.backend._new_generation_folder()
        try:
            return self.backend._write(tmp, old, changes)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class GenerationBackend:
    """FAISS + SQLite generation folders in `index_dir`; one writer at a time (a file lock also
    keeps two processes apart)."""

    name = "faiss"

    def __init__(
        self, index_dir: Path, embedder: Embedder, index_kind: IndexKind = IndexKind.AUTO
    ) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.index_kind = index_kind

    def committed_version(self) -> str | None:
        gen = current_generation(self.index_dir)
        return gen.name if gen is not None else None

    def open(self) -> Index:
        return open_index(self.index_dir, self.embedder)

    def clean(self) -> list[str]:
        return clean_leftovers(self.index_dir)

    @contextlib.contextmanager
    def transaction(
        self, config: StoreConfig, base: Store | None, replace_all: bool
    ) -> Iterator[_Transaction]:
        with _writer_lock(self.index_dir):
            self._remove_leftovers()  # of builds that crashed; the lock says none is running
            yield _Transaction(self, self._committed(config, base, replace_all))

    def _committed(self, config: StoreConfig, base: Store | None, replace_all: bool) -> Committed:
        """The live generation if a writer of `config` can update it in place; else None and
        the documents it holds with their hashes (other chunking or another embedder: every
        document must be cut and embedded again). A full build (`replace_all`) also starts
        afresh over an unreadable index, so `rag build` is always the way out of a broken one."""
        gen = current_generation(self.index_dir)
        if gen is None:
            return Committed(None)
        try:
            m = read_manifest(gen)
            if m.format_version != FORMAT_VERSION:
                Index(gen, self.embedder)  # raises the format error
            if StoreConfig(m.embedder, m.dim, m.chunk_size, m.chunk_overlap) != config:
                return Committed(None, read_documents(gen))
            if isinstance(base, Index) and base.path == gen and base.manifest == m:
                return Committed(base)  # open already, and nothing committed since: no re-read
            return Committed(Index(gen, self.embedder))
        except (StoreError, sqlite3.Error, RuntimeError, OSError):
            if replace_all:
                return Committed(None)
            raise

    def _new_generation_folder(self) -> Path:
        """A fresh `.tmp-gen-*` folder: the new generation is built there from the start, so a
        crash at any point leaves only a leftover that the next write removes."""
        name = f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = self.index_dir / f".tmp-{name}"
        tmp.mkdir(parents=True)
        return tmp

    def _write(self, tmp: Path, old: Index | None, changes: ChangeSet) -> Index:
        dim = self.embedder.dim
        drop = changes.drop if old is not None else set()
        # What survives from the old generation.
        docs: dict[str, Document] = {}
        hashes: dict[str, str] = {}
        chunk_rows: list[ChunkRow] = []
        sent_rows: list[SentenceRow] = []
        sent_vecs: list[np.ndarray] = []
        next_row = 0
        if old is not None:
            keep = [d for d in old.documents if d not in drop]
            docs = {d: old.documents[d] for d in keep}
            hashes = {d: old.hashes[d] for d in keep}
            chunk_rows = [c for c in old.chunks.values() if c.doc_id not in drop]
            kept_sents = [s for s in old.sentences if s.doc_id not in drop]
            sent_rows = kept_sents
            if kept_sents:
                sent_vecs.append(old.sentence_vectors([s.row for s in kept_sents]))
            next_row = old.manifest.next_chunk_row

        # The new rows: chunk ids are numbered here, in the order given, never reused.
        new_rows: list[ChunkRow] = []
        for add in changes.add:
            docs[add.doc.doc_id] = add.doc
            hashes[add.doc.doc_id] = add.hash
            for c in add.chunks:
                new_rows.append(
                    ChunkRow(next_row, c.chunk_id, c.doc_id, c.start, c.end, c.text, c.tokens)
                )
                next_row += 1
        chunk_rows.extend(new_rows)
        sent_rows = sent_rows + [s for add in changes.add for s in add.sentences]
        sent_rows = [
            SentenceRow(i, s.doc_id, s.start, s.end, s.text, s.tokens)
            for i, s in enumerate(sent_rows)
        ]
        sent_vecs.extend(add.sentence_vectors for add in changes.add)
        sentence_matrix = np.vstack(sent_vecs) if sent_rows else np.zeros((0, dim), np.float32)
        chunk_vecs = (
            np.vstack([add.chunk_vectors for add in changes.add])
            if new_rows
            else np.zeros((0, dim), np.float32)
        )

        # The chunk vectors: update the old FAISS index in place of rebuilding when we can.
        kind = self.index_kind
        if kind == IndexKind.AUTO:
            kind = choose_kind(len(chunk_rows))
        new_ids = np.array([r.row for r in new_rows], dtype=np.int64)
        old_kind = IndexKind(old.manifest.index_kind) if old is not None else None
        if old is not None and old_kind == kind:
            index = faiss.clone_index(old.faiss_index)
            dropped = np.array(
                [c.row for c in old.chunks.values() if c.doc_id in drop], dtype=np.int64
            )
            if len(dropped):
                index = remove_ids(index, dropped)
            if len(new_ids):
                index.add_with_ids(chunk_vecs, new_ids)
        else:
            all_ids = np.array([r.row for r in chunk_rows], dtype=np.int64)
            if old is not None:
                new_set = set(new_ids.tolist())
                kept = [r.row for r in chunk_rows if r.row not in new_set]
                old_vecs = old.chunk_vectors(kept) if kept else np.zeros((0, dim))
                all_vecs = np.vstack([old_vecs, chunk_vecs]).astype(np.float32)
            else:
                all_vecs = chunk_vecs
            index = build_index(all_vecs, all_ids, kind)

        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=self.embedder.name,
            dim=dim,
            index_kind=kind.value,
            chunk_size=changes.config.chunk_size,
            chunk_overlap=changes.config.chunk_overlap,
            documents=len(docs),
            chunks=len(chunk_rows),
            sentences=len(sent_rows),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            next_chunk_row=next_row,
        )
        final = self.index_dir / tmp.name.removeprefix(".tmp-")
        committed = Index.from_parts(
            final, manifest, docs, hashes, chunk_rows, sent_rows, index, sentence_matrix
        )
        self._commit(tmp, committed)
        return committed

    def _commit(self, tmp: Path, gen: Index) -> None:
        """Write `gen` into `tmp`, make it durable, and make it the live generation."""
        name = gen.path.name
        hashes = gen.hashes
        con = sqlite3.connect(tmp / "meta.sqlite")
        try:
            con.executescript(
                """
                CREATE TABLE documents (doc_id TEXT PRIMARY KEY, text TEXT, title TEXT, url TEXT,
                    published TEXT, author TEXT, source TEXT, hash TEXT);
                CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT, doc_id TEXT,
                    start INTEGER, end INTEGER, text TEXT, tokens TEXT);
                CREATE TABLE sentences (row INTEGER PRIMARY KEY, doc_id TEXT, start INTEGER,
                    end INTEGER, text TEXT, tokens TEXT);
                """
            )
            con.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                [
                    (d.doc_id, d.text, d.title, d.url, d.published, d.author, d.source, hashes[k])
                    for k, d in gen.documents.items()
                ],
            )
            con.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
                [
                    (c.row, c.chunk_id, c.doc_id, c.start, c.end, c.text, " ".join(c.tokens))
                    for c in gen.chunks.values()
                ],
            )
            con.executemany(
                "INSERT INTO sentences VALUES (?,?,?,?,?,?)",
                [
                    (s.row, s.doc_id, s.start, s.end, s.text, " ".join(s.tokens))
                    for s in gen.sentences
                ],
            )
            con.commit()
        finally:
            con.close()
        faiss.write_index(gen.faiss_index, str(tmp / "chunks.faiss"))
        np.save(tmp / "sentences.npy", gen._sentence_matrix.astype(np.float32))
        (tmp / "manifest.json").write_text(json.dumps(asdict(gen.manifest), indent=2), "utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, gen.path)
        pointer = self.index_dir / f".{CURRENT}.tmp"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.index_dir / CURRENT)
        _fsync_dir(self.index_dir)
        self._collect_garbage(keep=name)

    def _remove_leftovers(self) -> None:
        """Temporary folders of builds that crashed (only called under the writer lock)."""
        for path in self.index_dir.glob(".tmp-gen-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def _collect_garbage(self, keep: str) -> None:
        """Old generations and leftovers of crashed builds; open readers keep their data in
        memory, so deleting the files under them is safe."""
        for path in self.index_dir.iterdir():
            if (
                path.is_dir()
                and path.name != keep
                and (path.name.startswith("gen-") or path.name.startswith(".tmp-gen-"))
            ):
                shutil.rmtree(path, ignore_errors=True)
