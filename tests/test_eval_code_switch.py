"""eval/code_switch.py: Chinese questions with some words put into English for reader training."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
_spec = importlib.util.spec_from_file_location("code_switch", ROOT / "eval" / "code_switch.py")
assert _spec and _spec.loader
code_switch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(code_switch)

QUESTION = "华为计划在北非投资多少？"


@pytest.fixture(scope="module")
def senses():  # type: ignore[no-untyped-def]
    return code_switch.Senses.load()


def test_senses_are_short_english_phrases_without_notes(senses) -> None:  # type: ignore[no-untyped-def]
    assert senses.table["华为"] == "Huawei"
    assert senses.table["北非"] == "North Africa"
    assert all(s.isascii() and len(s.split()) <= 3 for s in senses.table.values())
    notes = ("to ", "variant of", "cl:")
    assert not any(s.lower().startswith(notes) for s in senses.table.values())


def test_every_word_switches_at_rate_one_but_single_characters_stay(senses) -> None:  # type: ignore[no-untyped-def]
    out = code_switch.code_switch(QUESTION, senses, random.Random(0), rate=1.0)
    assert "Huawei" in out and "North Africa" in out
    assert "在" in out and "？" in out  # a particle and the punctuation are kept
    assert not re.search(r"华为|北非|投资", out)


def test_nothing_switches_at_rate_zero_and_a_seed_repeats(senses) -> None:  # type: ignore[no-untyped-def]
    assert code_switch.code_switch(QUESTION, senses, random.Random(0), rate=0.0) == QUESTION
    runs = {code_switch.code_switch(QUESTION, senses, random.Random(7)) for _ in range(3)}
    assert len(runs) == 1
