"""eval/seeds_reads.py: the seeds dev questions with the passages the service reads for them, as
reader training examples."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("seeds_reads", ROOT / "eval" / "seeds_reads.py")
assert _spec and _spec.loader
seeds_reads = importlib.util.module_from_spec(_spec)
sys.modules["seeds_reads"] = seeds_reads  # its dataclass looks its module up there
_spec.loader.exec_module(seeds_reads)


@pytest.mark.parametrize(
    ("text", "alternatives", "expected"),
    [
        ("华为计划投资 4.3 亿美元。", ["4.3亿美元"], "4.3 亿美元"),  # whitespace ignored
        ("Ａｌｉｂａｂａ Cloud", ["alibaba"], "Ａｌｉｂａｂａ"),  # NFKC and case
        ("五个国家，即5个国家", ["5个国家", "五个国家"], "五个国家"),  # the first place wins
        ("没有答案", ["5月10日"], None),
    ],
)
def test_an_answer_is_found_as_the_contract_matches_and_cut_from_the_text_itself(
    text: str, alternatives: list[str], expected: str | None
) -> None:
    span = seeds_reads.locate(text, alternatives)
    assert (text[span[0] : span[1]] if span else None) == expected


@pytest.fixture(scope="module")
def reads(rules_pipeline: object) -> list:  # type: ignore[type-arg]
    return [seeds_reads.seeds_reads(fold=f, pipe=rules_pipeline) for f in (0, 1)]


def test_the_two_folds_split_the_dev_questions_and_never_touch_test(reads: list) -> None:  # type: ignore[type-arg]
    gold = [json.loads(line) for line in (ROOT / "eval" / "gold" / "seeds.jsonl").open()]
    split = {g["id"]: g["split"] for g in gold}
    folds = [{r.qid for r in rs} for rs in reads]
    assert not folds[0] & folds[1]
    assert {split[q] for q in folds[0] | folds[1]} == {"dev"}
    single = {g["id"] for g in gold if g["split"] == "dev" and len(g["answers"]) <= 1}
    assert folds[0] | folds[1] == single


def test_a_read_with_an_answer_holds_it_at_its_offsets_and_the_rest_hold_none(reads: list) -> None:  # type: ignore[type-arg]
    gold = {g["id"]: g for g in map(json.loads, (ROOT / "eval" / "gold" / "seeds.jsonl").open())}
    rows = reads[0] + reads[1]
    assert sum(r.answer_start >= 0 for r in rows) > len({r.qid for r in rows}) // 2
    for r in rows:
        alts = gold[r.qid]["answers"][0] if gold[r.qid]["answers"] else []
        if r.answer_start >= 0:
            assert r.context[r.answer_start : r.answer_start + len(r.answer_text)] == r.answer_text
        else:
            assert seeds_reads.locate(r.context, alts) is None
