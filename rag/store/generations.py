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
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
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
    split_tokens,
)
from rag.store.bm25 import Bm25Leg
from rag.types import Document

FORMAT_VERSION = 1  # a full generation; older code reads these
DELTA_VERSION = 2  # a delta on a base generation: older code says to rebuild, as it should
READS = (FORMAT_VERSION, DELTA_VERSION)
MAX_DEPTH = 32  # deltas on one full generation at most (each is replayed when one opens it)
MIN_DELTA_ROWS = 256  # rows the deltas may hold whatever the corpus size
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
    # A delta's: the generation it changes, how many deltas down to a full one, and how many
    # rows they hold between them (added, and dead in older layers): when to compact.
    base: str | None = None
    depth: int = 0
    delta_rows: int = 0


def read_manifest(path: Path) -> Manifest:
    """The manifest of a generation folder; a StoreError that says how to rebuild if unreadable."""
    try:
        return Manifest(**json.loads((path / "manifest.json").read_text("utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(
            f"index at {path.parent} is unreadable ({exc}); "
            f"run `rag build --index {path.parent}` to rebuild it"
        ) from exc


def _own_documents(path: Path) -> tuple[dict[str, tuple[Document, str]], set[str]]:
    """What one generation folder itself holds: its documents with their content hashes, and
    (a delta's) the ids it drops."""
    con = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        dropped = (
            {d for (d,) in con.execute("SELECT doc_id FROM dropped")}
            if "dropped" in tables
            else set()
        )
        rows = con.execute(
            "SELECT doc_id, text, title, url, published, author, source, hash FROM documents"
        ).fetchall()
    finally:
        con.close()
    return {row[0]: (Document(*row[:7]), row[7]) for row in rows}, dropped


def read_documents(path: Path) -> dict[str, tuple[Document, str]]:
    """The documents of a generation (a delta's replayed on its base) with their content
    hashes; no vectors needed."""
    manifest = read_manifest(path)
    docs = read_documents(path.parent / manifest.base) if manifest.base else {}
    added, dropped = _own_documents(path)
    for doc_id in dropped:
        docs.pop(doc_id, None)
    docs.update(added)
    return docs


def chain(path: Path) -> list[str]:
    """The generation folders `path` is made of: itself, then each base down to the full one."""
    names = [path.name]
    manifest = read_manifest(path)
    while manifest.base:
        names.append(manifest.base)
        manifest = read_manifest(path.parent / manifest.base)
    return names


def _read_rows(path: Path) -> tuple[list[ChunkRow], list[SentenceRow]]:
    con = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        chunks = [
            ChunkRow(row, cid, doc_id, start, end, text, split_tokens(tokens))
            for row, cid, doc_id, start, end, text, tokens in con.execute(
                "SELECT row, chunk_id, doc_id, start, end, text, tokens FROM chunks ORDER BY row"
            )
        ]
        sentences = [
            SentenceRow(row, doc_id, start, end, text, split_tokens(tokens))
            for row, doc_id, start, end, text, tokens in con.execute(
                "SELECT row, doc_id, start, end, text, tokens FROM sentences ORDER BY row"
            )
        ]
    finally:
        con.close()
    return chunks, sentences


@dataclass(frozen=True)
class _Layer:
    """Vectors added by one full write or one delta: chunk rows from `first_row` up (to the next
    layer's), sentence rows from `first_sentence` up."""

    first_row: int
    faiss_index: faiss.Index
    first_sentence: int
    sentence_matrix: np.ndarray


class Index:
    """One open, read-only generation (a `Store`): metadata in memory, vectors in FAISS and
    NumPy, BM25 postings in memory.

    A generation is a full one, or a delta on the generation it names as its `base` (the
    documents it added and dropped, and their vectors): so a write costs what it changes
    (issue 16). In memory a delta is a new layer of vectors; rows of dropped documents stay in
    the older layers, dead, and are filtered out of every answer until a full write compacts
    them."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        """Open the generation at `path` (and the bases a delta stands on)."""
        m = read_manifest(path)
        rebuild = f"run `rag build --index {path.parent}` to rebuild"
        if m.format_version not in READS:
            raise StoreError(
                f"index at {path.parent} has format {m.format_version}; this version reads "
                f"formats {', '.join(map(str, READS))}: {rebuild}"
            )
        if m.embedder != embedder.name or m.dim != embedder.dim:
            raise StoreError(
                f"index at {path.parent} was built with embedder {m.embedder} (dim {m.dim}); "
                f"this run uses {embedder.name} (dim {embedder.dim}): {rebuild}, or set "
                f"RAG_EMBEDDER={m.embedder}"
            )
        if m.base:
            self.__dict__.update(Index(path.parent / m.base, embedder).with_delta(path).__dict__)
            return
        chunks, sentences = _read_rows(path)
        faiss_index = faiss.read_index(str(path / "chunks.faiss"))
        self._init_full(
            path,
            m,
            read_documents(path),
            chunks,
            sentences,
            faiss_index,
            np.load(path / "sentences.npy"),
        )

    def with_delta(self, path: Path) -> Index:
        """The delta generation at `path`, whose base this is, applied on it."""
        m = read_manifest(path)
        assert m.base == self.path.name, f"{path.name} is a delta on {m.base}, not on this"
        chunks, sentences = _read_rows(path)
        added, dropped = _own_documents(path)
        return self.changed(
            path,
            m,
            added,
            dropped,
            chunks,
            np.load(path / "chunks.npy"),
            sentences,
            np.load(path / "sentences.npy"),
        )

    @classmethod
    def from_parts(
        cls,
        path: Path,
        manifest: Manifest,
        docs: dict[str, tuple[Document, str]],
        chunk_rows: list[ChunkRow],
        sent_rows: list[SentenceRow],
        faiss_index: faiss.Index,
        sentence_vectors: np.ndarray,
    ) -> Index:
        """The full generation a writer has just built for `path`, from what it wrote, without
        reading it back (the writer hands it to the pipeline, which swaps it in)."""
        index = cls.__new__(cls)
        index._init_full(path, manifest, docs, chunk_rows, sent_rows, faiss_index, sentence_vectors)
        return index

    def _init_full(
        self,
        path: Path,
        manifest: Manifest,
        docs: dict[str, tuple[Document, str]],
        chunk_rows: list[ChunkRow],
        sent_rows: list[SentenceRow],
        faiss_index: faiss.Index,
        sentence_matrix: np.ndarray,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.documents = {d: doc for d, (doc, _) in docs.items()}
        self.hashes = {d: digest for d, (_, digest) in docs.items()}
        self.chunks = {c.row: c for c in sorted(chunk_rows, key=lambda c: c.row)}
        self.doc_chunks: dict[str, list[int]] = {}
        for c in self.chunks.values():
            self.doc_chunks.setdefault(c.doc_id, []).append(c.row)
        self._sentences = list(sent_rows)  # by row; a delta appends, dead rows stay
        assert all(s.row == i for i, s in enumerate(self._sentences))
        self.doc_sentences: dict[str, list[int]] = {}
        for sent in self._sentences:
            self.doc_sentences.setdefault(sent.doc_id, []).append(sent.row)
        set_search_params(faiss_index, IndexKind(manifest.index_kind))
        self._layers = [_Layer(0, faiss_index, 0, sentence_matrix)]
        self._dead: frozenset[int] = frozenset()  # chunk rows of dropped documents
        self._dead_sentences: frozenset[int] = frozenset()
        # Which sentences lie in each chunk: asked for every candidate chunk of every query, so it
        # is worked out once here (sentences of a document are stored in text order).
        self._chunk_sentences: dict[int, list[int]] = {}
        for doc_id, rows in self.doc_chunks.items():
            self._place(rows, self.doc_sentences.get(doc_id, []))
        self._lexical = Bm25Leg.build(list(self.chunks.values()), self.documents)
        self.n_chunks = {d: len(rows) for d, rows in self.doc_chunks.items()}

    def _place(self, chunk_rows: Sequence[int], sentence_rows: Sequence[int]) -> None:
        """Record which of a document's sentences lie in each of its chunks."""
        ends = [self._sentences[i].end for i in sentence_rows]
        for row in chunk_rows:
            chunk = self.chunks[row]
            first = bisect.bisect_right(ends, chunk.start)
            inside = []
            for i in sentence_rows[first:]:
                if self._sentences[i].start >= chunk.end:
                    break
                inside.append(i)
            self._chunk_sentences[row] = inside

    def changed(
        self,
        path: Path,
        manifest: Manifest,
        added: Mapping[str, tuple[Document, str]],
        dropped: set[str],
        chunk_rows: list[ChunkRow],
        chunk_vectors: np.ndarray,
        sent_rows: list[SentenceRow],
        sentence_vectors: np.ndarray,
    ) -> Index:
        """This generation with `dropped` documents removed (replaced ones included) and
        `added` ones added, their chunk rows above every row here and their sentence rows
        following ours: the next generation, in time proportional to the change (dictionaries
        are copied, which is memory speed; nothing is rebuilt or re-read)."""
        new = Index.__new__(Index)
        new.path = path
        new.manifest = manifest
        gone = dropped & self.documents.keys()
        new.documents = {d: doc for d, doc in self.documents.items() if d not in gone}
        new.hashes = {d: h for d, h in self.hashes.items() if d not in gone}
        for d, (doc, digest) in added.items():
            new.documents[d] = doc
            new.hashes[d] = digest
        drop_rows = [r for d in gone for r in self.doc_chunks.get(d, [])]
        drop_sents = [r for d in gone for r in self.doc_sentences.get(d, [])]
        new.chunks = dict(self.chunks)
        for r in drop_rows:
            del new.chunks[r]
        new.doc_chunks = {d: rows for d, rows in self.doc_chunks.items() if d not in gone}
        new.doc_sentences = {d: rows for d, rows in self.doc_sentences.items() if d not in gone}
        new._chunk_sentences = dict(self._chunk_sentences)
        for r in drop_rows:
            del new._chunk_sentences[r]
        first_sentence = len(self._sentences)
        assert all(s.row == first_sentence + i for i, s in enumerate(sent_rows))
        new._sentences = self._sentences + sent_rows
        for c in chunk_rows:
            new.chunks[c.row] = c
            new.doc_chunks.setdefault(c.doc_id, []).append(c.row)
        for s in sent_rows:
            new.doc_sentences.setdefault(s.doc_id, []).append(s.row)
        for d in added:
            new._place(new.doc_chunks.get(d, []), new.doc_sentences.get(d, []))
        new._layers = list(self._layers)
        if chunk_rows or sent_rows:
            first_row = min((c.row for c in chunk_rows), default=manifest.next_chunk_row)
            ids = np.array([c.row for c in chunk_rows], dtype=np.int64)
            vectors = chunk_vectors.astype(np.float32).reshape(len(ids), -1)
            layer = build_index(vectors, ids, IndexKind.FLAT)  # small: exact search
            new._layers.append(_Layer(first_row, layer, first_sentence, sentence_vectors))
        new._dead = self._dead | frozenset(drop_rows)
        new._dead_sentences = self._dead_sentences | frozenset(drop_sents)
        drop = [self.chunks[r] for r in drop_rows]
        new._lexical = self._lexical.changed(drop, chunk_rows, new.documents)
        new.n_chunks = {d: len(rows) for d, rows in new.doc_chunks.items()}
        return new

    @property
    def sentences(self) -> list[SentenceRow]:
        """The live sentences, in row order."""
        if not self._dead_sentences:
            return list(self._sentences)
        return [s for s in self._sentences if s.row not in self._dead_sentences]

    @property
    def faiss_index(self) -> faiss.Index:
        """The full generation's FAISS index (a delta's added vectors are in later layers)."""
        return self._layers[0].faiss_index

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

    def knows(self, token: str) -> bool:
        return self._lexical.knows(token)

    # -- VectorIndex ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k chunks nearest to one normalised query vector: (chunk row, inner product)."""
        if not self.chunks:
            return []
        k = min(k, len(self.chunks))
        q = query.reshape(1, -1).astype(np.float32)
        hits: list[tuple[int, float]] = []
        for layer in self._layers:
            # Dead rows take places in a layer's answer: ask for as many more.
            n = min(k + len(self._dead), layer.faiss_index.ntotal)
            if n <= 0:
                continue
            scores, ids = layer.faiss_index.search(q, n)
            hits += [
                (int(i), float(s))
                for i, s in zip(ids[0], scores[0], strict=True)
                if i >= 0 and int(i) not in self._dead
            ]
        if len(self._layers) > 1:
            hits.sort(key=lambda h: -h[1])  # stable: on a tie, the older layer first
        return hits[:k]

    def _layer_of(self, row: int, sentence: bool = False) -> _Layer:
        firsts = [layer.first_sentence if sentence else layer.first_row for layer in self._layers]
        return self._layers[bisect.bisect_right(firsts, row) - 1]

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """Vectors of the given chunk rows (reconstructed from the FAISS index of their layer)."""
        return np.vstack([self._layer_of(int(r)).faiss_index.reconstruct(int(r)) for r in rows])

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray:
        rows = list(rows)
        if len(self._layers) == 1:
            return self._layers[0].sentence_matrix[rows]
        out = np.empty((len(rows), self.manifest.dim), dtype=np.float32)
        for i, r in enumerate(rows):
            layer = self._layer_of(r, sentence=True)
            out[i] = layer.sentence_matrix[r - layer.first_sentence]
        return out

    # -- LexicalIndex --------------------------------------------------------------------------
    def lexical(
        self, terms: Mapping[str, float], k: int, rows: Sequence[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        return self._lexical.lexical(terms, k, rows, field_weight)

    def previous_sentence(self, sent: SentenceRow) -> SentenceRow | None:
        """The sentence before `sent` in its document (a document's sentences are in order)."""
        rows = self.doc_sentences.get(sent.doc_id, [])
        i = bisect.bisect_left(rows, sent.row)
        return self._sentences[rows[i - 1]] if 0 < i <= len(rows) else None

    def chunk_sentences(self, row: int) -> list[SentenceRow]:
        """The sentences that lie inside a chunk (what answer extraction reads)."""
        return [self._sentences[i] for i in self._chunk_sentences.get(row, [])]


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
        try:
            keep = set(chain(live)) if live is not None else set()
        except StoreError:  # a broken chain: keep everything for `rag build` to sort out
            return []
        for path in index_dir.iterdir():
            leftover = path.name.startswith(".tmp-gen-")
            # Old generations go only while CURRENT names a live one: never the last index.
            old = live is not None and path.name.startswith("gen-") and path.name not in keep
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
        self,
        index_dir: Path,
        embedder: Embedder,
        index_kind: IndexKind = IndexKind.AUTO,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.index_kind = index_kind
        self.max_depth = max_depth

    def committed_version(self) -> str | None:
        gen = current_generation(self.index_dir)
        return gen.name if gen is not None else None

    def open(self, reuse: Store | None = None) -> Index:
        """The committed generation; when it is a delta on `reuse` (what this process has
        open), only the delta is read: a server following another process's writes pays for
        what they changed, not for the corpus."""
        gen = current_generation(self.index_dir)
        if isinstance(reuse, Index) and gen is not None:
            with contextlib.suppress(StoreError):
                if read_manifest(gen).base == reuse.version:
                    return reuse.with_delta(gen)
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
            if m.format_version not in READS:
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
        if old is not None and self._delta_fits(old, changes):
            return self._write_delta(tmp, old, changes)
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
        if old is not None and old_kind == kind and len(old._layers) == 1:
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
        pairs = {d: (doc, hashes[d]) for d, doc in docs.items()}
        committed = Index.from_parts(
            final, manifest, pairs, chunk_rows, sent_rows, index, sentence_matrix
        )
        self._commit(tmp, committed)
        return committed

    def _delta_fits(self, old: Index, changes: ChangeSet) -> bool:
        """Whether this write goes as a delta on `old`, or as a full generation that compacts
        the deltas: after `max_depth` of them, or when their rows (added, and dead in older
        layers) pass a quarter of the live ones, so that reads stay fast and a full write's
        cost is spread over the deltas before it."""
        m = old.manifest
        rows = m.delta_rows + sum(len(a.chunks) for a in changes.add)
        rows += sum(old.chunks_of(d) for d in changes.drop)
        return m.depth < self.max_depth and rows <= max(MIN_DELTA_ROWS, m.chunks // 4)

    def _write_delta(self, tmp: Path, old: Index, changes: ChangeSet) -> Index:
        """A delta on `old`: only the added documents' rows and vectors, and the ids dropped."""
        m = old.manifest
        dim = self.embedder.dim
        next_row = m.next_chunk_row
        first_sentence = len(old._sentences)
        added: dict[str, tuple[Document, str]] = {}
        chunk_rows: list[ChunkRow] = []
        sent_rows: list[SentenceRow] = []
        for add in changes.add:
            added[add.doc.doc_id] = (add.doc, add.hash)
            for c in add.chunks:
                chunk_rows.append(
                    ChunkRow(next_row, c.chunk_id, c.doc_id, c.start, c.end, c.text, c.tokens)
                )
                next_row += 1
            for s in add.sentences:
                row = first_sentence + len(sent_rows)
                sent_rows.append(SentenceRow(row, s.doc_id, s.start, s.end, s.text, s.tokens))
        chunk_vecs = np.vstack(
            [np.zeros((0, dim), np.float32)] + [a.chunk_vectors for a in changes.add]
        )
        sent_vecs = np.vstack(
            [np.zeros((0, dim), np.float32)] + [a.sentence_vectors for a in changes.add]
        )
        dropped = set(changes.drop) & old.documents.keys()
        dead = sum(old.chunks_of(d) for d in dropped)
        final = self.index_dir / tmp.name.removeprefix(".tmp-")
        manifest = replace(
            m,
            format_version=DELTA_VERSION,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            next_chunk_row=next_row,
            base=old.path.name,
            depth=m.depth + 1,
            delta_rows=m.delta_rows + len(chunk_rows) + dead,
        )
        new = old.changed(
            final, manifest, added, dropped, chunk_rows, chunk_vecs, sent_rows, sent_vecs
        )
        new.manifest = replace(
            manifest,
            documents=len(new.documents),
            chunks=len(new.chunks),
            sentences=len(new._sentences) - len(new._dead_sentences),
        )
        _write_meta(tmp / "meta.sqlite", added, chunk_rows, sent_rows, dropped)
        np.save(tmp / "chunks.npy", chunk_vecs.astype(np.float32))
        np.save(tmp / "sentences.npy", sent_vecs.astype(np.float32))
        self._publish(tmp, new)
        return new

    def _commit(self, tmp: Path, gen: Index) -> None:
        """Write the full generation `gen` into `tmp` and make it the live one."""
        docs = {d: (doc, gen.hashes[d]) for d, doc in gen.documents.items()}
        _write_meta(tmp / "meta.sqlite", docs, list(gen.chunks.values()), gen.sentences, None)
        faiss.write_index(gen.faiss_index, str(tmp / "chunks.faiss"))
        np.save(tmp / "sentences.npy", gen._layers[0].sentence_matrix.astype(np.float32))
        self._publish(tmp, gen)

    def _publish(self, tmp: Path, gen: Index) -> None:
        """Make `tmp` (written but for its manifest) durable, then the live generation."""
        (tmp / "manifest.json").write_text(json.dumps(asdict(gen.manifest), indent=2), "utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, gen.path)
        pointer = self.index_dir / f".{CURRENT}.tmp"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(gen.path.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.index_dir / CURRENT)
        _fsync_dir(self.index_dir)
        self._collect_garbage(keep=set(chain(gen.path)))

    def _remove_leftovers(self) -> None:
        """Temporary folders of builds that crashed (only called under the writer lock)."""
        for path in self.index_dir.glob(".tmp-gen-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def _collect_garbage(self, keep: set[str]) -> None:
        """Generations the live one is not made of, and leftovers of crashed builds; open
        readers keep their data in memory, so deleting the files under them is safe."""
        for path in self.index_dir.iterdir():
            if (
                path.is_dir()
                and path.name not in keep
                and (path.name.startswith("gen-") or path.name.startswith(".tmp-gen-"))
            ):
                shutil.rmtree(path, ignore_errors=True)


def _write_meta(
    path: Path,
    docs: Mapping[str, tuple[Document, str]],
    chunks: Sequence[ChunkRow],
    sentences: Sequence[SentenceRow],
    dropped: set[str] | None,
) -> None:
    """A generation's meta.sqlite: its documents, chunks and sentences (a delta's: the ones it
    adds, and the ids it drops)."""
    con = sqlite3.connect(path)
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
                (d.doc_id, d.text, d.title, d.url, d.published, d.author, d.source, digest)
                for d, digest in docs.values()
            ],
        )
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
            [
                (c.row, c.chunk_id, c.doc_id, c.start, c.end, c.text, " ".join(c.tokens))
                for c in chunks
            ],
        )
        con.executemany(
            "INSERT INTO sentences VALUES (?,?,?,?,?,?)",
            [(s.row, s.doc_id, s.start, s.end, s.text, " ".join(s.tokens)) for s in sentences],
        )
        if dropped is not None:
            con.execute("CREATE TABLE dropped (doc_id TEXT PRIMARY KEY)")
            con.executemany("INSERT INTO dropped VALUES (?)", [(d,) for d in sorted(dropped)])
        con.commit()
    finally:
        con.close()
