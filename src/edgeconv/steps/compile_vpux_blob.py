"""rvc3 step 3: the INT8 IR (or the FP16 one with ``rvc3.disable_calibration``) compiled to a
VPUX.3400 blob with ``compile_tool``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets import rvc2, rvc3
from edgeconv.tools import model_files, run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class VpuxParams(Params):
    compile_tool: str
    compile_tool_args: list[str]


def configure(ctx: Context) -> VpuxParams:
    from edgeconv.checks import check_compile_tool_args

    check_compile_tool_args(ctx.unit, "rvc3", ctx.stage.rvc3.compile_tool_args)
    return ctx.make(
        VpuxParams, compile_tool=ctx.tool("rvc3", "compile_tool"), compile_tool_args=ctx.stage.rvc3.compile_tool_args
    )


def compile_vpux(xml: Path, blob: Path, params: VpuxParams) -> dict[str, Any]:
    with tool_output(blob, "compile_tool (VPUX)", [params.compile_tool]) as run:
        argv = rvc2.compile_tool_argv(
            params.compile_tool, str(xml), str(run.produced), None, params.compile_tool_args, rvc3.DEVICE
        )
        run_tool(argv, "compile_tool (VPUX)", reads=model_files(xml), writes=[run.tmp])
    return {"tool": "compile_tool", "version": run.version, "argv": argv}


def run(inputs: Paths, outputs: Paths, params: VpuxParams) -> dict[str, Any]:
    return {"tool_calls": [compile_vpux(inputs["xml"], outputs["blob"], params)]}


STEP = Step("compile_vpux_blob", run, VpuxParams, configure, inputs=("xml",), outputs=("blob",), target="rvc3", accepts_ir=True)
