"""qnn_htp step 1: the simplified ONNX quantized to QDQ for the HTP with onnxruntime's QNN
quantizer (float with FP16_STANDARD). See :mod:`edgeconv.targets.qnn_htp`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step


@dataclass(frozen=True, kw_only=True)
class QdqParams(Params):
    quantization_mode: str
    use_per_channel_quantization: bool


def configure(ctx: Context) -> QdqParams:
    from edgeconv.checks import check_qnn

    check_qnn(ctx.unit)
    rvc4 = ctx.stage.rvc4
    return ctx.make(
        QdqParams,
        quantization_mode=rvc4.quantization_mode,
        use_per_channel_quantization=rvc4.use_per_channel_quantization,
    )


def run(inputs: Paths, outputs: Paths, params: QdqParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz
    from edgeconv.targets.qnn_htp import quantize_qdq

    calibration = load_npz(inputs["calibration"]) if "calibration" in inputs else None
    call = quantize_qdq(
        inputs["onnx"], calibration, outputs["onnx"], params.quantization_mode, params.use_per_channel_quantization
    )
    return {"tool_calls": [call]}


# ``calibration`` is an input unless the mode keeps the model in float (FP16_STANDARD).
STEP = Step("quantize_qdq", run, QdqParams, configure, inputs=("onnx", "calibration"), outputs=("onnx",))
