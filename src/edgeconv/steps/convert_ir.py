"""openvino step 1: the simplified ONNX to an OpenVINO IR (FP16 weights unless
``openvino.compress_to_fp16: false``), with the OpenVINO of this environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets.openvino import read_onnx, save_ir


def convert_ir(onnx_path: Path, xml: Path, compress_to_fp16: bool) -> dict[str, Any]:
    import openvino as ov

    model = read_onnx(onnx_path)
    save_ir(model, xml, compress_to_fp16)
    return {
        "tool": "openvino",
        "version": ov.__version__,
        "call": f"openvino.save_model(openvino.convert_model({str(onnx_path)!r}), {str(xml)!r}, "
        f"compress_to_fp16={compress_to_fp16})",
    }


@dataclass(frozen=True, kw_only=True)
class ConvertIrParams(Params):
    compress_to_fp16: bool


def configure(ctx: Context) -> ConvertIrParams:
    return ctx.make(ConvertIrParams, compress_to_fp16=ctx.stage.openvino.compress_to_fp16)


def run(inputs: Paths, outputs: Paths, params: ConvertIrParams) -> dict[str, Any]:
    return {"tool_calls": [convert_ir(inputs["onnx"], outputs["xml"], params.compress_to_fp16)]}


STEP = Step("convert_ir", run, ConvertIrParams, configure, inputs=("onnx",), outputs=("xml",))
