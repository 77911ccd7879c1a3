"""Multi-stage calibration: an upstream stage's outputs on its own calibration data, run with
onnxruntime, which a later stage's linked input is calibrated on (:mod:`edgeconv.link_calibration`)."""

from __future__ import annotations

from typing import Any

from edgeconv.steps.base import Params, Paths, Step


def run(inputs: Paths, outputs: Paths, params: Params) -> dict[str, Any]:
    from edgeconv.arrays import load_npz, save_npz
    from edgeconv.link_calibration import stage_outputs

    data = stage_outputs(inputs["onnx"], load_npz(inputs["calibration"]))
    save_npz(outputs["outputs"], data)
    return {
        "output_shapes": {k: list(v.shape) for k, v in data.items()},
        "tool_calls": [{"tool": "onnxruntime", "call": f"InferenceSession({inputs['onnx']}, CPUExecutionProvider).run per sample"}],
    }


STEP = Step("stage_outputs", run, Params, inputs=("onnx", "calibration"), outputs=("outputs",), accepts_ir=True)
