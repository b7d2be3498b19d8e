"""The lexical leg held in memory: bm25s over the chunks' tokens and over their documents' fields.

Entry point: `Bm25Leg(chunks, documents).lexical(terms, k, rows, field_weight)`, the
`LexicalIndex` protocol for stores that keep their rows in memory (the FAISS generations).

A document's fields are its title words and the names in its source URL's host ("36kr" of
www.36kr.com): questions name their source ("according to 36Kr's outlook").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import bm25s
import numpy as np

from rag.lexical import tokenize
from rag.store.base import ChunkRow
from rag.types import Document

# Parts of a host name that name no source.
_HOST_NOISE = frozenset(
    ["www", "com", "cn", "net", "org", "co", "io", "uk", "jp", "de", "fr", "m", "html"]
)


def field_tokens(doc: Document) -> list[str]:
    """A document's title words and the names in its source URL's host."""
    host = re.match(r"[a-z]+://([^/:?#]+)", (doc.url or "").lower())
    names = [w for w in re.split(r"[^a-z0-9]+", host.group(1)) if w] if host else []
    return tokenize(doc.title or "") + [w for w in names if w not in _HOST_NOISE]


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25()
    model.index([tokens or [""] for tokens in corpus], show_progress=False)
    return model


class Bm25Leg:
    """BM25 over chunks given in row order, built once (at open or commit)."""

    def __init__(self, chunks: Sequence[ChunkRow], documents: Mapping[str, Document]) -> None:
        self._rows = np.array([c.row for c in chunks], dtype=np.int64)
        assert (np.diff(self._rows) > 0).all(), "chunks must come in row order"
        self._bm25: bm25s.BM25 | None = None
        self._fields: bm25s.BM25 | None = None
        self._n_docs = len(documents)
        if len(self._rows):
            self._bm25 = _bm25([list(c.tokens) for c in chunks])
            docs = sorted(documents)
            self._fields = _bm25([field_tokens(documents[d]) for d in docs])
            position = {d: i for i, d in enumerate(docs)}
            self._chunk_doc = np.array([position[c.doc_id] for c in chunks])

    def _scores(self, terms: Mapping[str, float], field_weight: float) -> np.ndarray:
        """Weighted BM25 of every chunk (row order), plus that of its document's fields."""
        scores = np.zeros(len(self._rows), dtype=np.float32)
        if self._bm25 is None or self._fields is None:
            return scores
        fields = np.zeros(self._n_docs, dtype=np.float32)
        for tok, weight in terms.items():
            if tok in self._bm25.vocab_dict:
                scores += weight * self._bm25.get_scores([tok])
            if tok in self._fields.vocab_dict:
                fields += weight * self._fields.get_scores([tok])
        return scores + field_weight * fields[self._chunk_doc]

    def lexical(
        self, terms: Mapping[str, float], k: int, rows: Sequence[int], field_weight: float
    ) -> tuple[list[tuple[int, float]], np.ndarray]:
        every = self._scores(terms, field_weight)
        top = [
            (int(self._rows[i]), float(every[i])) for i in np.argsort(-every)[:k] if every[i] > 0
        ]
        wanted = np.asarray(rows, dtype=np.int64)
        return top, every[np.searchsorted(self._rows, wanted)] if len(wanted) else every[:0]
