"""rvc4 step 3: the float DLC quantized with ``snpe-dlc-quant`` on the raw calibration files, per
``rvc4.quantization_mode`` (skipped for FP16_STANDARD and with ``rvc4.disable_calibration``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets import rvc4
from edgeconv.tools import run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class DlcQuantParams(Params):
    tool: str
    info_tool: str  # snpe-dlc-info, which reads back what snpe-dlc-quant wrote
    quantization_mode: str
    use_per_channel_quantization: bool
    use_per_row_quantization: bool
    snpe_dlc_quant_args: list[str]


def configure(ctx: Context) -> DlcQuantParams:
    r4 = ctx.stage.rvc4
    return ctx.make(
        DlcQuantParams,
        tool=ctx.tool("rvc4", "snpe-dlc-quant"),
        info_tool=ctx.tool("rvc4", "snpe-dlc-info"),
        quantization_mode=r4.quantization_mode,
        use_per_channel_quantization=r4.use_per_channel_quantization,
        use_per_row_quantization=r4.use_per_row_quantization,
        snpe_dlc_quant_args=r4.snpe_dlc_quant_args,
    )


def run(inputs: Paths, outputs: Paths, params: DlcQuantParams) -> dict[str, Any]:
    dlc, input_list, out = inputs["dlc"], inputs["input_list"], outputs["dlc"]
    # The raw files the input list names are read too.
    raw_dirs = {Path(tok.split(":=", 1)[-1]).parent for line in input_list.read_text().splitlines()
                for tok in line.split() if not line.startswith("#")}
    with tool_output(out, "snpe-dlc-quant", [params.tool, "--version"]) as tool:
        argv = rvc4.dlc_quant_argv(
            params.tool, str(dlc), str(tool.produced), str(input_list), params.quantization_mode,
            params.use_per_channel_quantization, params.use_per_row_quantization, params.snpe_dlc_quant_args,
        )
        run_tool(argv, "snpe-dlc-quant", reads=[dlc, input_list, *raw_dirs], writes=[tool.tmp])
        rvc4.read_back(params.info_tool, tool.produced, tool.tmp, "snpe-dlc-quant")
    return {"tool_calls": [{"tool": "snpe-dlc-quant", "version": tool.version, "argv": argv}]}


STEP = Step("quantize_dlc", run, DlcQuantParams, configure, inputs=("dlc", "input_list"), outputs=("dlc",), target="rvc4")
