"""RVC4 steps: raw calibration files and SNPE's input list, then snpe-onnx-to-dlc, snpe-dlc-quant,
snpe-dlc-graph-prepare and snpe-dlc-info. The command lines come from :mod:`edgeconv.targets.rvc4`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.config.resolve import ResolvedStage
from edgeconv.onnx_io import numpy_dtype
from edgeconv.records import atomic_file, replace_directory
from edgeconv.targets import rvc4
from edgeconv.tools import model_files, place_output, run_tool, tool_version


def prepare_snpe_inputs(
    calibration: dict[str, np.ndarray], stage: ResolvedStage, raw_dir: Path, input_list: Path
) -> dict[str, Any]:
    """Write each calibration sample as a .raw file per input (NHWC for 4-D NCHW image inputs, as
    SNPE expects) and the input list naming them, one sample per line."""
    live = [i for i in stage.inputs if i.frozen_value is None]
    n = min(len(calibration[i.name]) for i in live)
    tmp_dir = Path(tempfile.mkdtemp(dir=raw_dir.parent, prefix=".raw."))
    try:
        samples = []
        for k in range(n):
            paths = {}
            for inp in live:
                arr = calibration[inp.name][k].astype(numpy_dtype(inp.data_type))
                if arr.ndim == 4 and inp.layout == "NCHW":
                    arr = arr.transpose(0, 2, 3, 1)
                path = tmp_dir / f"{k:04d}_{len(paths)}.raw"
                np.ascontiguousarray(arr).tofile(path)
                paths[inp.name] = str(raw_dir / path.name)
            samples.append(paths)
        replace_directory(tmp_dir, raw_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    lines = rvc4.input_list_lines([i.name for i in live], samples)
    with atomic_file(input_list) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return {"samples": n, "first_line": lines[0] if lines else None}


def onnx_to_dlc(model: Path, stage: ResolvedStage, dlc: Path, options: dict[str, Any]) -> dict[str, Any]:
    """snpe-onnx-to-dlc on an ONNX model, or snpe-tflite-to-dlc on a ``.tflite`` (same arguments)."""
    name = "snpe-tflite-to-dlc" if model.suffix.lower() == ".tflite" else "snpe-onnx-to-dlc"
    version = tool_version([options["tool"], "--version"])
    dlc.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dlc.parent, prefix=f".{dlc.name}.") as tmp:
        produced = Path(tmp) / dlc.name
        argv = rvc4.onnx_to_dlc_argv(
            options["tool"], str(model), str(produced), stage, options["fp16"], options.get("args", [])
        )
        run_tool(argv, name, reads=model_files(model), writes=[tmp])
        place_output(produced, dlc, name)
    return {"tool": name, "version": version, "argv": argv}


def quantize_dlc(dlc: Path, input_list: Path, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    version = tool_version([options["tool"], "--version"])
    # The raw files the input list names are read too.
    raw_dirs = {Path(tok.split(":=", 1)[-1]).parent for line in input_list.read_text().splitlines()
                for tok in line.split() if not line.startswith("#")}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        produced = Path(tmp) / out.name
        argv = rvc4.dlc_quant_argv(
            options["tool"], str(dlc), str(produced), str(input_list), options["mode"],
            options["per_channel"], options["per_row"], options.get("args", []),
        )
        run_tool(argv, "snpe-dlc-quant", reads=[dlc, input_list, *raw_dirs], writes=[tmp])
        place_output(produced, out, "snpe-dlc-quant")
    return {"tool": "snpe-dlc-quant", "version": version, "argv": argv}


def graph_prepare(dlc: Path, out: Path, info_csv: Path, stage: ResolvedStage, options: dict[str, Any]) -> dict[str, Any]:
    version = tool_version([options["tool"], "--version"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        produced = Path(tmp) / out.name
        argv = rvc4.graph_prepare_argv(
            options["tool"], str(dlc), str(produced), stage.outputs, options["optimization_level"],
            options["htp_socs"], options["mode"], options.get("args", []),
        )
        run_tool(argv, "snpe-dlc-graph-prepare", reads=[dlc], writes=[tmp])
        csv = Path(tmp) / info_csv.name
        info_argv = rvc4.dlc_info_argv(options["info_tool"], str(produced), str(csv))
        run_tool(info_argv, "snpe-dlc-info", writes=[tmp])
        place_output(csv, info_csv, "snpe-dlc-info")
        place_output(produced, out, "snpe-dlc-graph-prepare")
    return {
        "tool": "snpe-dlc-graph-prepare",
        "version": version,
        "argv": argv,
        "info_argv": info_argv,
        "htp_socs": options["htp_socs"],
    }
