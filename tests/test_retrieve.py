"""Promises of issue 3 about retrieval: hybrid legs on Chinese text, and document fields."""

from __future__ import annotations

import numpy as np
import pytest

from rag.pipeline import Pipeline
from rag.retrieve import Mode, Retriever, RetrieveSettings, make_query
from rag.store.bm25 import field_tokens
from rag.types import Document

MEXICO_ZH = "哪些云厂商要在墨西哥建设数据中心？"


def _all_lexical(pipe: Pipeline, terms: dict[str, float]) -> tuple[list[int], np.ndarray]:
    """Every chunk row of the seed index and its lexical score."""
    rows = [pipe.index.chunk(r).row for r in sorted(pipe.index.chunks)]  # type: ignore[attr-defined]
    _, scores = pipe.index.lexical(terms, 0, rows, RetrieveSettings().field_weight)
    return rows, scores


def test_bm25_scores_chinese_text_by_its_words(seed_pipeline: Pipeline) -> None:
    rows, scores = _all_lexical(seed_pipeline, {"数据中心": 1.0})
    holding = [i for i, row in enumerate(rows) if "数据中心" in seed_pipeline.index.chunk(row).text]
    assert holding and all(scores[i] > 0 for i in holding)  # not 0: text is not split on spaces
    assert np.count_nonzero(scores) == len(holding)
    top, _ = seed_pipeline.index.lexical({"数据中心": 1.0}, 100, [], 0.5)
    assert {row for row, _ in top} == {rows[i] for i in holding}, "the top holds every match"


@pytest.mark.parametrize("mode", list(Mode))
def test_every_passage_keeps_both_leg_scores_in_every_mode(
    seed_pipeline: Pipeline, mode: Mode
) -> None:
    query = make_query(MEXICO_ZH, seed_pipeline.embedder, seed_pipeline.dictionary)
    passages = Retriever(seed_pipeline.index).run(query, top_k=5, mode=mode)
    assert len(passages) == 5
    assert all(p.dense is not None and p.lexical is not None for p in passages)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert any(p.lexical and p.lexical > 0 for p in passages)


def test_document_fields_are_title_words_and_source_host_names() -> None:
    doc = Document("d", "正文", title="2024 AI 展望", url="https://www.36kr.com/p/26383")
    tokens = field_tokens(doc)
    assert {"2024", "ai", "展望", "36kr"} <= set(tokens)
    assert not {"www", "com", "https", "p"} & set(tokens)


def test_a_source_named_by_its_host_lifts_every_chunk_of_that_document(
    seed_pipeline: Pipeline,
) -> None:
    index = seed_pipeline.index
    sourced = {d for d, doc in index.documents.items() if doc.url and "36kr" in doc.url}
    assert sourced, "the seeds hold an article from 36kr.com"
    rows, scores = _all_lexical(seed_pipeline, {"36kr": 1.0})
    for row, score in zip(rows, scores, strict=True):
        assert (score > 0) == (index.chunk(row).doc_id in sourced)
