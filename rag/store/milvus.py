"""Milvus store: everything a query reads lives in Milvus, so any number of API processes can
answer from one Milvus (`RAG_STORE=milvus`, README "Scaling out").

Entry point: `MilvusBackend(uri, token).open() -> MilvusStore` (a `Store`), and
`MilvusBackend.transaction(...)` for the one writer, `rag.indexing`.

    >>> backend = MilvusBackend("index/milvus.db")          # milvus-lite, in this process
    >>> backend = MilvusBackend("http://milvus:19530", token="root:Milvus")
    >>> store = backend.open()
    >>> store.search(query_vector, k=5)                      # [(chunk_row, score), ...]

Layout. A *generation* is four collections, `{prefix}_{gen}_chunks` (chunk text, tokens, vector,
BM25 sparse vector), `_sentences` (sentence text, tokens, vector), `_documents` (text in parts,
metadata) and `_terms` (document frequencies). One row `current` of `{prefix}_meta` names the
live generation and its committed version, with the corpus statistics BM25 needs. Writing that
row is the commit: one upsert, atomic, so a reader sees a whole commit or none of it, whichever
replica it runs on. (A collection alias swaps one collection; a generation is four.)

Versions (MVCC). Inside a generation every row carries `born` (the version that wrote it) and
`died` (the version that dropped it; `_ALIVE` while live), and a reader at version V filters
`born <= V and died > V`. A write at V+1 inserts its rows with born=V+1 and marks the dropped
ones died=V+1 (partial upsert) before it moves `current`: readers at V see none of it until
then, and none of the dropped rows after. Document frequencies are insert-only rows per
(token, version), a reader takes the newest at or below V. Dead rows are deleted `GRACE_SECONDS`
after the commit that killed them (a replica may still read the version before for one poll);
a full rebuild (`ChangeSet.fresh`) writes a new generation and retires the old one likewise.

The lexical leg is BM25 as bm25s computes it (`Bm25Params`, method "lucene"). Each chunk's
sparse vector holds its term-frequency part tf/(tf + k1(1-b+b*len/avglen)) per token (and, in a
second block of dimensions, its document's field tokens), with `avglen` pinned when the
generation was built; the query vector holds weight x idf from the live document frequencies.
Sparse inner product finds the candidates; they (and the dense candidates) are then scored
exactly on the client from their tokens and the live statistics, so scores equal bm25s's
(tests/test_store_milvus.py) while avglen drifts with writes.

Writers take a lease in `{prefix}_locks` (`_Lease`: insert a claim, read all live claims, keep
it only if it is alone), so two replicas posting at once commit one after the other.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import numpy as np

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
from rag.store.bm25 import field_tokens
from rag.types import Document

log = logging.getLogger(__name__)

_ALIVE = 2**62  # `died` of a live row: later than any version
GRACE_SECONDS = 60.0  # how long rows a commit dropped stay readable by replicas a poll behind
LEASE_SECONDS = 60.0  # a writer's claim lives this long unless renewed (a crashed writer's ends)
LOCK_TIMEOUT = 300.0  # how long a writer waits for another's commit before giving up
_WINDOW = 16384  # the most rows one query returns (Milvus's maxQueryResultWindow)
_BATCH = 1000  # rows per insert/upsert call: well under gRPC's 64 MiB message limit
_IN_BATCH = 500  # values per `x in [...]` filter
_TEXT_PART = 16000  # characters per document part: 4 bytes each at most < VARCHAR's 65535
_VARCHAR = 65535
_CHUNK_DIMS = 1  # sparse dimensions: 0 = no token (bm25s's "" token), [1, 2^31) chunk terms,
_FIELD_DIMS = 2**31  # [2^31, 2^32 - 1) document-field terms (Milvus indices are uint32)
_META_DIM = 2  # the placeholder vector of collections that hold no vectors (Milvus needs one)
_HNSW = {"M": 32, "efConstruction": 80}  # as the FAISS store builds (rag/store/ann.py)
_HNSW_EF = 128  # search-time exploration; at least k (recall@10 in bench/RESULTS.md)


@dataclass(frozen=True)
class Bm25Params:
    """bm25s.BM25()'s defaults, method "lucene": idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
    term part tf / (tf + k1 (1 - b + b len / avglen)) (no (k1 + 1) factor, as in bm25s); a text
    with no token counts as one token (bm25s indexes it as [""])."""

    k1: float = 1.5
    b: float = 0.75

    def idf(self, df: int, n: int) -> float:
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def tf_part(self, tf: float, length: int, avglen: float) -> float:
        return tf / (tf + self.k1 * (1.0 - self.b + self.b * length / avglen))


BM25 = Bm25Params()


def term_dim(token: str, block: int) -> int:
    """The sparse dimension of a token: a 31-bit hash in its block (chunk or field terms). A
    collision only adds a candidate; candidates are scored exactly from their tokens."""
    h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "big")
    return block + 1 + h % (2**31 - 2)


def _length(tokens: Sequence[str]) -> int:
    return len(tokens) or 1


def _counts(tokens: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tokens:
        out[t] = out.get(t, 0) + 1
    return out


def _sparse(
    counts: Mapping[str, int], n: int, avg: float, fcounts: Mapping[str, int], fn: int, favg: float
) -> dict[int, float]:
    """A chunk's stored BM25 vector: the term part of each of its tokens, and of each of its
    document's field tokens in the field block."""
    out: dict[int, float] = {}
    for t, tf in counts.items():
        dim = term_dim(t, 0)
        out[dim] = out.get(dim, 0.0) + BM25.tf_part(tf, n, avg)
    for t, tf in fcounts.items():
        dim = term_dim(t, _FIELD_DIMS)
        out[dim] = out.get(dim, 0.0) + BM25.tf_part(tf, fn, favg)
    return out or {0: 1.0}  # bm25s's "" token: matched by no query


def _term_key(kind: str, version: int, token: str) -> str:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=16).hexdigest()
    return f"{kind}{version}:{digest}"


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _in(name: str, values: Sequence[Any]) -> str:
    items = ", ".join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)
    return f"{name} in [{items}]"


def _batches(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# -- the pointer: what is committed ---------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """The `current` row: the live generation, its version and what BM25 needs."""

    gen: str
    version: int
    config: StoreConfig
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    chunk_tokens: int = 0  # sum of chunk lengths (bm25s's avglen = this / chunks)
    field_tokens: int = 0  # sum of document field lengths
    pin_chunk_avg: float = 1.0  # avglen the stored sparse vectors were computed with
    pin_field_avg: float = 1.0
    next_row: int = 0  # chunk rows are never reused: answer caches and rows stay valid
    next_sentence: int = 0
    history: tuple[tuple[int, float], ...] = ()  # (version, committed at), newest last

    @property
    def name(self) -> str:
        return f"{self.gen}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [list(h) for h in self.history]
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Pointer:
        data = dict(value)
        data["config"] = StoreConfig(**data["config"])
        data["history"] = tuple((int(v), float(t)) for v, t in data.get("history", ()))
        return cls(**data)


# -- caching of immutable rows --------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class _Lru(OrderedDict[Any, Any]):
    """A bounded, thread-safe map. Rows are immutable once written (a row id is never reused),
    so they are cached by id across versions; what a version adds or drops changes which ids
    searches return, never what an id holds."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def take(self, key: Any) -> Any:
        with self.lock:
            value = super().get(key)
            if value is not None:
                self.move_to_end(key)
            return value

    def keep(self, key: Any, value: Any) -> None:
        with self.lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)


@dataclass(frozen=True)
class _Chunk:
    row: ChunkRow
    vector: np.ndarray
    fields: tuple[str, ...]  # its document's field tokens
    sentences: tuple[int, int]  # [first, last) sentence ids inside it


@dataclass(frozen=True)
class _Sentence:
    row: SentenceRow
    vector: np.ndarray
    seq: int  # place in its document


# -- the read side ---------------------------------------------------------------------------------


class _Documents(Mapping[str, Document]):
    """The committed documents, read from Milvus on demand (a corpus need not fit a replica)."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store

    def __getitem__(self, doc_id: str) -> Document:
        doc = self._store._document(doc_id)
        if doc is None:
            raise KeyError(doc_id)
        return doc

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and doc_id in self._store._doc_meta()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._store._doc_meta()))

    def __len__(self) -> int:
        return self._store._pointer.documents


class MilvusStore:
    """One committed version of a Milvus generation (a `Store`): read-only, thread-safe."""

    def __init__(self, backend: MilvusBackend, pointer: Pointer) -> None:
        self._backend = backend
        self._pointer = pointer
        self._names = backend._names(pointer.gen)
        backend._load(self._names.all())
        v = pointer.version
        self._live = f"born <= {v} and died > {v}"
        self._meta: dict[str, dict[str, Any]] | None = None
        self._meta_lock = threading.Lock()
        self._df = _Lru(100_000)  # (kind, token) -> df at this version

    # -- Corpus --
    @property
    def version(self) -> str:
        return self._pointer.name

    @property
    def config(self) -> StoreConfig:
        return self._pointer.config

    @property
    def stats(self) -> StoreStats:
        p = self._pointer
        return StoreStats(p.documents, p.chunks, p.sentences)

    @property
    def documents(self) -> Mapping[str, Document]:
        return _Documents(self)

    @property
    def hashes(self) -> Mapping[str, str]:
        return {d: m["hash"] for d, m in self._doc_meta().items()}

    def _doc_meta(self) -> dict[str, dict[str, Any]]:
        """doc_id -> the metadata of part 0 (hash, n_chunks, title...), read once a version."""
        with self._meta_lock:
            if self._meta is None:
                rows = self._backend._query_all(
                    self._names.documents,
                    f"part == 0 and {self._live}",
                    ["doc_id", "key", "meta"],
                )
                self._meta = {r["doc_id"]: {**r["meta"], "key": r["key"]} for r in rows}
            return self._meta

    def _document(self, doc_id: str) -> Document | None:
        cache = self._backend._docs
        meta = self._doc_meta().get(doc_id)
        if meta is None:
            return None
        doc = cache.take(meta["key"])
        if doc is None:
            parts = self._backend._client.query(
                self._names.documents,
                filter=f"doc_id == {_quote(doc_id)} and {self._live}",
                output_fields=["part", "text"],
            )
            text = "".join(p["text"] for p in sorted(parts, key=lambda p: p["part"]))
            doc = Document(
                doc_id,
                text,
                meta.get("title") or "",
                meta.get("url"),
                meta.get("published"),
                meta.get("author"),
                meta.get("source"),
            )
            cache.keep(meta["key"], doc)
        return doc

    def chunk(self, row: int) -> ChunkRow:
        return self._chunks([row])[0].row

    def chunks_of(self, doc_id: str) -> int:
        meta = self._doc_meta().get(doc_id)
        return int(meta["n_chunks"]) if meta else 0

    def chunk_sentences(self, row: int) -> list[SentenceRow]:
        lo, hi = self._chunks([row])[0].sentences
        return [s.row for s in self._sentences(list(range(lo, hi)))]

    def previous_sentence(self, sent: SentenceRow) -> SentenceRow | None:
        # A document's sentences take consecutive ids in text order.
        if self._sentences([sent.row])[0].seq == 0:
            return None
        return self._sentences([sent.row - 1])[0].row

    def knows(self, token: str) -> bool:
        return self._dfs("c", [token]).get(token, 0) > 0

    # -- VectorIndex --
    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if k <= 0 or not self._pointer.chunks:
            return []
        hits = self._backend._client.search(
            self._names.chunks,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=min(k, self._pointer.chunks),
            filter=self._live,
            search_params={"metric_type": "IP", "params": {"ef": max(_HNSW_EF, k)}},
            output_fields=["row"],
        )[0]
        return [(int(h["row"]), float(h["distance"])) for h in hits]

    def chunk_vectors(self, rows: Sequence[int]) -> np.ndarray:
        chunks = self._chunks(rows)
        # Retrieval asks for the vectors of every candidate, then for the sentences of each
        # one by one: fetching all their sentences now makes those one query, not one each.
        self._sentences([i for c in chunks for i in range(*c.sentences)])
        if not chunks:
            return np.zeros((0, self._pointer.config.dim), dtype=np.float32)
        return np.vstack([c.vector for c in chunks])

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray:
        sents = self._sentences(rows)
        if not sents:
            return np.zeros((0, self._pointer.config.dim), dtype=np.float32)
        return np.vstack([s.vector for s in sents])

    # -- LexicalIndex --
    def lexical(
        self, terms: Mapping[str, float], k: int, rows: Sequence[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        p = self._pointer
        terms = {t: w for t, w in terms.items() if t}
        dfc = self._dfs("c", list(terms))
        dff = self._dfs("f", list(terms)) if field_weight else {}
        idf_c = {t: BM25.idf(dfc[t], p.chunks) for t in terms if dfc.get(t, 0) > 0}
        idf_f = {t: BM25.idf(dff[t], p.documents) for t in terms if dff.get(t, 0) > 0}
        candidates: list[int] = []
        if k > 0 and (idf_c or idf_f):
            query: dict[int, float] = {}
            for t, idf in idf_c.items():
                d = term_dim(t, 0)
                query[d] = query.get(d, 0.0) + terms[t] * idf
            for t, idf in idf_f.items():
                d = term_dim(t, _FIELD_DIMS)
                query[d] = query.get(d, 0.0) + terms[t] * field_weight * idf
            query = {d: w for d, w in query.items() if w > 0}
            if query:
                # Twice the pool plus some: the stored term parts use the pinned avglen, the
                # exact scores below the live one; the margin absorbs the reordering.
                hits = self._backend._client.search(
                    self._names.chunks,
                    data=[query],
                    anns_field="bm25",
                    limit=min(2 * k + 20, max(p.chunks, 1)),
                    filter=self._live,
                    search_params={"metric_type": "IP"},
                    output_fields=["row"],
                )[0]
                candidates = [int(h["row"]) for h in hits]
        wanted = list(dict.fromkeys([*candidates, *rows]))
        chunks = {c.row.row: c for c in self._chunks(wanted)}
        avg_c = p.chunk_tokens / p.chunks if p.chunks else 1.0
        avg_f = p.field_tokens / p.documents if p.documents else 1.0

        def score(row: int) -> float:
            c = chunks[row]
            total = np.float32(0.0)
            if idf_c:
                counts, n = _counts(c.row.tokens), _length(c.row.tokens)
                for t, idf in idf_c.items():
                    if t in counts:
                        part = BM25.tf_part(counts[t], n, avg_c)
                        total += np.float32(terms[t]) * np.float32(idf * part)
            if idf_f and field_weight:
                counts, n = _counts(c.fields), _length(c.fields)
                fsum = np.float32(0.0)
                for t, idf in idf_f.items():
                    if t in counts:
                        fsum += np.float32(terms[t]) * np.float32(
                            idf * BM25.tf_part(counts[t], n, avg_f)
                        )
                total += np.float32(field_weight) * fsum
            return float(total)

        scored = {r: score(r) for r in wanted}
        # Equal scores go by row, so the pool is the same on every replica. (Bm25Leg's unstable
        # argsort orders them arbitrarily: the pools of the two stores may differ inside a tie
        # at the k-th score, as when every chunk of a document scores only its title.)
        top = sorted(
            ((r, s) for r in candidates if (s := scored[r]) > 0), key=lambda x: (-x[1], x[0])
        )
        return top[:k], np.array([scored[int(r)] for r in rows], dtype=np.float32)

    # -- fetching --
    def _dfs(self, kind: str, tokens: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        missing = []
        for t in tokens:
            df = self._df.take((kind, t))
            if df is None:
                missing.append(t)
            else:
                out[t] = df
        if missing:
            found = self._backend._terms_at(self._names.terms, kind, missing, self._pointer.version)
            for t in missing:
                df = found.get(t, (0, 0))[0]
                self._df.keep((kind, t), df)
                out[t] = df
        return out

    def _fetch(
        self,
        cache: _Lru,
        collection: str,
        key: str,
        ids: Sequence[int],
        fields: list[str],
        build: Callable[[dict[str, Any]], Any],
        what: str,
    ) -> list[Any]:
        """The rows `ids` of `collection` by their `key` field, in order: from the cache, the
        rest queried in batches, built by `build` and cached."""
        gen = self._pointer.gen
        got = {int(i): cache.take((gen, int(i))) for i in ids}
        missing = [i for i, v in got.items() if v is None]
        for part in _batches(missing, _IN_BATCH):
            for rec in self._backend._client.query(
                collection, filter=_in(key, part), output_fields=fields
            ):
                got[int(rec[key])] = value = build(rec)
                cache.keep((gen, int(rec[key])), value)
        out = [got[int(i)] for i in ids]
        lost = next((int(i) for i, v in zip(ids, out, strict=True) if v is None), None)
        if lost is not None:
            raise StoreError(
                f"{what} {lost} is not in Milvus generation {gen} (dropped since this version "
                "was read: reopen the store)"
            )
        return out

    def _chunks(self, rows: Sequence[int]) -> list[_Chunk]:
        fields = "row chunk_id doc_id start end text tokens fields sent_lo sent_hi vector"

        def build(rec: dict[str, Any]) -> _Chunk:
            return _Chunk(
                ChunkRow(
                    int(rec["row"]),
                    rec["chunk_id"],
                    rec["doc_id"],
                    int(rec["start"]),
                    int(rec["end"]),
                    rec["text"],
                    split_tokens(rec["tokens"]),
                ),
                np.asarray(rec["vector"], dtype=np.float32),
                split_tokens(rec["fields"]),
                (int(rec["sent_lo"]), int(rec["sent_hi"])),
            )

        cache, names = self._backend._chunk_cache, self._names.chunks
        return self._fetch(cache, names, "row", rows, fields.split(), build, "chunk row")

    def _sentences(self, ids: Sequence[int]) -> list[_Sentence]:
        fields = "sid doc_id start end text tokens seq vector"

        def build(rec: dict[str, Any]) -> _Sentence:
            return _Sentence(
                SentenceRow(
                    int(rec["sid"]),
                    rec["doc_id"],
                    int(rec["start"]),
                    int(rec["end"]),
                    rec["text"],
                    split_tokens(rec["tokens"]),
                ),
                np.asarray(rec["vector"], dtype=np.float32),
                int(rec["seq"]),
            )

        cache, names = self._backend._sentence_cache, self._names.sentences
        return self._fetch(cache, names, "sid", ids, fields.split(), build, "sentence")


# -- the write side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    chunks: str
    sentences: str
    documents: str
    terms: str

    def all(self) -> list[str]:
        return [self.chunks, self.sentences, self.documents, self.terms]


class _Lease:
    """Mutual exclusion between writers on any number of hosts, over Milvus's strongly
    consistent insert and query: insert a claim, read every live claim, and hold the lease only
    when ours is the only one (else withdraw it and retry after a random pause). Of two writers
    racing, at least one sees the other's claim, so at most one holds it. A claim expires after
    `LEASE_SECONDS` unless renewed (a thread renews it), so a crashed writer blocks nobody for
    long; `still_held` is checked again just before the commit."""

    def __init__(self, backend: MilvusBackend, timeout: float = LOCK_TIMEOUT) -> None:
        self.backend = backend
        self.timeout = timeout
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _claim(self) -> None:
        expires = int((time.time() + LEASE_SECONDS) * 1000)
        self.backend._client.upsert(
            self.backend._locks,
            [{"owner": self.owner, "expires": expires, "v": [1.0, 0.0]}],
        )

    def _live(self) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        return list(
            self.backend._client.query(
                self.backend._locks, filter=f"expires > {now}", output_fields=["owner", "expires"]
            )
        )

    def still_held(self) -> bool:
        """Our claim is still live (another writer's passing claim withdraws on seeing it)."""
        return self.owner in {c["owner"] for c in self._live()}

    def __enter__(self) -> _Lease:
        deadline = time.monotonic() + self.timeout
        # Claims of writers that died: expired, so ignored; deleted so they do not pile up.
        self.backend._client.delete(
            self.backend._locks, filter=f"expires < {int(time.time() * 1000)}"
        )
        pause = 0.02
        while True:
            self._claim()
            live = self._live()
            if [c["owner"] for c in live] == [self.owner]:
                break
            self.backend._client.delete(self.backend._locks, ids=[self.owner])
            others = [c["owner"] for c in live if c["owner"] != self.owner]
            if time.monotonic() > deadline:
                raise StoreError(
                    f"another writer ({', '.join(others)}) has held the Milvus store "
                    f"{self.backend.uri} for over {self.timeout:.0f} s; try again when it has "
                    f"committed, or wait {LEASE_SECONDS:.0f} s if it crashed"
                )
            time.sleep(pause * (1 + random.random()))  # noqa: S311 - backoff jitter
            pause = min(pause * 2, 1.0)
        self._thread = threading.Thread(target=self._renew, name="milvus-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                self._claim()
            except Exception:  # a failed renewal is seen by still_held before the commit
                log.warning("could not renew the Milvus write lease", exc_info=True)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.backend._client.delete(self.backend._locks, ids=[self.owner])


class MilvusTransaction:
    """Exclusive write access from `start`; `commit` once."""

    def __init__(
        self, backend: MilvusBackend, start: Committed, pointer: Pointer | None, lease: _Lease
    ) -> None:
        self.start = start
        self._backend = backend
        self._pointer = pointer
        self._lease = lease
        self._done = False

    def commit(self, changes: ChangeSet) -> Store:
        if self._done:
            raise StoreError("a transaction commits once; open another one")
        self._done = True
        b = self._backend
        p = self._pointer
        in_place = (
            p is not None
            and not changes.fresh
            and self.start.store is not None
            and p.config == changes.config
        )
        if in_place:
            assert p is not None
            new = b._write(p, changes, p.version + 1, self._lease)
        else:
            new = b._write_generation(changes, p, self._lease)
        return MilvusStore(b, new)


class MilvusBackend:
    """The writable side of a Milvus store (a `StoreBackend`).

    `uri` is a local path (milvus-lite, embedded in this process; `.db` is appended when
    missing, as pymilvus wants) or `http://host:19530` for a Milvus server or cluster (or a
    `milvus-lite server`), `token` its credentials ("user:password" or an API key).
    `cache_rows` bounds the chunks kept in this process (immutable rows, by id).
    """

    name = "milvus"

    def __init__(
        self,
        uri: str,
        token: str | None = None,
        collection_prefix: str = "rag",
        cache_rows: int = 20_000,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError:  # pragma: no cover - the optional extra
            raise StoreError("RAG_STORE=milvus needs pymilvus: pip install -e '.[scale]'") from None
        if "://" not in uri and not uri.endswith(".db"):
            uri = uri.rstrip("/") + ".db"
        if "://" not in uri:
            os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        self.uri = uri
        self.prefix = collection_prefix
        self.grace_seconds = grace_seconds
        try:
            self._client = MilvusClient(uri=uri, token=token or "", timeout=60)
        except Exception as exc:
            raise StoreError(
                f"cannot reach Milvus at {uri} ({exc}); check RAG_MILVUS_URI and RAG_MILVUS_TOKEN"
            ) from exc
        self._meta = f"{collection_prefix}_meta"
        self._locks = f"{collection_prefix}_locks"
        # Bounded: ~2.5 kB a chunk (vector and text), ~2 kB a sentence, so about 150 MiB at the
        # default; a query touches ~100 chunks and their ~600 sentences.
        self._chunk_cache = _Lru(cache_rows)
        self._sentence_cache = _Lru(cache_rows * 3)
        self._docs = _Lru(max(1000, cache_rows // 20))
        self._loaded: set[str] = set()
        self._ensure_fixed()
        self._load([self._meta, self._locks])

    # -- StoreBackend --
    def committed_version(self) -> str | None:
        p = self._read_pointer()
        return p.name if p is not None else None

    def open(self, reuse: Store | None = None) -> MilvusStore:  # noqa: ARG002 - nothing to reuse: reads go to Milvus
        p = self._read_pointer()
        if p is None:
            raise StoreError(
                f"no index in Milvus at {self.uri} (collections {self.prefix}_*): run "
                "`RAG_STORE=milvus rag build` to build one from seeds/"
            )
        return MilvusStore(self, p)

    @contextlib.contextmanager
    def transaction(
        self, config: StoreConfig, base: Store | None, replace_all: bool
    ) -> Iterator[MilvusTransaction]:
        with _Lease(self) as lease:
            self._clean_held()
            p = self._read_pointer()
            if p is None:
                start = Committed(None, {})
            else:
                store = (
                    base
                    if isinstance(base, MilvusStore) and base.version == p.name
                    else MilvusStore(self, p)
                )
                if p.config == config:
                    start = Committed(store)
                else:
                    docs = store.documents
                    start = Committed(None, {d: (docs[d], h) for d, h in store.hashes.items()})
            yield MilvusTransaction(self, start, p, lease)

    def clean(self) -> list[str]:
        """Remove what crashed writes left and what the grace period no longer protects; their
        names. Skipped (returns []) while another writer holds the lease."""
        try:
            with _Lease(self, timeout=0.0):
                return self._clean_held()
        except StoreError:
            return []

    def drop_all(self) -> None:
        """Delete every collection of this prefix (tests, `rag migrate --force`)."""
        for name in self._client.list_collections():
            if name == self._meta or name == self._locks or name.startswith(f"{self.prefix}_g"):
                self._client.drop_collection(name)
        self._ensure_fixed()

    def close(self) -> None:
        self._client.close()

    # -- plumbing --
    def _names(self, gen: str) -> _Names:
        base = f"{self.prefix}_g{gen}"
        return _Names(f"{base}_chunks", f"{base}_sentences", f"{base}_documents", f"{base}_terms")

    def _ensure_fixed(self) -> None:
        from pymilvus import DataType

        for name, pk in ((self._meta, "key"), (self._locks, "owner")):
            if self._client.has_collection(name):
                continue
            schema = self._client.create_schema(auto_id=False)
            schema.add_field(pk, DataType.VARCHAR, is_primary=True, max_length=512)
            if name == self._meta:
                schema.add_field("value", DataType.JSON)
            else:
                schema.add_field("expires", DataType.INT64)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=_META_DIM)
            index = self._client.prepare_index_params()
            index.add_index("v", index_type="FLAT", metric_type="IP")
            with contextlib.suppress(Exception):  # another process created it first
                self._client.create_collection(
                    name, schema=schema, index_params=index, consistency_level="Strong"
                )

    def _load(self, names: Sequence[str]) -> None:
        """Load collections once per process: a restarted milvus-lite holds them released, and
        a Milvus server answers a load of a loaded collection at once."""
        for name in names:
            if name not in self._loaded:
                self._client.load_collection(name)
                self._loaded.add(name)

    def _read_pointer(self) -> Pointer | None:
        rows = self._client.query(self._meta, filter='key == "current"', output_fields=["value"])
        return Pointer.from_json(rows[0]["value"]) if rows else None

    def _read_meta(self, key: str) -> Any:
        rows = self._client.query(
            self._meta, filter=f"key == {_quote(key)}", output_fields=["value"]
        )
        return rows[0]["value"] if rows else None

    def _write_meta(self, key: str, value: Any) -> None:
        self._client.upsert(self._meta, [{"key": key, "value": value, "v": [1.0, 0.0]}])

    def _query_all(self, collection: str, filter: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `filter`: one query when they fit Milvus's result window, else
        in pages through an iterator."""
        rows = list(
            self._client.query(collection, filter=filter, output_fields=fields, limit=_WINDOW)
        )
        if len(rows) < _WINDOW:
            return rows
        out: list[dict[str, Any]] = []
        it = self._client.query_iterator(
            collection, batch_size=4096, filter=filter, output_fields=fields
        )
        try:
            while page := it.next():
                out.extend(page)
        finally:
            it.close()
        return out

    def _terms_at(
        self, collection: str, kind: str, tokens: Sequence[str], version: int
    ) -> dict[str, tuple[int, int]]:
        """token -> (df, the version that wrote it): the newest row at or below `version`."""
        out: dict[str, tuple[int, int]] = {}
        for part in _batches(list(dict.fromkeys(tokens)), _IN_BATCH):
            for rec in self._query_all(
                collection,
                f"kind == {_quote(kind)} and {_in('token', part)} and version <= {version}",
                ["token", "df", "version"],
            ):
                t, v = rec["token"], int(rec["version"])
                if t not in out or out[t][1] < v:
                    out[t] = (int(rec["df"]), v)
        return out

    def _create_generation(self, gen: str, dim: int) -> _Names:
        from pymilvus import DataType

        names = self._names(gen)
        c = self._client

        def make(
            name: str, fields: list[tuple[str, Any, dict[str, Any]]], indexes: dict[str, Any]
        ) -> None:
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            for fname, dtype, kw in fields:
                schema.add_field(fname, dtype, **kw)
            params = c.prepare_index_params()
            for fname, kw in indexes.items():
                params.add_index(fname, **kw)
            c.create_collection(
                name, schema=schema, index_params=params, consistency_level="Strong"
            )

        text = {"max_length": _VARCHAR}
        ident = {"max_length": 1024}
        version: list[tuple[str, Any, dict[str, Any]]] = [
            ("born", DataType.INT64, {}),
            ("died", DataType.INT64, {}),
        ]
        flat = {"index_type": "FLAT", "metric_type": "IP"}
        make(
            names.chunks,
            [
                ("row", DataType.INT64, {"is_primary": True}),
                ("chunk_id", DataType.VARCHAR, ident),
                ("doc_id", DataType.VARCHAR, ident),
                ("start", DataType.INT64, {}),
                ("end", DataType.INT64, {}),
                ("text", DataType.VARCHAR, text),
                ("tokens", DataType.VARCHAR, text),
                ("fields", DataType.VARCHAR, text),
                ("sent_lo", DataType.INT64, {}),
                ("sent_hi", DataType.INT64, {}),
                *version,
                ("vector", DataType.FLOAT_VECTOR, {"dim": dim}),
                ("bm25", DataType.SPARSE_FLOAT_VECTOR, {}),
            ],
            {
                "vector": {"index_type": "HNSW", "metric_type": "IP", "params": _HNSW},
                "bm25": {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP"},
            },
        )
        make(
            names.sentences,
            [
                ("sid", DataType.INT64, {"is_primary": True}),
                ("doc_id", DataType.VARCHAR, ident),
                ("start", DataType.INT64, {}),
                ("end", DataType.INT64, {}),
                ("text", DataType.VARCHAR, text),
                ("tokens", DataType.VARCHAR, text),
                ("seq", DataType.INT64, {}),
                *version,
                ("vector", DataType.FLOAT_VECTOR, {"dim": dim}),
            ],
            {"vector": flat},  # read by id only, never searched
        )
        make(
            names.documents,
            [
                ("key", DataType.VARCHAR, {"is_primary": True, "max_length": 1100}),
                ("doc_id", DataType.VARCHAR, ident),
                ("part", DataType.INT64, {}),
                ("text", DataType.VARCHAR, text),
                ("meta", DataType.JSON, {}),
                *version,
                ("v", DataType.FLOAT_VECTOR, {"dim": _META_DIM}),
            ],
            {"v": flat},
        )
        make(
            names.terms,
            [
                ("key", DataType.VARCHAR, {"is_primary": True, "max_length": 128}),
                ("kind", DataType.VARCHAR, {"max_length": 1}),
                ("token", DataType.VARCHAR, text),
                ("version", DataType.INT64, {}),
                ("df", DataType.INT64, {}),
                ("v", DataType.FLOAT_VECTOR, {"dim": _META_DIM}),
            ],
            {"v": flat},
        )
        return names

    def _insert(
        self,
        collection: str,
        rows: list[dict[str, Any]],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        for part in _batches(rows, _BATCH):
            self._client.insert(collection, list(part))
            if progress is not None:
                progress(len(part))

    def _write_generation(self, changes: ChangeSet, old: Pointer | None, lease: _Lease) -> Pointer:
        """A rebuild: every row into a new generation, then `current` names it."""
        gen = uuid.uuid4().hex[:12]
        self._create_generation(gen, changes.config.dim)
        chunks = [c for nr in changes.add for c in nr.chunks]
        fields = {nr.doc.doc_id: field_tokens(nr.doc) for nr in changes.add}
        empty = Pointer(gen=gen, version=0, config=changes.config)
        n_chunks = len(chunks)
        pin_c = sum(_length(c.tokens) for c in chunks) / n_chunks if n_chunks else 1.0
        pin_f = sum(_length(f) for f in fields.values()) / len(fields) if fields else 1.0
        empty = replace(empty, pin_chunk_avg=pin_c, pin_field_avg=pin_f)
        new = self._write(empty, replace(changes, drop=set()), 1, lease, fresh=True)
        if old is not None:
            retired = list(self._read_meta("retired") or [])
            retired.append({"gen": old.gen, "at": time.time()})
            self._write_meta("retired", retired)
        return new

    def _write(
        self, p: Pointer, changes: ChangeSet, v: int, lease: _Lease, fresh: bool = False
    ) -> Pointer:
        """Apply `changes` to generation `p.gen` as version `v` and move `current` there."""
        names = self._names(p.gen)
        c = self._client
        live = f"born <= {p.version} and died > {p.version}"
        drop = sorted(changes.drop) if not fresh else []
        # What goes: live rows of the dropped documents (their tokens, for the frequencies).
        gone_chunks: list[dict[str, Any]] = []
        gone_keys: list[str] = []
        gone_docs: list[dict[str, Any]] = []
        gone_sents: list[int] = []
        for part in _batches(drop, _IN_BATCH):
            f = f"{_in('doc_id', part)} and {live}"
            gone_chunks += self._query_all(names.chunks, f, ["row", "tokens", "doc_id"])
            gone_sents += [int(r["sid"]) for r in self._query_all(names.sentences, f, ["sid"])]
            docs = self._query_all(names.documents, f, ["key", "part", "meta", "doc_id"])
            gone_keys += [d["key"] for d in docs]
            gone_docs += [d for d in docs if d["part"] == 0]

        # New rows, with ids after every id ever used in this generation.
        next_row, next_sent = p.next_row, p.next_sentence
        chunk_recs: list[dict[str, Any]] = []
        sent_recs: list[dict[str, Any]] = []
        doc_recs: list[dict[str, Any]] = []
        dc: dict[str, int] = {}  # df deltas, chunk terms
        dfd: dict[str, int] = {}  # df deltas, field terms
        tokens_delta = fields_delta = 0
        for nr in changes.add:
            doc = nr.doc
            ftoks = field_tokens(doc)
            fcounts = _counts(ftoks)
            flen = _length(ftoks)
            fields_delta += flen
            for t in fcounts:
                dfd[t] = dfd.get(t, 0) + 1
            first_sent = next_sent
            ends = [s.end for s in nr.sentences]
            for i, s in enumerate(nr.sentences):
                sent_recs.append(
                    {
                        "sid": next_sent + i,
                        "doc_id": doc.doc_id,
                        "start": s.start,
                        "end": s.end,
                        "text": s.text,
                        "tokens": " ".join(s.tokens),
                        "seq": i,
                        "born": v,
                        "died": _ALIVE,
                        "vector": np.asarray(nr.sentence_vectors[i], dtype=np.float32).tolist(),
                    }
                )
            next_sent += len(nr.sentences)
            for j, ch in enumerate(nr.chunks):
                counts = _counts(ch.tokens)
                n = _length(ch.tokens)
                tokens_delta += n
                for t in counts:
                    dc[t] = dc.get(t, 0) + 1
                sparse = _sparse(counts, n, p.pin_chunk_avg, fcounts, flen, p.pin_field_avg)
                # The sentences inside the chunk (end after its start, start before its end).
                lo = bisect.bisect_right(ends, ch.start)
                hi = lo
                while hi < len(nr.sentences) and nr.sentences[hi].start < ch.end:
                    hi += 1
                chunk_recs.append(
                    {
                        "row": next_row + j,
                        "chunk_id": ch.chunk_id,
                        "doc_id": ch.doc_id,
                        "start": ch.start,
                        "end": ch.end,
                        "text": ch.text,
                        "tokens": " ".join(ch.tokens),
                        "fields": " ".join(ftoks),
                        "sent_lo": first_sent + lo,
                        "sent_hi": first_sent + hi,
                        "born": v,
                        "died": _ALIVE,
                        "vector": np.asarray(nr.chunk_vectors[j], dtype=np.float32).tolist(),
                        "bm25": sparse,
                    }
                )
            next_row += len(nr.chunks)
            meta = {
                "title": doc.title,
                "url": doc.url,
                "published": doc.published,
                "author": doc.author,
                "source": doc.source,
                "hash": nr.hash,
                "n_chunks": len(nr.chunks),
                "chars": len(doc.text),
            }
            pieces = [doc.text[i : i + _TEXT_PART] for i in range(0, len(doc.text), _TEXT_PART)]
            for k, piece in enumerate(pieces or [""]):
                doc_recs.append(
                    {
                        "key": f"{doc.doc_id}@{v}#{k}",
                        "doc_id": doc.doc_id,
                        "part": k,
                        "text": piece,
                        "meta": meta if k == 0 else {},
                        "born": v,
                        "died": _ALIVE,
                        "v": [1.0, 0.0],
                    }
                )
        for g in gone_chunks:
            toks = split_tokens(g["tokens"])
            tokens_delta -= _length(toks)
            for t in set(toks):
                dc[t] = dc.get(t, 0) - 1
        for gone in gone_docs:
            meta = gone["meta"]
            ftoks = field_tokens(
                Document(gone["doc_id"], "", meta.get("title") or "", meta.get("url"))
            )
            fields_delta -= _length(ftoks)
            for t in set(ftoks):
                dfd[t] = dfd.get(t, 0) - 1

        # Frequencies at v: the old ones (at p.version) plus the deltas, one row per token.
        term_recs: list[dict[str, Any]] = []
        horizon = self._horizon(p)
        stale_terms: list[str] = []
        for kind, delta in (("c", dc), ("f", dfd)):
            changed = [t for t, d in delta.items() if d]
            old = self._terms_at_all(names.terms, kind, changed, p.version) if not fresh else {}
            for t in changed:
                versions = old.get(t, [])
                before = max(versions, key=lambda x: x[1])[0] if versions else 0
                term_recs.append(
                    {
                        "key": _term_key(kind, v, t),
                        "kind": kind,
                        "token": t,
                        "version": v,
                        "df": before + delta[t],
                        "v": [1.0, 0.0],
                    }
                )
                # Older rows nobody can read any more: all but the newest at the horizon.
                settled = [x for x in versions if x[1] <= horizon]
                if len(settled) > 1:
                    newest = max(x[1] for x in settled)
                    stale_terms += [x[2] for x in settled if x[1] < newest]

        # Write: new rows (invisible at p.version), dead marks (still live at p.version).
        self._insert(names.sentences, sent_recs)
        self._insert(names.documents, doc_recs)
        self._insert(names.chunks, chunk_recs)
        self._insert(names.terms, term_recs)
        for coll, pk, ids in (
            (names.chunks, "row", [int(g["row"]) for g in gone_chunks]),
            (names.sentences, "sid", gone_sents),
            (names.documents, "key", gone_keys),
        ):
            for part in _batches(ids, _BATCH):
                c.upsert(coll, [{pk: i, "died": v} for i in part], partial_update=True)
        n_docs = p.documents + len({d.doc.doc_id for d in changes.add}) - len(gone_docs)
        now = time.time()
        new = replace(
            p,
            version=v,
            config=changes.config,
            documents=n_docs,
            chunks=p.chunks + len(chunk_recs) - len(gone_chunks),
            sentences=p.sentences + len(sent_recs) - len(gone_sents),
            chunk_tokens=p.chunk_tokens + tokens_delta,
            field_tokens=p.field_tokens + fields_delta,
            next_row=next_row,
            next_sentence=next_sent,
            history=(*p.history, (v, now))[-64:],
        )
        if not lease.still_held():
            raise StoreError(
                "lost the Milvus write lease before committing (another writer took it after "
                f"{LEASE_SECONDS:.0f} s without renewal); nothing was committed: retry"
            )
        self._write_meta("current", new.to_json())  # the commit
        for part in _batches(stale_terms, _BATCH):
            c.delete(names.terms, ids=list(part))
        return new

    def _terms_at_all(
        self, collection: str, kind: str, tokens: Sequence[str], version: int
    ) -> dict[str, list[tuple[int, int, str]]]:
        """token -> every (df, version, key) row at or below `version`."""
        out: dict[str, list[tuple[int, int, str]]] = {}
        for part in _batches(list(tokens), _IN_BATCH):
            for rec in self._query_all(
                collection,
                f"kind == {_quote(kind)} and {_in('token', part)} and version <= {version}",
                ["token", "df", "version", "key"],
            ):
                out.setdefault(rec["token"], []).append(
                    (int(rec["df"]), int(rec["version"]), rec["key"])
                )
        return out

    def _horizon(self, p: Pointer) -> int:
        """The newest version no reader can still be before: every version older than it was
        superseded over `grace_seconds` ago."""
        cutoff = time.time() - self.grace_seconds
        settled = [v for v, at in p.history if at < cutoff]
        return max(settled) if settled else 0

    def _clean_held(self) -> list[str]:
        """Under the lease: undo what a crashed writer left in the live generation, delete rows
        dead for longer than the grace period, drop retired and orphaned generations."""
        removed: list[str] = []
        p = self._read_pointer()
        c = self._client
        if p is not None:
            names = self._names(p.gen)
            v = p.version
            for coll in (names.chunks, names.sentences, names.documents):
                left = c.query(coll, filter=f"born > {v}", output_fields=["count(*)"])
                if left and left[0]["count(*)"]:
                    c.delete(coll, filter=f"born > {v}")
                    removed.append(f"{coll}: rows of an uncommitted write")
                pk = {names.chunks: "row", names.sentences: "sid"}.get(coll, "key")
                marked = self._query_all(coll, f"died > {v} and died < {_ALIVE}", [pk])
                for part in _batches([m[pk] for m in marked], _BATCH):
                    c.upsert(coll, [{pk: i, "died": _ALIVE} for i in part], partial_update=True)
                horizon = self._horizon(p)
                if horizon:
                    dead = c.query(coll, filter=f"died <= {horizon}", output_fields=["count(*)"])
                    if dead and dead[0]["count(*)"]:
                        c.delete(coll, filter=f"died <= {horizon}")
            c.delete(names.terms, filter=f"version > {v}")
        retired = list(self._read_meta("retired") or [])
        keep = []
        cutoff = time.time() - self.grace_seconds
        for r in retired:
            if r["at"] < cutoff:
                for name in self._names(r["gen"]).all():
                    if c.has_collection(name):
                        c.drop_collection(name)
                removed.append(f"generation {r['gen']}")
            else:
                keep.append(r)
        if keep != retired:
            self._write_meta("retired", keep)
        # Generations neither live nor retired: a rebuild that crashed before its commit.
        known = {r["gen"] for r in keep} | ({p.gen} if p else set())
        stem = f"{self.prefix}_g"
        for name in c.list_collections():
            if name.startswith(stem) and name.count("_") >= 2:
                gen = name[len(stem) :].split("_", 1)[0]
                if gen not in known:
                    c.drop_collection(name)
                    removed.append(name)
        return removed


__all__ = ["Bm25Params", "MilvusBackend", "MilvusStore", "MilvusTransaction", "term_dim"]
