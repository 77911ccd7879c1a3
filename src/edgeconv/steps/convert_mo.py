"""rvc2/rvc3 step 1: the mo-flavor ONNX (normalization that mo applies itself left out) to an
OpenVINO IR with ``mo`` of OpenVINO 2022.3 (or 2021.4), in its own environment or the target's
image. The command line comes from :mod:`edgeconv.targets.rvc2`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import rvc2
from edgeconv.tools import model_files, run_tool, runs_locally, tool_output


@dataclass(frozen=True, kw_only=True)
class MoParams(StageParams):
    mo: str  # the tool's path (toolchains.<target>)
    compress_to_fp16: bool
    openvino_version: str
    mo_args: list[str]


def configure(ctx: Context, target: str) -> MoParams:
    """``target`` is rvc2 or rvc3: mo's options come from that target's section."""
    section = getattr(ctx.stage, target)
    version = ctx.openvino_version(target, getattr(section, "openvino_version", None)) or "2022.3"
    return ctx.make(
        MoParams,
        mo=ctx.tool(target, "mo", version),
        compress_to_fp16=section.compress_to_fp16,
        openvino_version=version,
        mo_args=section.mo_args,
    )


def convert_mo(onnx_path: Path, stage: Any, xml: Path, params: MoParams) -> dict[str, Any]:
    plan = rvc2.mo_plan(stage)
    with tool_output(xml, "mo", [params.mo, "--version"], place=False) as run:
        args = rvc2.mo_argv(
            params.mo,
            plan,
            stage.outputs,
            str(onnx_path),
            str(run.tmp),
            params.compress_to_fp16,
            params.openvino_version,
            params.mo_args,
        )[1:]
        argv = [*(rvc2.mo_launcher(params.mo) if runs_locally() else [params.mo]), *args]
        run_tool(argv, "mo (OpenVINO Model Optimizer)", reads=model_files(onnx_path), writes=[run.tmp])
        produced = sorted(run.tmp.glob("*.xml"))
        if len(produced) != 1 or not produced[0].with_suffix(".bin").exists():
            raise ConversionError(f"mo finished but wrote no single IR in {run.tmp}: {[p.name for p in run.tmp.iterdir()]}")
        os.replace(produced[0].with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(produced[0], xml)
    return {
        "tool": "mo",
        "version": run.version,
        "argv": argv,
        "plan": rvc2.mo_plan_summary(plan),
    }


def run(inputs: Paths, outputs: Paths, params: MoParams) -> dict[str, Any]:
    return {"tool_calls": [convert_mo(inputs["onnx"], params.stage(inputs["original"]), outputs["xml"], params)]}


STEP = Step("convert_mo", run, MoParams, configure, inputs=("onnx", "original"), outputs=("xml",), targets=("rvc2", "rvc3"))
