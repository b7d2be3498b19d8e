"""Answer: a short extractive answer with citations, or an honest abstention.

Entry point: `extract_answer(query, passages, index, settings) -> AnswerResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.retrieve import Query
from rag.store import Index, SentenceRow
from rag.types import Passage


@dataclass(frozen=True)
class AnswerSettings:
    read_k: int = 8  # passages whose sentences are read for the answer
    abstain_below: float = 0.35


@dataclass
class AnswerResult:
    answer: str
    abstained: bool
    confidence: float
    answer_type: str
    citations: list[dict[str, Any]] = field(default_factory=list)


def _citation(n: int, index: Index, sent: SentenceRow, start: int, end: int) -> dict[str, Any]:
    doc = index.documents[sent.doc_id]
    return {
        "n": n,
        "doc_id": doc.doc_id,
        "title": doc.title,
        "url": doc.url,
        "published": doc.published,
        "quote": doc.text[start:end],
        "start": start,
        "end": end,
    }


def extract_answer(
    query: Query, passages: list[Passage], index: Index, settings: AnswerSettings
) -> AnswerResult:
    """Baseline: the best sentence of the top passages by dense + lexical score."""
    seen: set[int] = set()
    cands: list[tuple[SentenceRow, float]] = []
    for rank, p in enumerate(passages[: settings.read_k]):
        for s in index.chunk_sentences(p.row):
            if s.row in seen:
                continue
            seen.add(s.row)
            cands.append((s, rank))
    if not cands:
        return AnswerResult("", True, 0.0, "other")
    rows = [s.row for s, _ in cands]
    dense = index.sentence_vectors[rows] @ query.vector
    qtok = set(query.terms)
    lex = np.array(
        [len(qtok & set(s.tokens)) / max(1, len(qtok)) for s, _ in cands], dtype=np.float32
    )
    score = dense + 0.3 * lex
    best = int(np.argmax(score))
    sent = cands[best][0]
    conf = float(np.clip((dense[best] - 0.75) / 0.15, 0, 1))
    if conf < settings.abstain_below:
        return AnswerResult("", True, conf, "other")
    cit = _citation(1, index, sent, sent.start, sent.end)
    return AnswerResult(f"{sent.text} [1]", False, conf, "other", [cit])
