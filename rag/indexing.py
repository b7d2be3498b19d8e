"""Indexing: the one writer. Diff by content hash -> chunk -> tokenise -> embed -> commit.

Entry point: `Indexer(backend, embedder, cache, chunk_settings).apply(...) -> BuildReport`.

    >>> indexer = open_indexer(settings, embedder)   # Indexer(backend, embedder, cache, chunking)
    >>> report = indexer.apply(upserts=docs, replace_all=True)   # `rag build`
    >>> report.store.stats

Only the documents whose content hash changed are cut and embedded (the embedding cache also
skips texts seen before); the backend receives the rows to add and the documents to drop as one
`ChangeSet` and commits them atomically, so a write costs in proportion to what changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.chunk import ChunkSettings, chunk_document, split_sentences
from rag.config import Settings
from rag.embed import Embedder, EmbeddingCache
from rag.lexical import tokenize
from rag.script import fold
from rag.store import CACHE_FILE, open_backend
from rag.store.base import (
    ChangeSet,
    ChunkRow,
    NewRows,
    SentenceRow,
    Store,
    StoreBackend,
    StoreConfig,
    content_hash,
)
from rag.types import Document, chunk_id


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
    store: Store | None = field(default=None, repr=False)  # the state now committed


class Indexer:
    def __init__(
        self,
        backend: StoreBackend,
        embedder: Embedder,
        cache: EmbeddingCache,
        chunk_settings: ChunkSettings | None = None,
    ) -> None:
        self.backend = backend
        self.embedder = embedder
        self.chunk_settings = chunk_settings or ChunkSettings()
        self.cache = cache
        cs = self.chunk_settings
        self.config = StoreConfig(embedder.name, embedder.dim, cs.size, cs.overlap)

    def apply(
        self,
        upserts: Sequence[Document] = (),
        deletes: Sequence[str] = (),
        replace_all: bool = False,
        progress: bool = False,
        base: Store | None = None,
    ) -> BuildReport:
        """Add or replace `upserts`, remove `deletes` (or, with `replace_all`, everything not in
        `upserts`); returns what changed, and the now-committed state as `report.store`.
        Nothing is written when nothing changed.

        `base` is the caller's open copy of the committed state (a server's): used instead of
        reading it again when it is still the committed one. When another process committed
        since, the committed state is read, so no write is ever lost."""
        started = time.perf_counter()
        with self.backend.transaction(self.config, base, replace_all) as tx:
            old = tx.start.store
            previous = tx.start.documents
            old_hashes = (
                dict(old.hashes) if old is not None else {d: h for d, (_, h) in previous.items()}
            )
            new_docs = {d.doc_id: d for d in upserts}
            gone = (
                set(old_hashes) - set(new_docs) if replace_all else set(deletes) & set(old_hashes)
            )
            if old is None and not replace_all:
                # The committed state cannot be updated in place (other chunking or embedder):
                # its documents are cut and embedded again rather than dropped.
                for doc_id, (doc, _) in previous.items():
                    if doc_id not in gone:
                        new_docs.setdefault(doc_id, doc)
            fresh = [d for d in new_docs.values() if old_hashes.get(d.doc_id) != content_hash(d)]
            report = BuildReport(
                added=len(fresh),
                removed=len(gone),
                unchanged=len(new_docs) - len(fresh),
                changed=bool(fresh or gone or old is None),
            )
            store = old
            if report.changed:
                write = fresh if old is not None else list(new_docs.values())
                rows, report.embedded = self._cut_and_embed(write, progress)
                drop = gone | {d.doc_id for d in fresh if d.doc_id in old_hashes}
                store = tx.commit(ChangeSet(self.config, rows, drop, fresh=old is None))
        assert store is not None
        report.store = store
        stats = store.stats
        report.documents, report.chunks, report.sentences = (
            stats.documents,
            stats.chunks,
            stats.sentences,
        )
        report.seconds = time.perf_counter() - started
        return report

    def _cut_and_embed(self, docs: list[Document], progress: bool) -> tuple[list[NewRows], int]:
        """Each document's chunks and sentences, tokenised, with their vectors; and how many
        texts were embedded (not found in the cache)."""
        pieces = [
            (doc, chunk_document(doc, self.chunk_settings), split_sentences(doc)) for doc in docs
        ]
        # One embedding call for everything (batches fill across documents): chunks first, then
        # sentences. Vectors are for matching, so Traditional text is embedded folded to
        # Simplified, as questions are (`rag.script`); Simplified text is a fixed point.
        texts = [fold(c.text) for _, chunks, _ in pieces for c in chunks]
        texts += [fold(s.text) for _, _, sents in pieces for s in sents]
        vectors, embedded = self.cache.embed(self.embedder, texts, progress=progress)
        n_chunks = sum(len(chunks) for _, chunks, _ in pieces)
        chunk_vecs, sent_vecs = vectors[:n_chunks], vectors[n_chunks:]
        out: list[NewRows] = []
        at_c = at_s = 0
        for doc, chunks, sents in pieces:
            rows = [
                ChunkRow(
                    -1,
                    chunk_id(doc.doc_id, n),
                    c.doc_id,
                    c.start,
                    c.end,
                    c.text,
                    tuple(tokenize(c.text)),
                )  # fmt: skip
                for n, c in enumerate(chunks)
            ]
            srows = [
                SentenceRow(-1, s.doc_id, s.start, s.end, s.text, tuple(tokenize(s.text)))
                for s in sents
            ]
            out.append(
                NewRows(
                    doc,
                    content_hash(doc),
                    rows,
                    chunk_vecs[at_c : at_c + len(rows)],
                    srows,
                    sent_vecs[at_s : at_s + len(srows)],
                )
            )
            at_c += len(rows)
            at_s += len(srows)
        return out, embedded


def open_indexer(
    settings: Settings, embedder: Embedder, backend: StoreBackend | None = None
) -> Indexer:
    """The writer of the store `settings` names (or of `backend`, one the caller has open: a
    Milvus backend holds a client and caches worth keeping), with the embedding cache beside
    the index."""
    cache = EmbeddingCache(settings.index_dir / CACHE_FILE)
    backend = backend or open_backend(settings, embedder)
    return Indexer(backend, embedder, cache, settings.chunk)
