"""The FAISS + SQLite generation folders keep every store promise (tests/store_conformance.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_conformance import StoreConformance

from rag.embed import HashEmbedder
from rag.store import GenerationBackend, StoreBackend


class TestGenerations(StoreConformance):
    @pytest.fixture()
    def backend(self, tmp_path: Path) -> StoreBackend:
        return GenerationBackend(tmp_path / "index", HashEmbedder())


@pytest.mark.milvus
class TestMilvusLite(StoreConformance):
    """The same promises on real milvus-lite, embedded in the test process."""

    @pytest.fixture()
    def backend(self, tmp_path: Path) -> Iterator[StoreBackend]:
        milvus = pytest.importorskip("rag.store.milvus", reason="the [scale] extra is missing")
        backend = milvus.MilvusBackend(str(tmp_path / "milvus.db"), grace_seconds=0.0)
        yield backend
        backend.close()
