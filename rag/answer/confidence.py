"""Confidence: how likely the answer is there, from the `Evidence` of the best sentence.

Entry points: `evidence(dense, sentence, passages, qtype) -> Evidence` and
`confidence(evidence, weights) -> float` in [0, 1]; below `AnswerSettings.abstain_below` the
service abstains.

    >>> confidence(Evidence(dense=0.9, lexical=3.0, untyped=0.0), fitted_weights()["zh"])

The model is a logistic regression over the `Evidence` fields, per question language, fitted by
eval/fit_confidence.py, which writes `data/confidence.json`; the file names its features, and
they are checked against `Evidence` when it is read, so a fit and the code cannot drift apart
silently. `load_fitted` is the one reader of such files (the trained reader's too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from rag.answer.question import AnswerType
from rag.answer.spans import lacks_typed_span
from rag.types import Evidence, Passage

CONFIDENCE_FILE = Path(__file__).resolve().parent / "data" / "confidence.json"
FEATURES = tuple(f.name for f in fields(Evidence))
FIT_SCRIPT = "eval/fit_confidence.py"


def load_fitted(path: Path, features: Sequence[str], fit_script: str) -> dict[str, Any]:
    """A fitted model's JSON, once its `features` are checked against the ones the code
    computes: a model fitted on other features would weigh the wrong numbers."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != tuple(features):
        raise ValueError(
            f"{path} was fitted on features {data['features']}, the code computes "
            f"{list(features)}: rerun {fit_script}"
        )
    return data


@cache
def fitted_weights(path: Path = CONFIDENCE_FILE) -> dict[str, tuple[float, ...]]:
    """Language -> the logistic weights over FEATURES, bias last."""
    data = load_fitted(path, FEATURES, FIT_SCRIPT)
    return {lang: tuple(float(w) for w in ws) for lang, ws in data["weights"].items()}


def logistic(weights: Sequence[float], features: Sequence[float]) -> float:
    """1 / (1 + e^-z), z = weights . features + the bias (weights' last); z is clipped to
    [-30, 30], where the value is 0 or 1 to 13 places anyway, so exp cannot overflow."""
    z = sum(w * x for w, x in zip(weights, features, strict=False)) + weights[-1]
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def confidence(evidence: Evidence, weights: Sequence[float]) -> float:
    return logistic(weights, [float(getattr(evidence, f)) for f in FEATURES])


def evidence(
    dense: float, sentence: str, passages: Sequence[Passage], qtype: AnswerType
) -> Evidence:
    """The evidence for the best sentence (its cosine `dense`, its text). The cosine alone
    separates answerable questions from near misses badly ("when will the New Zealand data
    centre open?" finds the sentence announcing it at 0.83); whether the retrieved passages hold
    the question's words (the best BM25 among them: the first passage of the fusion may come
    from the dense leg alone, and which one is first turns on cosines a thousandth apart), and
    whether a question after a date or number finds one, separate them better."""
    top_lexical = max((p.lexical or 0.0 for p in passages), default=0.0)
    return Evidence(dense, math.log1p(top_lexical), float(lacks_typed_span(sentence, qtype)))
