"""The FAISS + SQLite generation folders keep every store promise (tests/store_conformance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_conformance import StoreConformance

from rag.embed import HashEmbedder
from rag.store import GenerationBackend, StoreBackend


class TestGenerations(StoreConformance):
    @pytest.fixture()
    def backend(self, tmp_path: Path) -> StoreBackend:
        return GenerationBackend(tmp_path / "index", HashEmbedder())
