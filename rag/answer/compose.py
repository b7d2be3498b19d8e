"""The composer: the answer to one question from the retrieved passages, or an abstention.

Entry point: `extract_answer(query, passages, index, settings, dictionary=None) -> AnswerResult`.

    >>> result = extract_answer(query, passages, index, AnswerSettings())
    >>> result.answer, result.citations[0].quote
    ('5月10日 [1]', '5月10日，科大讯飞新加坡办公室正式开业。')

One direction of flow, each step a module of this package: the question's type (`question`),
its passages' sentences scored and the passages ranked by their best one (`scoring`), the
confidence from the best sentence's evidence (`confidence`), then a list (`lists`), the typed
span nearest to the question's words in the best sentence (`spans`), or the sentence itself.
The retrieved passages are read, never changed: the ranking is an output of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rag.answer.confidence import confidence, evidence
from rag.answer.lists import list_answer
from rag.answer.question import AnswerType, detect_type
from rag.answer.scoring import rank_passages, score_sentences
from rag.answer.settings import AnswerSettings
from rag.answer.spans import TYPE_SPANS, best_span
from rag.retrieve import Query
from rag.store import Store
from rag.translate import Dictionary
from rag.types import Citation, Evidence, Passage, RankedPassage


@dataclass
class AnswerResult:
    answer: str
    abstained: bool
    confidence: float
    answer_type: str
    citations: list[Citation] = field(default_factory=list)
    evidence: Evidence | None = None
    # The passages given, best first by the evidence the answer read.
    ranking: list[RankedPassage] = field(default_factory=list)


def lead(
    ranking: list[RankedPassage], first: Callable[[RankedPassage], bool]
) -> list[RankedPassage]:
    """`ranking` with the passages an answer came from (`first`) ahead of the rest; they score
    as the best of the ranking does, so the passages stay best first (the contract) by their
    scores."""
    top = max((r.sentence for r in ranking), default=0.0)
    return [replace(r, sentence=max(r.sentence, top)) for r in ranking if first(r)] + [
        r for r in ranking if not first(r)
    ]


def extract_answer(
    query: Query,
    passages: list[Passage],
    index: Store,
    settings: AnswerSettings,
    dictionary: Dictionary | None = None,
) -> AnswerResult:
    """The answer, its citations, a confidence and the passages' ranking for one question. With
    a dictionary, English questions also meet each sentence's English glosses."""
    qtype = detect_type(query.text)
    scoring = score_sentences(query, passages, index, settings, dictionary)
    ranking = rank_passages(passages, scoring, index, settings.read_k)
    if not scoring.ranked:
        return AnswerResult("", True, 0.0, qtype.value, ranking=ranking)
    best = scoring.ranked[0]
    ev = evidence(best.dense, best.sent.text, passages, qtype)
    p = confidence(ev, settings.confidence_zh if query.lang == "zh" else settings.confidence_en)
    if p < settings.abstain_below:
        return AnswerResult("", True, p, qtype.value, evidence=ev, ranking=ranking)
    if qtype == AnswerType.LIST:
        answer, citations = list_answer(
            query, scoring.ranked, scoring.df, scoring.weights, index, settings
        )
        return AnswerResult(answer, False, p, qtype.value, citations, ev, ranking)
    kinds = TYPE_SPANS.get(qtype, ())
    span = best_span(best.sent, kinds, query, settings.span_margin, dictionary) if kinds else None
    text = span.text if span else best.sent.text
    cited = Citation.of(1, index.documents[best.sent.doc_id], best.sent.start, best.sent.end)
    return AnswerResult(f"{text} [1]", False, p, qtype.value, [cited], ev, ranking)
