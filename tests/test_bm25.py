"""The in-memory lexical leg gives bm25s's scores to the bit, built at once or changed write by
write (the leg of a state with documents added and dropped equals a fresh build of that state)."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from rag.store.base import ChunkRow
from rag.store.bm25 import Bm25Leg, field_tokens
from rag.types import Document

WORDS = [
    "阿里云",
    "墨西哥",
    "数据中心",
    "华为",
    "腾讯云",
    "沙特",
    "机器人",
    "工厂",
    "出海",
    "模型",
    "的",
    "在",
    "ai",
    "2024",
    "mwc",
]


def _corpus(seed: int, n_docs: int) -> tuple[list[ChunkRow], dict[str, Document]]:
    rng = random.Random(seed)
    docs = {
        f"d{i:03d}": Document(f"d{i:03d}", "x", title=rng.choice(["云", "出海 AI", ""]))
        for i in range(n_docs)
    }
    chunks = []
    for i, doc_id in enumerate(sorted(docs)):
        for j in range(rng.randint(1, 4)):
            tokens = tuple(rng.choices(WORDS, k=rng.randint(0, 12)))  # some chunks have none
            chunks.append(ChunkRow(10 * i + j, f"{doc_id}#{j}", doc_id, 0, 1, "x", tokens))
    return chunks, docs


def _reference(chunks: list[ChunkRow], docs: dict[str, Document], terms: dict[str, float]):
    """What the store computed with bm25s before the leg kept postings."""
    model = bm25s.BM25()
    model.index([list(c.tokens) or [""] for c in chunks], show_progress=False)
    ids = sorted(docs)
    fields = bm25s.BM25()
    fields.index([field_tokens(docs[d]) or [""] for d in ids], show_progress=False)
    where = {d: i for i, d in enumerate(ids)}
    scores = np.zeros(len(chunks), dtype=np.float32)
    fscores = np.zeros(len(ids), dtype=np.float32)
    for tok, weight in terms.items():
        if tok in model.vocab_dict:
            scores += weight * model.get_scores([tok])
        if tok in fields.vocab_dict:
            fscores += weight * fields.get_scores([tok])
    return scores + 0.5 * fscores[[where[c.doc_id] for c in chunks]]


TERMS = [{"阿里云": 1.0}, {"数据中心": 1.0, "墨西哥": 0.3, "ai": 0.7}, {"的": 1.0, "出海": 2.0}]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_built_leg_scores_as_bm25s_to_the_bit(seed: int) -> None:
    chunks, docs = _corpus(seed, 30)
    leg = Bm25Leg.build(chunks, docs)
    rows = [c.row for c in chunks]
    for terms in TERMS:
        _, got = leg.lexical(terms, 0, rows, 0.5)
        assert np.array_equal(got, _reference(chunks, docs, terms))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_changed_leg_equals_a_fresh_build_of_the_new_state(seed: int) -> None:
    chunks, docs = _corpus(seed, 30)
    leg = Bm25Leg.build(chunks, docs)
    rng = random.Random(seed)
    next_row = max(c.row for c in chunks) + 1
    for _ in range(5):  # a few writes: drop some documents, add others
        dropped = set(rng.sample(sorted(docs), 3))
        docs = {d: doc for d, doc in docs.items() if d not in dropped}
        new_chunks, new_docs = _corpus(rng.randint(10, 10_000), 3)
        added = []
        for c in new_chunks:
            doc_id = f"w{next_row}-{c.doc_id}"
            docs.setdefault(doc_id, Document(doc_id, "x", title=new_docs[c.doc_id].title))
            added.append(ChunkRow(next_row, f"{doc_id}#0", doc_id, 0, 1, "x", c.tokens))
            next_row += 1
        drop = [c for c in chunks if c.doc_id in dropped]
        chunks = [c for c in chunks if c.doc_id not in dropped] + added
        leg = leg.changed(drop, added, docs)
        rows = [c.row for c in chunks]
        for terms in TERMS:
            top, got = leg.lexical(terms, 10, rows, 0.5)
            want = _reference(chunks, docs, terms)
            assert np.array_equal(got, want)
            assert [r for r, _ in top] == [rows[i] for i in np.argsort(-want)[:10] if want[i] > 0]
        assert leg.knows("阿里云") == any("阿里云" in c.tokens for c in chunks)
