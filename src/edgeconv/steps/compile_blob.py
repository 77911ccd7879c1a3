"""rvc2 step 2: mo's IR (or an IR given as the model) compiled to a MyriadX blob for
``rvc2.number_of_shaves`` shaves (a superblob compiles every shave count), then read back by DepthAI.

The compiler is the built-in one (OpenVINO 2021.4's MYRIAD plugin through ``myriad_compile``,
from ``make rvc2-env``), or the user's ``compile_tool`` (``toolchains.rvc2.compile_tool``, e.g.
OpenVINO 2022.3's). Both take compile_tool's command line (:func:`edgeconv.targets.rvc2.compile_tool_argv`).
With the built-in one, the plugin's ``query_network`` first names the layers it says it will not
take; when the compiler then refuses the model, the one-line error names them. Every blob is read back (:mod:`edgeconv.targets.myriad`):
inputs, outputs, shapes, precisions and shaves must be what was asked, or nothing is kept.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets import myriad, rvc2
from edgeconv.tools import model_files, run_tool, runs_locally, tool_output


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
    version = ctx.openvino_version("rvc2", section.openvino_version) or "2022.3"
    compile_tool = ctx.tool("rvc2", "compile_tool", version)
    if myriad.is_builtin(compile_tool) and str(ctx.unit.model_path).endswith(".xml"):
        myriad.check_ir_version(Path(ctx.unit.model_path))  # an IR given as the model, before any job
    return ctx.make(
        BlobParams,
        compile_tool=compile_tool,
        openvino_version=version,
        compile_tool_args=section.compile_tool_args,
        number_of_shaves=int(shaves) if shaves is not None else section.number_of_shaves,
    )


def query_layers(compile_tool: str, xml: Path) -> dict[str, Any]:
    """The MYRIAD plugin's answer for this IR: the layers it says it will not take. Its answer is
    not the last word (it names ShuffleChannels, which the compiler takes: ShuffleNet V2 compiles),
    so the compiler decides; the answer names the layers when the compiler refuses the model."""
    argv = myriad.query_argv(compile_tool, xml)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise ConversionError(f"the MYRIAD plugin could not read {xml.name}: {lines[-1] if lines else 'no output'}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    flagged = ", ".join(f"{u['type']} {u['name']!r}" for u in answer["unsupported"][:10])
    print(f"MYRIAD query_network: {answer['layers']} layers, {len(answer['unsupported'])} not supported"
          + (f": {flagged}" if flagged else ""), flush=True)
    return {"argv": argv, "layers": answer["layers"], "unsupported": answer["unsupported"]}


def compile_blob(xml: Path, blob: Path, params: BlobParams) -> dict[str, Any]:
    shaves = params.number_of_shaves
    if not 1 <= shaves <= 16:
        raise ConversionError(f"rvc2.number_of_shaves: {shaves} is out of range; MyriadX has 1 to 16 shaves")
    builtin = myriad.is_builtin(params.compile_tool)
    conf_text = rvc2.myriad_config(shaves, params.openvino_version)
    what = "myriad_compile (MYRIAD, OpenVINO 2021.4)" if builtin else "compile_tool (MYRIAD)"
    read: dict[str, Any] | None = None
    with tool_output(blob, what, [params.compile_tool, "--version"] if builtin else [params.compile_tool]) as run:
        # The plugin's layer query runs in the environment's Python on this machine (not in an image).
        query = query_layers(params.compile_tool, xml) if builtin and runs_locally() else None
        conf = run.tmp / "myriad.conf"
        conf.write_text(conf_text)
        argv = rvc2.compile_tool_argv(
            params.compile_tool, str(xml), str(run.produced), str(conf), params.compile_tool_args
        )
        try:
            run_tool(argv, what, reads=model_files(xml), writes=[run.tmp])
        except ConversionError as exc:
            if query and query["unsupported"]:  # the layers, by the plugin's own answer, first
                said = myriad.compiler_error_line(getattr(exc, "tool_output", "")) or str(exc)
                raise myriad.unsupported_error(query["unsupported"], query["layers"], said) from None
            raise
        if run.produced.exists():
            # Read back before the blob is kept: a tool that exits 0 with something else keeps nothing.
            read = myriad.read_blob(run.produced)
            wrong = myriad.mismatches(read, myriad.expected(xml, argv, shaves))
            if wrong:
                raise ConversionError(f"{what} wrote a blob that is not what was asked: {'; '.join(wrong)}")
            print(f"DepthAI {read['depthai']} reads the blob: {read['format']}, {read['shaves']} shaves, "
                  f"{read['stages']} stages, inputs {read['inputs']}, outputs {read['outputs']}", flush=True)
    call = {
        "tool": "myriad_compile" if builtin else "compile_tool",
        "version": run.version,
        "argv": argv,
        "myriad_config": conf_text,
        "shaves": shaves,
        "blob": read,
    }
    if query:
        call["layer_query"] = query
        call["built_with"] = myriad.build_info(params.compile_tool)
    return call


def run(inputs: Paths, outputs: Paths, params: BlobParams) -> dict[str, Any]:
    return {"tool_calls": [compile_blob(inputs["xml"], outputs["blob"], params)]}


STEP = Step("compile_blob", run, BlobParams, configure, inputs=("xml",), outputs=("blob",), target="rvc2", doc="variant: shaves", accepts_ir=True)
