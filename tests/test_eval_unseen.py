"""eval/unseen.py: which XQuAD dev questions the shipped reader never trained on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
XQUAD_ZH = ROOT.parent / "shared" / "benchmarks" / "xquad" / "xquad.zh.json"
_spec = importlib.util.spec_from_file_location("unseen", ROOT / "eval" / "unseen.py")
assert _spec and _spec.loader
unseen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unseen)

pytestmark = pytest.mark.skipif(not XQUAD_ZH.is_file(), reason="XQuAD is not beside the repo")


def _state(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "train_state.json"
    path.write_text(json.dumps(fields))
    return path


def test_articles_left_out_of_training_are_the_unseen_ones(tmp_path: Path) -> None:
    data = json.loads(XQUAD_ZH.read_text(encoding="utf-8"))["data"]
    ids = unseen.unseen_xquad_ids(XQUAD_ZH, _state(tmp_path, xquad_articles=20))
    want = {q["id"] for a in data[20:24] for p in a["paragraphs"] for q in p["qas"]}
    assert ids == want and want
    trained = {q["id"] for a in data[:20] for p in a["paragraphs"] for q in p["qas"]}
    test_half = {q["id"] for a in data[24:] for p in a["paragraphs"] for q in p["qas"]}
    assert not ids & trained and not ids & test_half


@pytest.mark.parametrize("fields", [{}, {"xquad_articles": None}, {"xquad_articles": 24}])
def test_a_reader_trained_on_the_whole_dev_half_leaves_none(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    assert unseen.unseen_xquad_ids(XQUAD_ZH, _state(tmp_path, **fields)) == set()
