"""Store: the on-disk index (FAISS vectors + SQLite metadata), built atomically and incrementally.

Entry points: `IndexWriter(index_dir, embedder).apply(...)` writes a new generation;
`open_index(index_dir, embedder) -> Index` opens the current one read-only.

    >>> writer = IndexWriter(Path("index"), get_embedder())
    >>> report = writer.apply(upserts=docs, replace_all=True)   # `rag build`
    >>> index = open_index(Path("index"), get_embedder())
    >>> index.search(query_vector, k=5)                          # [(chunk_row, score), ...]

Layout (see index/README.md): `index/CURRENT` names the live generation folder `index/gen-*`,
which holds `manifest.json`, `meta.sqlite`, `chunks.faiss` and `sentences.npy`. A writer builds
a new generation in a temporary folder and swaps `CURRENT` with an atomic rename, so a crash
mid-build leaves the previous generation live and readers never see a half-written index.
`embeddings.sqlite` beside the generations caches vectors by content hash across rebuilds.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Protocol

import faiss
import numpy as np

from rag.ann import IndexKind, build_index, choose_kind, remove_ids, set_search_params
from rag.chunk import ChunkSettings, chunk_document, split_sentences
from rag.embed import Embedder, EmbeddingCache
from rag.lexical import han_bigrams, tokenize
from rag.script import fold
from rag.types import Chunk, Document, Sentence

FORMAT_VERSION = 1
CURRENT = "CURRENT"
CACHE_FILE = "embeddings.sqlite"


class StoreError(RuntimeError):
    """An index that cannot be opened or written; the message says how to fix it."""


class VectorIndex(Protocol):
    """The part of a vector engine the pipeline uses; FAISS now, a distributed engine later."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


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
    row: int  # row in sentences.npy
    doc_id: str
    start: int
    end: int
    text: str
    tokens: tuple[str, ...]

    @cached_property
    def bigrams(self) -> frozenset[str]:
        return han_bigrams(self.text)


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    seconds: float = 0.0
    changed: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)
    index: Index | None = field(default=None, repr=False)  # the generation now live


def content_hash(doc: Document) -> str:
    """What identifies a document's indexed content (text and the metadata we return)."""
    payload = json.dumps([doc.text, doc.title, doc.url, doc.published], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


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
    """One open, read-only generation: metadata in memory, vectors in FAISS and NumPy."""

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
        self.sentence_vectors = np.load(path / "sentences.npy")
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
        index.sentence_vectors = sentence_vectors
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

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every token of every chunk: the words this index can match lexically."""
        return frozenset(t for c in self.chunks.values() for t in c.tokens)

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


class IndexWriter:
    """Applies document changes to an index folder as a new generation; one writer at a time
    (a file lock also keeps two processes apart)."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        chunk_settings: ChunkSettings | None = None,
        index_kind: IndexKind = IndexKind.AUTO,
    ) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.chunk_settings = chunk_settings or ChunkSettings()
        self.index_kind = index_kind
        self.cache = EmbeddingCache(index_dir / CACHE_FILE)

    def apply(
        self,
        upserts: Sequence[Document] = (),
        deletes: Sequence[str] = (),
        replace_all: bool = False,
        progress: bool = False,
        base: Index | None = None,
    ) -> BuildReport:
        """Add or replace `upserts`, remove `deletes` (or, with `replace_all`, everything not in
        `upserts`); returns what changed, and the now-live generation as `report.index`.
        Nothing is written when nothing changed.

        `base` is the caller's open copy of the live generation (a server's): used instead of
        reading the generation again when it is still the committed one. When another process
        committed since, the committed generation is read, so no write is ever lost."""
        started = time.perf_counter()
        with _writer_lock(self.index_dir):
            self._remove_leftovers()  # of builds that crashed; the lock says none is running
            old, previous = self._open_current(replace_all, base)
            old_hashes = old.hashes if old is not None else {d: h for d, (_, h) in previous.items()}
            new_docs = {d.doc_id: d for d in upserts}
            gone = (
                set(old_hashes) - set(new_docs) if replace_all else set(deletes) & set(old_hashes)
            )
            if old is None and not replace_all:
                # The live generation cannot be updated in place (other chunking or embedder):
                # its documents are cut and embedded again rather than dropped.
                for doc_id, (doc, _) in previous.items():
                    if doc_id not in gone:
                        new_docs.setdefault(doc_id, doc)
            fresh = [d for d in new_docs.values() if old_hashes.get(d.doc_id) != content_hash(d)]
            removed_or_replaced = gone | {d.doc_id for d in fresh if d.doc_id in old_hashes}
            report = BuildReport(
                added=len(fresh),
                removed=len(gone),
                unchanged=len(new_docs) - len(fresh),
                changed=bool(fresh or gone or old is None),
            )
            if report.changed:
                write = fresh if old is not None else list(new_docs.values())
                tmp = self._new_generation_folder()
                try:
                    old = self._write(tmp, old, write, removed_or_replaced, report, progress)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
            assert old is not None
            report.index = old
            report.documents = old.manifest.documents
            report.chunks = old.manifest.chunks
            report.sentences = old.manifest.sentences
            report.seconds = time.perf_counter() - started
            return report

    def _open_current(
        self, replace_all: bool, base: Index | None = None
    ) -> tuple[Index | None, dict[str, tuple[Document, str]]]:
        """The live generation if this writer can update it in place; else None and the
        documents it holds with their hashes (other chunking or another embedder: every document
        must be cut and embedded again). A full build (`replace_all`) also starts afresh over an
        unreadable index, so `rag build` is always the way out of a broken one."""
        gen = current_generation(self.index_dir)
        if gen is None:
            return None, {}
        try:
            m = read_manifest(gen)
            if m.format_version != FORMAT_VERSION:
                Index(gen, self.embedder)  # raises the format error
            ours = (self.embedder.name, self.embedder.dim, self.chunk_settings.size,
                    self.chunk_settings.overlap)  # fmt: skip
            if (m.embedder, m.dim, m.chunk_size, m.chunk_overlap) != ours:
                return None, read_documents(gen)
            if base is not None and base.path == gen and base.manifest == m:
                return base, {}  # open already, and nothing committed since: no second read
            return Index(gen, self.embedder), {}
        except (StoreError, sqlite3.Error, RuntimeError, OSError):
            if replace_all:
                return None, {}
            raise

    def _new_generation_folder(self) -> Path:
        """A fresh `.tmp-gen-*` folder: the new generation is built there from the start, so a
        crash at any point leaves only a leftover that the next build removes."""
        name = f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = self.index_dir / f".tmp-{name}"
        tmp.mkdir(parents=True)
        return tmp

    def _write(
        self,
        tmp: Path,
        old: Index | None,
        changed: list[Document],
        drop: set[str],
        report: BuildReport,
        progress: bool,
    ) -> Index:
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
                sent_vecs.append(old.sentence_vectors[[s.row for s in kept_sents]])
            next_row = old.manifest.next_chunk_row

        # The new documents: cut, tokenise, embed (the cache skips texts seen before).
        new_chunks: list[Chunk] = []
        new_sents: list[Sentence] = []
        for doc in changed:
            docs[doc.doc_id] = doc
            hashes[doc.doc_id] = content_hash(doc)
            new_chunks.extend(chunk_document(doc, self.chunk_settings))
            new_sents.extend(split_sentences(doc))
        # Vectors are for matching, so Traditional text is embedded folded to Simplified, as
        # questions are (`rag.script`): a Simplified question then meets a Traditional article
        # as it would its Simplified twin. Simplified text is a fixed point: its vectors (and
        # cache keys) are unchanged.
        texts = [fold(c.text) for c in new_chunks] + [fold(s.text) for s in new_sents]
        vectors, report.embedded = self.cache.embed(self.embedder, texts, progress=progress)
        chunk_vecs, new_sent_vecs = vectors[: len(new_chunks)], vectors[len(new_chunks) :]
        per_doc: dict[str, int] = {}
        new_rows = []
        for c in new_chunks:
            n = per_doc.get(c.doc_id, 0)
            per_doc[c.doc_id] = n + 1
            row = ChunkRow(
                next_row,
                f"{c.doc_id}#{n}",
                c.doc_id,
                c.start,
                c.end,
                c.text,
                tuple(tokenize(c.text)),
            )
            new_rows.append(row)
            next_row += 1
        chunk_rows.extend(new_rows)
        sent_rows = sent_rows + [
            SentenceRow(-1, s.doc_id, s.start, s.end, s.text, tuple(tokenize(s.text)))
            for s in new_sents
        ]
        sent_rows = [
            SentenceRow(i, s.doc_id, s.start, s.end, s.text, s.tokens)
            for i, s in enumerate(sent_rows)
        ]
        sent_vecs.append(new_sent_vecs)
        sentence_matrix = (
            np.vstack(sent_vecs) if sent_rows else np.zeros((0, self.embedder.dim), np.float32)
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
                old_vecs = old.chunk_vectors(kept) if kept else np.zeros((0, self.embedder.dim))
                all_vecs = np.vstack([old_vecs, chunk_vecs]).astype(np.float32)
            else:
                all_vecs = chunk_vecs
            index = build_index(all_vecs, all_ids, kind)

        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=self.embedder.name,
            dim=self.embedder.dim,
            index_kind=kind.value,
            chunk_size=self.chunk_settings.size,
            chunk_overlap=self.chunk_settings.overlap,
            documents=len(docs),
            chunks=len(chunk_rows),
            sentences=len(sent_rows),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            next_chunk_row=next_row,
        )
        gen = self._commit(
            tmp, manifest, docs, hashes, chunk_rows, sent_rows, sentence_matrix, index
        )
        return Index.from_parts(
            gen, manifest, docs, hashes, chunk_rows, sent_rows, index, sentence_matrix
        )

    def _commit(
        self,
        tmp: Path,
        manifest: Manifest,
        docs: dict[str, Document],
        hashes: dict[str, str],
        chunk_rows: list[ChunkRow],
        sent_rows: list[SentenceRow],
        sentence_matrix: np.ndarray,
        index: faiss.Index,
    ) -> Path:
        name = tmp.name.removeprefix(".tmp-")
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
                    for k, d in docs.items()
                ],
            )
            con.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
                [
                    (c.row, c.chunk_id, c.doc_id, c.start, c.end, c.text, " ".join(c.tokens))
                    for c in chunk_rows
                ],
            )
            con.executemany(
                "INSERT INTO sentences VALUES (?,?,?,?,?,?)",
                [(s.row, s.doc_id, s.start, s.end, s.text, " ".join(s.tokens)) for s in sent_rows],
            )
            con.commit()
        finally:
            con.close()
        faiss.write_index(index, str(tmp / "chunks.faiss"))
        np.save(tmp / "sentences.npy", sentence_matrix.astype(np.float32))
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2), "utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        final = self.index_dir / name
        os.rename(tmp, final)
        pointer = self.index_dir / f".{CURRENT}.tmp"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.index_dir / CURRENT)
        _fsync_dir(self.index_dir)
        self._collect_garbage(keep=name)
        return final

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
