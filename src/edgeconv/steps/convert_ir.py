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

    from edgeconv.targets.openvino import onnx_reader

    reader = onnx_reader(onnx_path)
    model = read_onnx(onnx_path, reader)
    save_ir(model, xml, compress_to_fp16)
    read = f"openvino.convert_model({str(onnx_path)!r})" if reader == "convert_model" else (
        f"openvino.Core().read_model({str(onnx_path)!r})")
    return {
        "tool": "openvino",
        "version": ov.__version__,
        "call": f"openvino.save_model({read}, {str(xml)!r}, compress_to_fp16={compress_to_fp16})",
        **({"reader": "read_model: the model's files exceed 2 GB; convert_model would copy the transposed MatMul "
                      "weights (BENCHMARKS.md (d))"} if reader == "read_model" else {}),
    }


@dataclass(frozen=True, kw_only=True)
class ConvertIrParams(Params):
    compress_to_fp16: bool


def configure(ctx: Context) -> ConvertIrParams:
    return ctx.make(ConvertIrParams, compress_to_fp16=ctx.stage.openvino.compress_to_fp16)


def run(inputs: Paths, outputs: Paths, params: ConvertIrParams) -> dict[str, Any]:
    return {"tool_calls": [convert_ir(inputs["onnx"], outputs["xml"], params.compress_to_fp16)]}


STEP = Step("convert_ir", run, ConvertIrParams, configure, inputs=("onnx",), outputs=("xml",))
