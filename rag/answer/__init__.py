"""Answer: a short extractive answer with citations, or an honest abstention.

Entry point: `extract_answer(query, passages, index, settings, dictionary=None) -> AnswerResult`
(`rag.answer.compose`). One module per step, each with one entry point:

- `question`: `detect_type`, the answer type a question expects (cue tables per language);
- `spans`: `find_spans(text, SpanKind)`, typed spans, and `best_span`, the one that answers;
- `scoring`: `score_sentences` and `rank_passages`, sentences and passages against the question;
- `lists`: `list_answer`, the items a list question asks for;
- `credits`: `credited`, an article's author, reporter or editor from its byline;
- `confidence`: `evidence` and `confidence`, a logistic model fitted on dev data
  (`data/confidence.json`, written by eval/fit_confidence.py);
- `settings`: `AnswerSettings`, every weight with its reason.
"""

from rag.answer.compose import AnswerResult, extract_answer, lead
from rag.answer.confidence import FEATURES, confidence, evidence, load_fitted, logistic
from rag.answer.credits import credited
from rag.answer.lists import enumerations, list_answer, list_items, list_kind
from rag.answer.question import CUES, AnswerType, asks_year, detect_type
from rag.answer.scoring import Candidate, Scoring, rank_passages, score_sentences
from rag.answer.settings import AnswerSettings
from rag.answer.spans import (
    NUMERIC,
    TYPE_SPANS,
    SpanCand,
    SpanKind,
    best_span,
    counts_other,
    counts_things,
    digit_numbers,
    echoes,
    find_spans,
    has_numeral,
    lacks_typed_span,
)
from rag.types import Evidence

__all__ = [
    "CUES",
    "FEATURES",
    "NUMERIC",
    "TYPE_SPANS",
    "AnswerResult",
    "AnswerSettings",
    "AnswerType",
    "Candidate",
    "Evidence",
    "Scoring",
    "SpanCand",
    "SpanKind",
    "asks_year",
    "best_span",
    "confidence",
    "credited",
    "detect_type",
    "digit_numbers",
    "echoes",
    "enumerations",
    "evidence",
    "extract_answer",
    "find_spans",
    "counts_other",
    "counts_things",
    "has_numeral",
    "lacks_typed_span",
    "lead",
    "list_answer",
    "list_items",
    "list_kind",
    "load_fitted",
    "logistic",
    "rank_passages",
    "score_sentences",
]
