"""Confidence (`rag.answer.confidence`): features -> value, and the fitted parameters as a data
file whose feature names are checked against `Evidence`."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from rag.answer import FEATURES, AnswerSettings, AnswerType, confidence, evidence, logistic
from rag.answer.confidence import CONFIDENCE_FILE, fitted_weights
from rag.reader.answer import FEATURES as READER_FEATURES
from rag.reader.answer import ReaderSettings
from rag.types import Evidence, Passage


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


@pytest.mark.parametrize(
    ("weights", "features", "value"),
    [
        ((1.0, 2.0, -3.0, 0.0), (0.0, 0.0, 0.0), 0.5),  # the bias alone: 0 is an even chance
        ((1.0, 2.0, -3.0, 0.5), (0.0, 0.0, 0.0), _sigmoid(0.5)),
        ((1.0, 2.0, -3.0, 0.5), (1.0, 1.0, 1.0), _sigmoid(0.5)),  # 1 + 2 - 3 = 0
        ((1.0, 2.0, -3.0, -1.0), (0.5, 1.0, 0.0), _sigmoid(1.5)),
        ((1.0, 0.0, 0.0, 0.0), (1000.0, 0.0, 0.0), _sigmoid(30.0)),  # clipped, no overflow
        ((1.0, 0.0, 0.0, 0.0), (-1000.0, 0.0, 0.0), _sigmoid(-30.0)),
    ],
)
def test_the_confidence_is_a_logistic_of_the_weighted_features_and_a_bias(
    weights: tuple[float, ...], features: tuple[float, ...], value: float
) -> None:
    assert logistic(weights, features) == pytest.approx(value)


@pytest.mark.parametrize(
    ("ev", "lang", "value"),
    [
        (Evidence(0.9, 3.0, 0.0), "zh", _sigmoid(-5.283 * 0.9 + 3.378 * 3.0 + 0.137)),
        (Evidence(0.9, 3.0, 1.0), "zh", _sigmoid(-5.283 * 0.9 + 3.378 * 3.0 - 6.077 + 0.137)),
        (Evidence(0.8, 1.0, 0.0), "en", _sigmoid(-4.624 * 0.8 + 3.85 * 1.0 + 0.698)),
    ],
)
def test_the_shipped_weights_give_the_confidence_of_each_language(
    ev: Evidence, lang: str, value: float
) -> None:
    settings = AnswerSettings()
    weights = settings.confidence_zh if lang == "zh" else settings.confidence_en
    assert confidence(ev, weights) == pytest.approx(value, abs=1e-12)


def test_the_fitted_parameters_are_the_data_files_over_the_fields_of_evidence() -> None:
    data = json.loads(CONFIDENCE_FILE.read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES == tuple(f.name for f in fields(Evidence))
    assert fitted_weights() == {
        "zh": (-5.283, 3.378, -6.077, 0.137),
        "en": (-4.624, 3.85, -4.44, 0.698),
    }
    assert AnswerSettings().confidence_zh == fitted_weights()["zh"]


def test_a_file_fitted_on_other_features_fails_saying_to_refit(tmp_path: Path) -> None:
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps({"features": ["dense", "lexical"], "weights": {"zh": [1, 2, 3]}}))
    with pytest.raises(ValueError, match=r"fitted on features.*rerun eval/fit_confidence.py"):
        fitted_weights(path)


def test_the_readers_fitted_file_is_read_by_the_same_helper() -> None:
    settings = ReaderSettings.fitted()
    assert len(settings.weights) == len(READER_FEATURES) + 1  # and the bias
    assert settings.rank_penalty == 1.0 and settings.typed_only  # the tuned settings, from the file


@pytest.mark.parametrize(
    ("sentence", "qtype", "top_lexical", "expected"),
    [
        ("5月10日，办公室开业。", AnswerType.WHEN, 4.0, Evidence(0.8, math.log1p(4.0), 0.0)),
        ("办公室即将开业。", AnswerType.WHEN, 4.0, Evidence(0.8, math.log1p(4.0), 1.0)),
        ("办公室即将开业。", AnswerType.OTHER, None, Evidence(0.8, 0.0, 0.0)),  # no BM25 leg
    ],
)
def test_evidence_is_the_cosine_the_best_bm25_and_a_missing_number(
    sentence: str, qtype: AnswerType, top_lexical: float | None, expected: Evidence
) -> None:
    top = Passage("d", "d#0", sentence, 0, len(sentence), 1.0, dense=0.8, lexical=top_lexical)
    assert evidence(0.8, sentence, [top], qtype) == expected
    # A first passage found by the dense leg alone does not hide the words the next one holds.
    dense_only = Passage("e", "e#0", "别的段落。", 0, 5, 1.2, dense=0.9, lexical=None)
    assert evidence(0.8, sentence, [dense_only, top], qtype) == expected
