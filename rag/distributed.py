"""Distributed builds: `rag build --ray [ADDRESS]` chunks and embeds on a Ray cluster.

Entry point: `ray_build(settings, sources, address) -> (BuildReport, IngestResult)`; needs the
`[scale]` extra (Ray Data), imported only here.

    >>> report, ingested = ray_build(Settings.from_env(store="milvus"), [Path("corpus/")], None)

The build is `rag.indexing.Indexer` with its cut-and-embed step run by Ray Data: documents are
cut into chunks and sentences (and tokenised) by Ray tasks, embedded in batches by a fixed pool
of embedder actors (one model each, one CPU each), and gathered back by the driver, which
commits them through the configured store as any build does (one transaction, the same diff by
content hash, so unchanged documents are not embedded). The actor pool leaves one CPU of the
cluster to the cutting tasks and Ray's own work: a pool that takes every CPU deadlocks (measured
on 2 CPUs: the tasks that feed it never get scheduled). Vectors are the same as a plain build's
(tests/test_ray_build.py).

Every worker must be able to import `rag` and load the embedder: install the project (with the
`[scale]` extra) on each node, or start the cluster from this environment.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunk import ChunkSettings, chunk_document, split_sentences
from rag.config import Settings
from rag.embed import Embedder, EmbeddingCache, get_embedder
from rag.indexing import BuildReport, Indexer
from rag.ingest import IngestResult, load_sources
from rag.lexical import tokenize
from rag.script import fold
from rag.store import CACHE_FILE, ChunkRow, NewRows, SentenceRow, StoreBackend, open_backend
from rag.store.base import content_hash
from rag.types import Document, Span, chunk_id

EMBED_BATCH = 32  # texts per actor call: the engine's own batch; larger only delays progress


def _cut(row: dict[str, Any], size: int, overlap: int) -> list[dict[str, Any]]:
    """One document's chunks and sentences as rows to embed (a Ray task)."""
    doc = Document(
        str(row["doc_id"]),
        str(row["text"]),
        str(row["title"] or ""),
        row["url"] or None,
        row["published"] or None,
    )
    out = []
    pieces: list[tuple[str, Sequence[Span]]] = [
        ("c", chunk_document(doc, ChunkSettings(size, overlap))),
        ("s", split_sentences(doc)),
    ]
    for kind, spans in pieces:
        for n, span in enumerate(spans):
            out.append(
                {
                    "doc": int(row["i"]),
                    "kind": kind,
                    "n": n,
                    "start": span.start,
                    "end": span.end,
                    "text": span.text,
                    "tokens": " ".join(tokenize(span.text)),
                }
            )
    return out


class _Embed:
    """A Ray Data actor: one embedder model, reused for every batch it is given."""

    def __init__(self, spec: str) -> None:
        self.embedder = get_embedder(spec)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Vectors are for matching: text is embedded folded to Simplified, as plain builds do.
        texts = [fold(str(t)) for t in batch["text"]]
        batch["vector"] = self.embedder.embed_passages(texts)
        return batch


class RayIndexer(Indexer):
    """An `Indexer` whose cut-and-embed step runs on a Ray cluster."""

    def __init__(
        self,
        backend: StoreBackend,
        embedder: Embedder,
        spec: str,
        cache: EmbeddingCache,
        chunk_settings: ChunkSettings | None = None,
        address: str | None = None,
        actors: int | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(backend, embedder, cache, chunk_settings)
        self.spec = spec
        self.address = address
        self.actors = actors
        self.timeout = timeout

    def _cut_and_embed(self, docs: list[Document], progress: bool) -> tuple[list[NewRows], int]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            # None starts a local cluster (or joins RAY_ADDRESS); "auto" finds a running one.
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
        try:
            return self._run(ray, docs, progress)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray: Any, docs: list[Document], progress: bool) -> tuple[list[NewRows], int]:
        from ray.data import ActorPoolStrategy, DataContext

        DataContext.get_current().enable_progress_bars = progress
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = self.actors or max(1, cpus - 1)  # one CPU left: see the module's docstring
        cs = self.chunk_settings
        items = [
            {
                "i": i,
                "doc_id": d.doc_id,
                "text": d.text,
                "title": d.title,
                "url": d.url or "",
                "published": d.published or "",
            }  # fmt: skip
            for i, d in enumerate(docs)
        ]
        rows = (
            ray.data.from_items(items)
            .flat_map(_cut, fn_kwargs={"size": cs.size, "overlap": cs.overlap})
            .map_batches(
                _Embed,
                fn_constructor_args=(self.spec,),
                batch_size=EMBED_BATCH,
                compute=ActorPoolStrategy(size=actors),
                num_cpus=1,
                batch_format="numpy",
            )
        )
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        got: dict[tuple[int, str], list[tuple[int, int, int, str, str, np.ndarray]]] = {}
        done = 0
        last = time.monotonic()
        for batch in rows.iter_batches(batch_size=256, batch_format="numpy"):
            for j in range(len(batch["n"])):
                key = (int(batch["doc"][j]), str(batch["kind"][j]))
                got.setdefault(key, []).append(
                    (
                        int(batch["n"][j]),
                        int(batch["start"][j]),
                        int(batch["end"][j]),
                        str(batch["text"][j]),
                        str(batch["tokens"][j]),
                        np.asarray(batch["vector"][j], dtype=np.float32),
                    )
                )
            done += len(batch["n"])
            if progress and time.monotonic() - last > 2:
                print(f"ray build: {done} texts embedded on {actors} actors", file=sys.stderr)
                last = time.monotonic()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Ray build did not finish in {self.timeout:.0f} s")
        return [self._rows(i, doc, got) for i, doc in enumerate(docs)], done

    def _rows(
        self,
        i: int,
        doc: Document,
        got: dict[tuple[int, str], list[tuple[int, int, int, str, str, np.ndarray]]],
    ) -> NewRows:
        """A document's rows as `Indexer` makes them, in text order."""
        chunks = sorted(got.get((i, "c"), []), key=lambda x: x[0])
        sents = sorted(got.get((i, "s"), []), key=lambda x: x[0])
        dim = self.embedder.dim

        def split(tokens: str) -> tuple[str, ...]:
            return tuple(tokens.split(" ")) if tokens else ()

        return NewRows(
            doc,
            content_hash(doc),
            [
                ChunkRow(-1, chunk_id(doc.doc_id, n), doc.doc_id, s, e, t, split(tok))
                for n, s, e, t, tok, _ in chunks
            ],
            np.vstack([c[5] for c in chunks]) if chunks else np.zeros((0, dim), np.float32),
            [SentenceRow(-1, doc.doc_id, s, e, t, split(tok)) for _, s, e, t, tok, _ in sents],
            np.vstack([s[5] for s in sents]) if sents else np.zeros((0, dim), np.float32),
        )


def ray_build(
    settings: Settings,
    sources: Sequence[Path],
    address: str | None,
    merge: bool = False,
    progress: bool = True,
    timeout: float | None = None,
) -> tuple[BuildReport, IngestResult]:
    """`rag build --ray [ADDRESS]`: the sources into the configured store, cut and embedded
    on Ray (`address` None: a local cluster or RAY_ADDRESS). With `merge`, other documents stay
    (`rag build --merge`); without, the store holds exactly the sources' documents."""
    ingested = load_sources(list(sources))
    if not ingested.documents:
        return BuildReport(skipped=ingested.skipped), ingested
    embedder = get_embedder(settings.embedder)
    indexer = RayIndexer(
        open_backend(settings, embedder),
        embedder,
        settings.embedder,
        EmbeddingCache(settings.index_dir / CACHE_FILE),
        settings.chunk,
        address=address,
        timeout=timeout,
    )
    report = indexer.apply(ingested.documents, replace_all=not merge, progress=progress)
    report.skipped = ingested.skipped
    return report, ingested
