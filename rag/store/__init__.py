"""Store: where chunks, sentences, their vectors and the documents live, behind small protocols.

`rag.store.base` holds the protocols (`Store`, one committed read-only state that queries read;
`StoreBackend`, the writable side that `rag.indexing` commits through) and the rows they carry.
Engines: `rag.store.generations` (FAISS + SQLite generation folders, `RAG_STORE=faiss`, the
default) and `rag.store.milvus` (`RAG_STORE=milvus`, an optional extra). Nothing outside this
package touches FAISS, SQLite or their arrays.

    >>> backend = open_backend(Settings.from_env(), embedder)
    >>> store = backend.open()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rag.store.ann import IndexKind
from rag.store.base import (
    ChangeSet,
    ChunkRow,
    Committed,
    NewRows,
    SentenceRow,
    Store,
    StoreBackend,
    StoreConfig,
    StoreError,
    StoreStats,
    content_hash,
)
from rag.store.generations import (
    CACHE_FILE,
    GenerationBackend,
    clean_leftovers,
    current_generation,
    hold_serving,
    is_served,
    open_index,
)

if TYPE_CHECKING:
    from rag.embed import Embedder

STORES = ("faiss", "milvus")


class BackendSettings(Protocol):
    """What choosing and opening an engine reads (`rag.config.Settings` has it): named here so
    that the store, below the settings in the data flow, does not import them."""

    @property
    def store(self) -> str: ...
    @property
    def index_dir(self) -> Path: ...
    @property
    def index_kind(self) -> IndexKind: ...
    @property
    def milvus_uri(self) -> str | None: ...
    @property
    def milvus_token(self) -> str | None: ...


def open_backend(settings: BackendSettings, embedder: Embedder) -> StoreBackend:
    """The engine `settings.store` names (RAG_STORE)."""
    if settings.store == "milvus":
        # Imported here: pymilvus is an optional extra, needed only by those who choose it.
        from rag.store.milvus import MilvusBackend

        uri = settings.milvus_uri or str(settings.index_dir / "milvus.db")
        return MilvusBackend(uri, settings.milvus_token)
    return GenerationBackend(settings.index_dir, embedder, settings.index_kind)


__all__ = [
    "CACHE_FILE",
    "STORES",
    "BackendSettings",
    "ChangeSet",
    "ChunkRow",
    "Committed",
    "GenerationBackend",
    "NewRows",
    "SentenceRow",
    "Store",
    "StoreBackend",
    "StoreConfig",
    "StoreError",
    "StoreStats",
    "clean_leftovers",
    "content_hash",
    "current_generation",
    "hold_serving",
    "is_served",
    "open_backend",
    "open_index",
]
