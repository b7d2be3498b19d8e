"""Chunk: split a document into retrieval chunks and answer sentences, with exact offsets.

Entry points: `chunk_document(doc, settings) -> list[Chunk]` and
`split_sentences(doc) -> list[Sentence]`.

    >>> doc = Document(doc_id="d", text="第一句。第二句！\\n\\n第三段。")
    >>> [s.text for s in split_sentences(doc)]
    ['第一句。', '第二句！', '第三段。']

Both keep `doc.text[start:end] == text`, which is what citations rely on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.types import Chunk, Document, Sentence

# Paragraph, line, Chinese sentence ends, English sentence ends, then clause, space, character.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "! ", "? ", ". ", "，", ", ", " ", ""]


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk size and overlap in characters; the defaults and why are in index/README.md."""

    size: int = 300
    overlap: int = 60

    def __post_init__(self) -> None:
        if self.size < 20 or not 0 <= self.overlap < self.size:
            raise ValueError(
                f"chunk size must be >= 20 and 0 <= overlap < size (got {self.size}, "
                f"{self.overlap})"
            )


def chunk_document(doc: Document, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Recursive split on Chinese-aware separators; each chunk is an exact slice of the text."""
    settings = settings or ChunkSettings()
    splitter = RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        chunk_size=settings.size,
        chunk_overlap=settings.overlap,
        keep_separator="end",
        strip_whitespace=True,
    )
    pieces = splitter.split_text(doc.text)
    starts = _place(doc.text, pieces, settings.overlap)
    if starts is None:  # the splitter changed the text somewhere: place what can be cited
        starts = _place_greedy(doc.text, pieces)
    return [
        Chunk(doc.doc_id, start, start + len(piece), piece)
        for piece, start in zip(pieces, starts, strict=True)
        if start >= 0  # never index a chunk we cannot cite
    ]


def _place(text: str, pieces: list[str], overlap: int) -> list[int] | None:
    """Start offsets that lay `pieces` over `text` as the splitter cut them, or None.

    The splitter returns strings, and repeated text makes `str.find` ambiguous: a piece can match
    an earlier copy and leave the later one uncovered. What the splitter guarantees pins the
    offsets down: pieces come in order, each is an exact copy, each ends no earlier than the one
    before (a piece can be just the overlap tail of the previous one) and overlaps it by at most
    `overlap`, and only whitespace lies between or around them. This is a
    depth-first search over the occurrences those rules allow, earliest first (so the answer is
    the plain left-to-right `find` whenever that works), remembering dead ends.
    """
    n = len(text)
    if not pieces:
        return [] if not text.strip() else None
    past_space = list(range(n + 1))  # past_space[i]: first non-space index >= i (or n)
    for i in range(n - 1, -1, -1):
        if text[i].isspace():
            past_space[i] = past_space[i + 1]

    def options(i: int, prev_end: int) -> list[int]:
        piece = pieces[i]
        lo = max(0, prev_end - overlap, prev_end - len(piece))
        hi = past_space[prev_end]  # no non-space text may be skipped
        found, pos = [], text.find(piece, lo, hi + len(piece))
        while pos >= 0:
            found.append(pos)
            pos = text.find(piece, pos + 1, hi + len(piece))
        return found

    starts: list[int] = []
    ends = [0]  # ends[i]: where piece i-1 ends (0 before the first)
    stack = [iter(options(0, 0))]
    dead: set[tuple[int, int]] = set()  # (piece index, previous end) with no way to finish
    while stack:
        i = len(stack) - 1
        for pos in stack[-1]:
            end = pos + len(pieces[i])
            if i + 1 == len(pieces):
                if past_space[end] == n:
                    return [*starts, pos]
                continue
            if (i + 1, end) in dead:
                continue
            starts.append(pos)
            ends.append(end)
            stack.append(iter(options(i + 1, end)))
            break
        else:
            stack.pop()
            dead.add((i, ends.pop()))
            if starts:
                starts.pop()
    return None


def _place_greedy(text: str, pieces: list[str]) -> list[int]:
    """Each piece at its first occurrence after the previous one's start (-1 if absent)."""
    starts, cursor = [], 0
    for piece in pieces:
        start = text.find(piece, cursor)
        if start < 0:
            start = text.find(piece)
        starts.append(start)
        cursor = start + 1 if start >= 0 else cursor
    return starts


# A sentence ends at a terminator (with any closing quotes or brackets after it) or a line break.
_SENTENCE = re.compile(r"[^\n]*?(?:[。！？!?；]+[”’」』）)\"']*|\.(?=\s|$)[”’\"']*|(?=\n)|$)", re.S)
MIN_SENTENCE_CHARS = 2
# Where a whole sentence ends: a terminator or a line break. Not "；", where `split_sentences`
# cuts too, but which joins the parts of one sentence ("原因有二：A；B。").
SENTENCE_STOPS = "。！？!?\n"


def sentence_stop(text: str, pos: int) -> int:
    """The index of the first of SENTENCE_STOPS at or after `pos`; len(text) if there is none."""
    return min((i for ch in SENTENCE_STOPS if (i := text.find(ch, pos)) >= 0), default=len(text))


def split_sentences(doc: Document) -> list[Sentence]:
    """Sentences (and headings/short lines) of a document, trimmed, with exact offsets."""
    sentences: list[Sentence] = []
    for m in _SENTENCE.finditer(doc.text):
        raw = m.group(0)
        if not raw.strip():
            continue
        lead = len(raw) - len(raw.lstrip())
        start = m.start() + lead
        text = raw.strip()
        if len(text) >= MIN_SENTENCE_CHARS:
            sentences.append(Sentence(doc.doc_id, start, start + len(text), text))
    return sentences
