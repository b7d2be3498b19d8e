"""`Answer.to_json()`: the one mapping of a typed answer to the CONTRACT's `/ask` object."""

from __future__ import annotations

import json

from rag.types import Answer, Citation, Document, Evidence, Passage, RankedPassage

DOC = Document("d1", "5月10日，科大讯飞新加坡办公室正式开业。", title="出海", url="https://x.cn/1")
PASSAGE = Passage("d1", "d1#0", DOC.text, 0, len(DOC.text), 0.12345678, dense=0.9, lexical=None)


def _answer(**changes: object) -> Answer:
    fields: dict[str, object] = {
        "question": "科大讯飞新加坡办公室是哪天开业的？",
        "resolved_question": "科大讯飞新加坡办公室是哪天开业的？",
        "answer": "5月10日 [1]",
        "abstained": False,
        "confidence": 0.987654321,
        "citations": (Citation.of(1, DOC, 0, 21),),
        "passages": (RankedPassage.of(0, PASSAGE, 1.23456789),),
        "answer_type": "when",
        "lang": "zh",
        "evidence": Evidence(0.912345, 2.3456789, 0.0),
        "timings_ms": {"embed": 12.34567, "total": 20.0004},
    }
    return Answer(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_json_has_the_contracts_fields_in_order_with_its_rounding() -> None:
    data = _answer().to_json()
    assert list(data) == [
        "question",
        "resolved_question",
        "answer",
        "abstained",
        "confidence",
        "citations",
        "passages",
        "answer_type",
        "lang",
        "evidence",
        "timings_ms",
    ]
    assert data["confidence"] == 0.9877
    assert data["evidence"] == {"dense": 0.9123, "lexical": 2.3457, "untyped": 0.0}
    assert data["timings_ms"] == {"embed": 12.346, "total": 20.0}
    json.dumps(data)  # plain JSON types only


def test_a_citation_quotes_its_documents_characters_with_its_metadata() -> None:
    [citation] = _answer().to_json()["citations"]
    assert citation == {
        "n": 1,
        "doc_id": "d1",
        "title": "出海",
        "url": "https://x.cn/1",
        "published": None,
        "quote": "5月10日，科大讯飞新加坡办公室正式开业。",
        "start": 0,
        "end": 21,
    }


def test_a_passages_score_is_the_answerers_and_the_retrievals_stays_as_fused() -> None:
    [passage] = _answer().to_json()["passages"]
    assert passage == {
        "doc_id": "d1",
        "chunk_id": "d1#0",
        "text": DOC.text,
        "start": 0,
        "end": 21,
        "score": 1.234568,
        "fused": 0.123457,
        "dense": 0.9,
        "lexical": None,  # the leg did not run
    }


def test_an_abstention_has_no_answer_no_citations_and_may_have_no_evidence() -> None:
    data = _answer(answer="", abstained=True, confidence=0.0, citations=(), evidence=None).to_json()
    assert (data["answer"], data["abstained"], data["citations"], data["evidence"]) == (
        "",
        True,
        [],
        None,
    )
