"""The committed gold set is valid, and the validator catches what would make it mislead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "eval" / "validate_gold.py"
GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,  # the validator finds the seeds from its own place, not the cwd
    )


def test_the_committed_gold_set_is_valid() -> None:
    run = validate(GOLD)
    assert run.returncode == 0, run.stderr
    assert f"is valid ({len(GOLD.read_text(encoding='utf-8').splitlines())} items)" in run.stdout


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
