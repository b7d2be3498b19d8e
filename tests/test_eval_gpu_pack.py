"""eval/gpu_pack.py's soup file: the average of the runs, trainable layers only, int8 per row."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # the [train] extra's
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
import gpu_pack  # noqa: E402

from rag.reader.torch_model import E5Encoder, SpanReader  # noqa: E402


def _state(seed: int) -> dict:
    torch.manual_seed(seed)
    return SpanReader(E5Encoder(32, 2, 64, 3, 16, 1e-12)).state_dict()


def test_soup_keeps_the_trainable_layers_and_rounds_each_row_to_int8() -> None:
    a, b = _state(1), _state(2)
    packed = gpu_pack.soup_int8([a, b], frozen=1)
    back = gpu_pack.from_int8(packed)
    # The embeddings and the frozen layer are e5's own: `unpack` takes them from e5, not the file.
    assert not [
        k for k in back if k.startswith(("encoder.pos", "encoder.eln", "encoder.layers.0."))
    ]
    assert set(back) == {
        k for k in a if k.startswith(("encoder.layers.1.", "encoder.layers.2.", "head."))
    }
    for k, v in back.items():
        mean = (a[k] + b[k]) / 2
        if k + ":q" in packed:
            assert packed[k + ":q"].dtype == torch.int8
            step = packed[k + ":s"][:, None]
            assert torch.all((v - mean).abs() <= step / 2 + 1e-7)  # at most half a step off
            assert torch.allclose(v.abs().amax(dim=1), mean.abs().amax(dim=1))  # the max is exact
        else:
            assert torch.equal(v, mean)  # biases and LayerNorms stay float
