"""The typed data that flows between the pipeline stages.

sources -> ingest (Document) -> chunk (Chunk, Sentence) -> embed -> store -> retrieve (Passage)
-> answer (RankedPassage, Citation, Evidence) -> pipeline (Answer, whose `to_json()` is the
CONTRACT's /ask object). Every offset is a character offset into `Document.text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One article after cleaning; `text` is what every offset refers to."""

    doc_id: str
    text: str
    title: str = ""
    url: str | None = None
    published: str | None = None  # ISO 8601 date or datetime
    author: str | None = None
    source: str | None = None  # the file it came from, when it came from one


@dataclass(frozen=True)
class Span:
    """A piece of a document: `doc.text[start:end] == text`."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk(Span):
    """A retrieval unit (a few sentences)."""


@dataclass(frozen=True)
class Sentence(Span):
    """An answer-extraction unit."""


@dataclass
class Passage:
    """A retrieved chunk with its fused score and the score of each retrieval leg."""

    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    dense: float | None = None
    lexical: float | None = None
    row: int = field(default=-1, repr=False)  # the chunk's id in the store


@dataclass(frozen=True)
class RankedPassage:
    """A retrieved passage as the answerer ranked it: by the score of its best sentence
    (`sentence`), with the retrieval's scores beside it (`fused`, and each leg's, None where the
    leg did not run). `retrieved` is its place in the retrieval's order (0-based)."""

    retrieved: int
    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    sentence: float
    fused: float
    dense: float | None = None
    lexical: float | None = None
    row: int = field(default=-1, repr=False)  # the chunk's id in the store

    @classmethod
    def of(cls, retrieved: int, p: Passage, sentence: float) -> RankedPassage:
        return cls(
            retrieved,
            p.doc_id,
            p.chunk_id,
            p.text,
            p.start,
            p.end,
            sentence,
            p.score,
            p.dense,
            p.lexical,
            p.row,
        )

    def to_json(self) -> dict[str, Any]:
        """The CONTRACT's passage object: `score` is the ranking's (the sentence score)."""
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": round(self.sentence, 6),
            "fused": round(self.fused, 6),
            "dense": _round(self.dense, 6),
            "lexical": _round(self.lexical, 6),
        }


@dataclass(frozen=True)
class Citation:
    """Citation `n` of an answer: `quote == text[start:end]` of the document `doc_id`."""

    n: int
    doc_id: str
    title: str
    url: str | None
    published: str | None
    quote: str
    start: int
    end: int

    @classmethod
    def of(cls, n: int, doc: Document, start: int, end: int) -> Citation:
        """Citation `n`: the document's characters [start, end) as its quote, with its metadata."""
        quote = doc.text[start:end]
        return cls(n, doc.doc_id, doc.title, doc.url, doc.published, quote, start, end)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the rules' confidence is computed from (`rag.answer.confidence`): these fields, in
    this order, are the features of its fitted model."""

    dense: float  # the best sentence's cosine with the question
    lexical: float  # log(1 + BM25) of the top passage: how much of the question's wording it holds
    untyped: float  # 1 when the question asks for a date, number or share the best sentence lacks

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Answer:
    """The whole `/ask` result for one question; `to_json()` is the CONTRACT's response object.
    Numbers are kept as computed; the JSON rounds them (confidence and evidence to 4 places,
    scores to 6, timings to 3)."""

    question: str  # as asked, trimmed
    resolved_question: str  # as read in the context of the conversation
    answer: str  # "" when abstained
    abstained: bool
    confidence: float
    citations: tuple[Citation, ...]
    passages: tuple[RankedPassage, ...]  # best first, at most top_k
    answer_type: str
    lang: str
    evidence: Evidence | None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question,
            "answer": self.answer,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_json() for c in self.citations],
            "passages": [p.to_json() for p in self.passages],
            "answer_type": self.answer_type,
            "lang": self.lang,
            # What the confidence was computed from, so an abstention can be understood.
            "evidence": self.evidence.to_json() if self.evidence else None,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }


def _round(x: float | None, places: int) -> float | None:
    return round(x, places) if x is not None else None


def chunk_id(doc_id: str, n: int) -> str:
    """The public id of a document's n-th chunk, as in the CONTRACT (`000_8acd...#3`)."""
    return f"{doc_id}#{n}"
