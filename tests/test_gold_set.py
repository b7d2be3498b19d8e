"""The committed gold set is valid, and the validator catches what would make it mislead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.metrics import normalise

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "eval" / "validate_gold.py"
GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"
# Written on 2026-12-08 from the articles alone, after seeds dev had been tuned on for six
# sessions (eval/tune_reader.py reads them beside seeds dev).
FRESH = sorted((ROOT / "eval" / "gold").glob("seeds_fresh*.jsonl"))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,  # the validator finds the seeds from its own place, not the cwd
    )


@pytest.mark.parametrize("gold", [GOLD, *FRESH], ids=lambda p: p.name)
def test_the_committed_gold_sets_are_valid(gold: Path) -> None:
    run = validate(gold)
    assert run.returncode == 0, run.stderr
    assert f"is valid ({len(gold.read_text(encoding='utf-8').splitlines())} items)" in run.stdout


@pytest.mark.parametrize("path", FRESH, ids=lambda p: p.name)
def test_the_fresh_dev_questions_ask_no_fact_of_the_test_split(path: Path) -> None:
    """The fresh sets tune the answerers: none of their questions may share an answer (and a
    document) with a question of the held-out test split."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines()]
    fresh = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    held = [r for r in rows if r["split"] == "test" and r["answers"]]
    assert {r["split"] for r in fresh} == {"dev"}

    def alternatives(r: dict[str, Any]) -> set[str]:
        return {normalise(a) for group in r["answers"] for a in group}

    for f in fresh:
        for t in held:
            shared = alternatives(f) & alternatives(t) and set(f["docs"]) & set(t["docs"])
            assert not shared, (f["id"], t["id"])


def test_a_broken_gold_file_fails_with_each_problem_on_its_line(tmp_path: Path) -> None:
    good = json.loads(GOLD.read_text(encoding="utf-8").splitlines()[0])
    lines = [
        good,
        {**good, "question": "another question"},  # same id
        {**good, "id": "x2", "question": "q3", "answers": [["not in any article"]]},
        {**good, "id": "x3", "question": "q4", "type": "unanswerable"},  # but has answers
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{oops\n")
    run = validate(bad)
    assert run.returncode == 1
    for needle in (
        "line 2 (id 'q001'): duplicate id",
        "line 3 (id 'x2'): group 1: alternative 'not in any article' occurs in none",
        "line 4 (id 'x3'): type 'unanswerable', answers == [] and docs == [] must go together",
        "line 5: invalid JSON",
    ):
        assert needle in run.stderr, run.stderr
