"""Features: a question and a passage as one reader input, and token spans back to characters.

Entry point: `encode_pair(tokenizer, question, context, max_len) -> list[Feature]`, one feature per
window of the context (windows overlap by `stride` tokens where the context is longer than fits).

Layout (XLM-R's pair format): `<s> question </s></s> context </s>`; token 0 (`<s>`) is where the
reader points for "no answer in this window". Shared by training (`eval/train_reader.py`) and
serving (`rag.reader.reader`) so both see exactly the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.e5 import Tokenizer

MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Feature:
    ids: list[int]
    # Per token of `ids`: the [start, end) characters of the context it covers, or None for the
    # question and the special tokens (the reader may never answer with those).
    offsets: list[tuple[int, int] | None]
    context_from: int  # index of the first context token in `ids`


def encode_pair(
    tok: Tokenizer,
    question: str,
    context: str,
    max_len: int = 256,
    stride: int = 64,
    context_tokens: tuple[list[int], list[tuple[int, int]]] | None = None,
) -> list[Feature]:
    q = tok.encode(question).ids[:MAX_QUESTION_TOKENS]
    if context_tokens is None:
        enc = tok.encode(context)
        c_ids, c_off = enc.ids, enc.offsets
    else:
        c_ids, c_off = context_tokens
    head = [tok.bos, *q, tok.eos, tok.eos]
    room = max_len - len(head) - 1
    feats = []
    start = 0
    while True:
        window = slice(start, start + room)
        ids = head + c_ids[window] + [tok.eos]
        offsets: list[tuple[int, int] | None] = [None] * len(head)
        offsets += [o if o[1] > o[0] else None for o in c_off[window]]
        offsets.append(None)
        feats.append(Feature(ids, offsets, len(head)))
        if start + room >= len(c_ids):
            break
        start += room - stride
    return feats


def token_span(
    offsets: list[tuple[int, int] | None], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """The first and last token covering characters [start_char, end_char), or None when the
    window does not hold the whole span."""
    first = last = None
    for i, o in enumerate(offsets):
        if o is None:
            continue
        if first is None and o[1] > start_char and o[0] < end_char:
            first = i
        if o[0] < end_char and o[1] > start_char:
            last = i
    if first is None or last is None:
        return None
    if offsets[first][0] > start_char or offsets[last][1] < end_char:  # type: ignore[index]
        return None
    return first, last
