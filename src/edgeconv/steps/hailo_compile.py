"""hailo step 3: the quantized HAR compiled to a HEF for ``hailo.hw_arch``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets.hailo import HEF_MAGIC, run_dfc
from edgeconv.tools import tool_output


@dataclass(frozen=True, kw_only=True)
class CompileParams(Params):
    python: str
    hw_arch: str


def configure(ctx: Context) -> CompileParams:
    return ctx.make(CompileParams, python=ctx.tool("hailo", "python"), hw_arch=ctx.stage.hailo.hw_arch)


def run(inputs: Paths, outputs: Paths, params: CompileParams) -> dict[str, Any]:
    har, hef = inputs["har"], outputs["hef"]
    with tool_output(hef, "Hailo compile") as tool:
        spec = {"hw_arch": params.hw_arch, "har": str(har), "out": str(tool.produced)}
        call = run_dfc(params.python, "compile", spec, tool.tmp, [har])
        if tool.produced.exists() and tool.produced.stat().st_size:
            with tool.produced.open("rb") as f:
                head = f.read(len(HEF_MAGIC))
            if head != HEF_MAGIC:  # a compiler that exits 0 with something else: nothing is published
                raise ConversionError(
                    f"the Hailo compiler finished but {hef.name} is not a HEF (it starts {head!r}, a HEF with "
                    f"{HEF_MAGIC!r}); nothing was published; check the Dataflow Compiler's log above"
                )
    return {"tool_calls": [{"tool": "hailo_sdk_client", "hw_arch": params.hw_arch, **call}]}


STEP = Step("hailo_compile", run, CompileParams, configure, inputs=("har",), outputs=("hef",), target="hailo")
