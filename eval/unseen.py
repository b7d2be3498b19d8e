"""The XQuAD dev articles the shipped reader never trained on: unseen answerable questions.

    from unseen import unseen_xquad_ids
    ids = unseen_xquad_ids(xquad / "xquad.zh.json")   # empty when it trained on all 24

`eval/train_reader.py --xquad-articles N` trains on the first N articles of XQuAD's dev half
only, and records N in the shipped `rag/reader/data/train_state.json`; articles N+1 to 24 stay
unseen. Their English questions are the only answerable English questions the reader has not
seen besides the seeds' few, so tuning and calibration (eval/tune_reader.py,
eval/fit_reader_confidence.py) use them in place of the trained-on ones, which flatter it.
"""

from __future__ import annotations

import json
from pathlib import Path

STATE = Path(__file__).resolve().parent.parent / "rag" / "reader" / "data" / "train_state.json"


def unseen_xquad_ids(xquad_zh: Path, state: Path = STATE) -> set[str]:
    """Question ids of the dev-half articles the shipped reader did not train on."""
    trained = json.loads(state.read_text(encoding="utf-8")).get("xquad_articles")
    data = json.loads(xquad_zh.read_text(encoding="utf-8"))["data"]
    half = len(data) // 2
    if not trained or trained >= half:
        return set()
    return {str(q["id"]) for a in data[trained:half] for p in a["paragraphs"] for q in p["qas"]}
