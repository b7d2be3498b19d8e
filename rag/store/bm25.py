"""The lexical leg held in memory: BM25 over the chunks' tokens and over their documents' fields.

Entry point: `Bm25Leg.build(chunks, documents)`, then `leg.lexical(terms, k, rows, field_weight)`
(the `LexicalIndex` protocol) and `leg.changed(drop, add, documents)`, the leg of the next
committed state in time proportional to the change (what a write costs must not grow with the
corpus; issue 16).

The chunk leg keeps postings (token -> rows, term frequencies, lengths) and computes bm25s's
scores at query time from the live statistics, with bm25s's own arithmetic (method "lucene",
k1 1.5, b 0.75; a chunk without tokens counts as the one token ""), so the scores are bm25s's to
the bit (tests/test_bm25.py) without rebuilding bm25s's matrix on every write. The field leg is
the same over documents.

A document's fields are its title words and the names in its source URL's host ("36kr" of
www.36kr.com): questions name their source ("according to 36Kr's outlook").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.lexical import tokenize
from rag.store.base import ChunkRow
from rag.types import Document

K1 = 1.5  # bm25s.BM25()'s defaults
B = 0.75

# Parts of a host name that name no source.
_HOST_NOISE = frozenset(
    ["www", "com", "cn", "net", "org", "co", "io", "uk", "jp", "de", "fr", "m", "html"]
)


def field_tokens(doc: Document) -> list[str]:
    """A document's title words and the names in its source URL's host."""
    host = re.match(r"[a-z]+://([^/:?#]+)", (doc.url or "").lower())
    names = [w for w in re.split(r"[^a-z0-9]+", host.group(1)) if w] if host else []
    return tokenize(doc.title or "") + [w for w in names if w not in _HOST_NOISE]


@dataclass(frozen=True)
class _Posting:
    rows: np.ndarray  # int64, ascending
    tf: np.ndarray  # float32, as bm25s counts
    length: np.ndarray  # int64: the chunk's token count (1 for a chunk without tokens)


Rows = Iterable[tuple[int, tuple[str, ...]]]  # (row, tokens): chunks, or documents' fields


def _postings_of(items: Rows) -> dict[str, list[tuple[int, int, int]]]:
    out: dict[str, list[tuple[int, int, int]]] = {}
    for row, tokens in items:
        tokens = tokens or ("",)
        for tok, tf in Counter(tokens).items():
            out.setdefault(tok, []).append((row, tf, len(tokens)))
    return out


def _posting(entries: list[tuple[int, int, int]]) -> _Posting:
    rows, tf, length = zip(*entries, strict=True)
    return _Posting(
        np.array(rows, dtype=np.int64),
        np.array(tf, dtype=np.float32),
        np.array(length, dtype=np.int64),
    )


class _Postings:
    """Postings of the live rows and the statistics BM25 needs (N, total length)."""

    def __init__(self, postings: dict[str, _Posting], n: int, total: int) -> None:
        self.postings = postings
        self.n = n
        self.total = total

    @classmethod
    def build(cls, items: Sequence[tuple[int, tuple[str, ...]]]) -> _Postings:
        postings = {t: _posting(e) for t, e in _postings_of(items).items()}
        return cls(postings, len(items), sum(len(toks) or 1 for _, toks in items))

    def changed(
        self,
        drop: Sequence[tuple[int, tuple[str, ...]]],
        add: Sequence[tuple[int, tuple[str, ...]]],
    ) -> _Postings:
        """Without `drop`, with `add` (rows above every live one): only the postings of their
        tokens are rewritten; the rest are shared with this (immutable) state."""
        postings = dict(self.postings)
        gone = np.array(sorted(row for row, _ in drop), dtype=np.int64)
        for tok in {t for _, toks in drop for t in (toks or ("",))}:
            p = postings[tok]
            keep = ~np.isin(p.rows, gone)
            if keep.any():
                postings[tok] = _Posting(p.rows[keep], p.tf[keep], p.length[keep])
            else:
                del postings[tok]
        for tok, entries in _postings_of(add).items():
            new = _posting(entries)
            had = postings.get(tok)
            postings[tok] = (
                new
                if had is None
                else _Posting(
                    np.concatenate([had.rows, new.rows]),
                    np.concatenate([had.tf, new.tf]),
                    np.concatenate([had.length, new.length]),
                )
            )
        n = self.n - len(drop) + len(add)
        total = (
            self.total
            - sum(len(toks) or 1 for _, toks in drop)
            + sum(len(toks) or 1 for _, toks in add)
        )
        return _Postings(postings, n, total)

    def scores(self, tok: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows holding `tok` and their BM25 for it, exactly as bm25s computes it."""
        p = self.postings.get(tok)
        if p is None or not self.n:
            return None
        df = len(p.rows)
        # bm25s: idf ("lucene") into a float32 array; the term part with the mean length as a
        # NumPy float64; their product stored as float32. Same operations, same order.
        idf = np.float32(math.log(1 + (self.n - df + 0.5) / (df + 0.5)))
        avg = np.float64(self.total) / np.float64(self.n)
        tfc = p.tf / (K1 * ((1 - B) + B * p.length / avg) + p.tf)
        return p.rows, (idf * tfc).astype(np.float32)


class Bm25Leg:
    """BM25 over one committed state's chunks (rows ascending) and its documents' fields.

    Documents have numbers of their own here, given in the order they arrive and never reused,
    so that a change renumbers nothing (BM25 is the same whatever the order)."""

    def __init__(
        self,
        rows: np.ndarray,
        chunk_doc: np.ndarray,
        chunks: _Postings,
        doc_number: dict[str, int],
        doc_fields: dict[str, tuple[str, ...]],
        fields: _Postings,
    ) -> None:
        self._rows = rows  # every live chunk row, ascending
        self._chunk_doc = chunk_doc  # each row's document number
        self._chunks = chunks
        self._doc_number = doc_number
        self._doc_fields = doc_fields
        self._fields = fields

    @classmethod
    def build(cls, chunks: Sequence[ChunkRow], documents: Mapping[str, Document]) -> Bm25Leg:
        """`chunks` in row order."""
        rows = np.array([c.row for c in chunks], dtype=np.int64)
        assert (np.diff(rows) > 0).all(), "chunks must come in row order"
        number = {d: i for i, d in enumerate(documents)}
        fields = {d: tuple(field_tokens(doc)) for d, doc in documents.items()}
        return cls(
            rows,
            np.array([number[c.doc_id] for c in chunks], dtype=np.int64),
            _Postings.build([(c.row, c.tokens) for c in chunks]),
            number,
            fields,
            _Postings.build([(number[d], toks) for d, toks in fields.items()]),
        )

    def changed(
        self, drop: Sequence[ChunkRow], add: Sequence[ChunkRow], documents: Mapping[str, Document]
    ) -> Bm25Leg:
        """The leg of the next state: without the `drop` chunks, with the `add` chunks (in row
        order, above every live row), over `documents` (the next state's)."""
        gone = np.isin(self._rows, np.array([c.row for c in drop], dtype=np.int64))
        # A document whose chunks changed, or that is gone, leaves the field leg; a new or
        # replaced one joins it under a new number.
        touched = {c.doc_id for c in drop} | {c.doc_id for c in add}
        touched |= self._doc_number.keys() - documents.keys()
        old = [d for d in touched if d in self._doc_number]
        number = {d: n for d, n in self._doc_number.items() if d not in touched}
        fields = {d: t for d, t in self._doc_fields.items() if d not in touched}
        next_number = max(self._doc_number.values(), default=-1) + 1
        joined = []
        for d in documents.keys() & touched:
            number[d] = next_number
            fields[d] = tuple(field_tokens(documents[d]))
            joined.append((next_number, fields[d]))
            next_number += 1
        rows = np.concatenate([self._rows[~gone], np.array([c.row for c in add], dtype=np.int64)])
        kept_doc = self._chunk_doc[~gone]
        # A kept chunk of a touched document (none today: a change replaces whole documents).
        assert not {c.doc_id for c in drop} - touched
        chunk_doc = np.concatenate(
            [kept_doc, np.array([number[c.doc_id] for c in add], dtype=np.int64)]
        )
        assert (np.diff(rows) > 0).all()
        return Bm25Leg(
            rows,
            chunk_doc,
            self._chunks.changed(
                [(c.row, c.tokens) for c in drop], [(c.row, c.tokens) for c in add]
            ),
            number,
            fields,
            self._fields.changed([(self._doc_number[d], self._doc_fields[d]) for d in old], joined),
        )

    def knows(self, token: str) -> bool:
        return bool(token) and token in self._chunks.postings

    def _scores(self, terms: Mapping[str, float], field_weight: float) -> np.ndarray:
        """Weighted BM25 of every chunk (row order), plus that of its document's fields."""
        scores = np.zeros(len(self._rows), dtype=np.float32)
        if not len(self._rows):
            return scores
        fields = np.zeros(max(self._doc_number.values()) + 1, dtype=np.float32)
        for tok, weight in terms.items():
            for postings, total, where in (
                (self._chunks, scores, self._rows),
                (self._fields, fields, None),
            ):
                found = postings.scores(tok)
                if found is None:
                    continue
                # One token's scores over every row, then weighted and added: as bm25s's
                # get_scores([tok]) was, so the sums round the same way.
                one = np.zeros(len(total), dtype=np.float32)
                one[found[0] if where is None else np.searchsorted(where, found[0])] = found[1]
                total += weight * one
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
