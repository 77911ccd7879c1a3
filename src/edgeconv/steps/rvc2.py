"""RVC2 steps: ``mo`` (OpenVINO 2022.3 or 2021.4, in its own environment), ``compile_tool``
for MyriadX blobs, and the superblob (16 shave variants as bsdiff4 patches of the 8-shave blob).
The command lines come from :mod:`edgeconv.targets.rvc2`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeconv.config.resolve import ResolvedStage
from edgeconv.errors import ConversionError
from edgeconv.targets import rvc2
from edgeconv.tools import model_files, run_tool, tool_output


def convert_mo(onnx_path: Path, stage: ResolvedStage, xml: Path, options: dict[str, Any]) -> dict[str, Any]:
    plan = rvc2.mo_plan(stage)
    with tool_output(xml, "mo", [options["mo"], "--version"], place=False) as run:
        argv = rvc2.mo_argv(
            options["mo"],
            plan,
            stage.outputs,
            str(onnx_path),
            str(run.tmp),
            options["compress_to_fp16"],
            options["openvino_version"],
            options.get("mo_args", []),
        )
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


def compile_blob(xml: Path, blob: Path, shaves: int, options: dict[str, Any]) -> dict[str, Any]:
    if not 1 <= shaves <= 16:
        raise ConversionError(f"rvc2.number_of_shaves: {shaves} is out of range; MyriadX has 1 to 16 shaves")
    conf_text = rvc2.myriad_config(shaves, options["openvino_version"])
    with tool_output(blob, "compile_tool (MYRIAD)", [options["compile_tool"]]) as run:
        conf = run.tmp / "myriad.conf"
        conf.write_text(conf_text)
        argv = rvc2.compile_tool_argv(
            options["compile_tool"], str(xml), str(run.produced), str(conf), options.get("compile_tool_args", [])
        )
        run_tool(argv, "compile_tool (MYRIAD)", reads=model_files(xml), writes=[run.tmp])
    return {
        "tool": "compile_tool",
        "version": run.version,
        "argv": argv,
        "myriad_config": conf_text,
        "shaves": shaves,
    }


def blob_patch(base: Path, blob: Path, patch: Path) -> dict[str, Any]:
    import bsdiff4

    patch.parent.mkdir(parents=True, exist_ok=True)
    tmp = patch.with_name(f".{patch.name}.tmp")
    try:
        bsdiff4.file_diff(str(base), str(blob), str(tmp))
        os.replace(tmp, patch)
    finally:
        tmp.unlink(missing_ok=True)
    return {"tool": "bsdiff4", "version": bsdiff4.__version__, "call": f"bsdiff4.file_diff({base}, {blob}, {patch})"}


def assemble_superblob(base: Path, patches: dict[int, Path], out: Path) -> dict[str, Any]:
    data = rvc2.superblob(base.read_bytes(), {s: p.read_bytes() for s, p in patches.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"tool": "edgeconv", "call": "superblob(base 8-shave blob, bsdiff4 patches for shaves 1..16)",
            "patches": sorted(patches)}
