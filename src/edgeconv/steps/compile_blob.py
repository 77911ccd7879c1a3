"""rvc2 step 2: mo's IR (or an IR given as the model) compiled to a MyriadX blob with
``compile_tool`` for ``rvc2.number_of_shaves`` shaves (a superblob compiles every shave count)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets import rvc2
from edgeconv.tools import model_files, run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class BlobParams(Params):
    compile_tool: str
    openvino_version: str
    compile_tool_args: list[str]
    number_of_shaves: int


def configure(ctx: Context, shaves: int | None = None) -> BlobParams:
    """``shaves``: a superblob's variant, from the rule's path, instead of ``rvc2.number_of_shaves``."""
    from edgeconv.checks import check_compile_tool_args

    section = ctx.stage.rvc2
    check_compile_tool_args(ctx.unit, "rvc2", section.compile_tool_args)
    return ctx.make(
        BlobParams,
        compile_tool=ctx.tool("rvc2", "compile_tool"),
        openvino_version=section.openvino_version,
        compile_tool_args=section.compile_tool_args,
        number_of_shaves=int(shaves) if shaves is not None else section.number_of_shaves,
    )


def compile_blob(xml: Path, blob: Path, params: BlobParams) -> dict[str, Any]:
    shaves = params.number_of_shaves
    if not 1 <= shaves <= 16:
        raise ConversionError(f"rvc2.number_of_shaves: {shaves} is out of range; MyriadX has 1 to 16 shaves")
    conf_text = rvc2.myriad_config(shaves, params.openvino_version)
    with tool_output(blob, "compile_tool (MYRIAD)", [params.compile_tool]) as run:
        conf = run.tmp / "myriad.conf"
        conf.write_text(conf_text)
        argv = rvc2.compile_tool_argv(
            params.compile_tool, str(xml), str(run.produced), str(conf), params.compile_tool_args
        )
        run_tool(argv, "compile_tool (MYRIAD)", reads=model_files(xml), writes=[run.tmp])
    return {
        "tool": "compile_tool",
        "version": run.version,
        "argv": argv,
        "myriad_config": conf_text,
        "shaves": shaves,
    }


def run(inputs: Paths, outputs: Paths, params: BlobParams) -> dict[str, Any]:
    return {"tool_calls": [compile_blob(inputs["xml"], outputs["blob"], params)]}


STEP = Step("compile_blob", run, BlobParams, configure, inputs=("xml",), outputs=("blob",), target="rvc2", doc="variant: shaves", accepts_ir=True)
