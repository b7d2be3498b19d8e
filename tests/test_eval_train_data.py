"""eval/train_reader.py's training data: the held-out questions stay put whatever the options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rag.evaluate import load_squad

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
pytest.importorskip("torch")  # train_reader is the [train] extra's
import train_reader  # noqa: E402


def test_the_held_out_questions_are_the_committed_ones_for_any_negative_share() -> None:
    # --neg draws from the generator the held-out draw used: 0.35 once held out other questions
    # and trained on the 200 every dev check treats as unseen.
    committed = {q.id for q in load_squad(train_reader.HELD).questions}
    for neg in (0.25, 0.35):
        train, held = train_reader.load_training_data(13, neg)
        assert {ex.qid for ex in held} == committed
        assert not committed & {ex.qid for ex in train}
