"""rvc4 step 4: ``snpe-dlc-graph-prepare`` for ``rvc4.htp_socs`` (the quantized DLC, or the float
one when the mode does not quantize), then ``snpe-dlc-info`` for the published ``info.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import rvc4
from edgeconv.tools import place_output, run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class GraphPrepareParams(StageParams):
    tool: str
    info_tool: str  # snpe-dlc-info
    quantization_mode: str
    optimization_level: int
    htp_socs: list[str]
    snpe_dlc_graph_prepare_args: list[str]


def configure(ctx: Context) -> GraphPrepareParams:
    r4 = ctx.stage.rvc4
    return ctx.make(
        GraphPrepareParams,
        tool=ctx.tool("rvc4", "snpe-dlc-graph-prepare"),
        info_tool=ctx.tool("rvc4", "snpe-dlc-info"),
        quantization_mode=r4.quantization_mode,
        optimization_level=r4.optimization_level,
        htp_socs=list(r4.htp_socs),
        snpe_dlc_graph_prepare_args=r4.snpe_dlc_graph_prepare_args,
    )


def run(inputs: Paths, outputs: Paths, params: GraphPrepareParams) -> dict[str, Any]:
    dlc, out, info_csv = inputs["dlc"], outputs["dlc"], outputs["info"]
    stage = params.stage(inputs["original"])
    with tool_output(out, "snpe-dlc-graph-prepare", [params.tool, "--version"]) as tool:
        argv = rvc4.graph_prepare_argv(
            params.tool, str(dlc), str(tool.produced), stage.outputs, params.optimization_level,
            params.htp_socs, params.quantization_mode, params.snpe_dlc_graph_prepare_args,
        )
        run_tool(argv, "snpe-dlc-graph-prepare", reads=[dlc], writes=[tool.tmp])
        read = rvc4.read_back(params.info_tool, tool.produced, tool.tmp, "snpe-dlc-graph-prepare")
        if read:
            csv, info_argv = read
            place_output(csv, info_csv, "snpe-dlc-info")
    call = {"tool": "snpe-dlc-graph-prepare", "version": tool.version, "argv": argv, "info_argv": read[1],
            "htp_socs": params.htp_socs}
    return {"tool_calls": [call]}


STEP = Step(
    "graph_prepare_dlc", run, GraphPrepareParams, configure,
    inputs=("dlc", "original"), outputs=("dlc", "info"), target="rvc4",
)
