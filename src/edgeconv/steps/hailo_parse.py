"""hailo step 1: the hailo-flavor ONNX (or a TFLite model as it is) parsed to a HAR with the
Dataflow Compiler (``toolchains.hailo.python``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import hailo
from edgeconv.targets.hailo import RUNNER, run_dfc
from edgeconv.tools import model_files, tool_output


@dataclass(frozen=True, kw_only=True)
class ParseParams(StageParams):
    python: str
    hw_arch: str
    force_onnx_names: bool


def configure(ctx: Context) -> ParseParams:
    if ctx.unit.model_path.suffix.lower() == ".tflite":
        from edgeconv.checks import check_tflite_as_is

        check_tflite_as_is(ctx.unit, "hailo", ctx.archive_preprocess)
    h = ctx.stage.hailo
    return ctx.make(ParseParams, python=ctx.tool("hailo", "python"), hw_arch=h.hw_arch, force_onnx_names=h.force_onnx_names)


def run(inputs: Paths, outputs: Paths, params: ParseParams) -> dict[str, Any]:
    model_path = inputs["onnx"] if "onnx" in inputs else inputs["tflite"]
    stage = params.stage(inputs["original"])
    har = outputs["har"]
    with tool_output(har, "Hailo parse", [params.python, RUNNER, "--version"]) as tool:
        spec = hailo.parse_spec(
            stage, str(model_path), str(tool.produced), params.model, params.hw_arch, params.force_onnx_names
        )
        call = run_dfc(params.python, "parse", spec, tool.tmp, model_files(model_path))
    return {"tool_calls": [{"tool": "hailo_sdk_client", "version": tool.version, **call}]}


STEP = Step("hailo_parse", run, ParseParams, configure, inputs=("onnx", "original"), outputs=("har",), target="hailo")
