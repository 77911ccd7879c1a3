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
from edgeconv.tools import model_files, place_output, run_tool, tool_output


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
    with tool_output(dlc, name, [options["tool"], "--version"]) as run:
        argv = rvc4.onnx_to_dlc_argv(
            options["tool"], str(model), str(run.produced), stage, options["fp16"], options.get("args", [])
        )
        run_tool(argv, name, reads=model_files(model), writes=[run.tmp])
    return {"tool": name, "version": run.version, "argv": argv}


def quantize_dlc(dlc: Path, input_list: Path, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    # The raw files the input list names are read too.
    raw_dirs = {Path(tok.split(":=", 1)[-1]).parent for line in input_list.read_text().splitlines()
                for tok in line.split() if not line.startswith("#")}
    with tool_output(out, "snpe-dlc-quant", [options["tool"], "--version"]) as run:
        argv = rvc4.dlc_quant_argv(
            options["tool"], str(dlc), str(run.produced), str(input_list), options["mode"],
            options["per_channel"], options["per_row"], options.get("args", []),
        )
        run_tool(argv, "snpe-dlc-quant", reads=[dlc, input_list, *raw_dirs], writes=[run.tmp])
    return {"tool": "snpe-dlc-quant", "version": run.version, "argv": argv}


def graph_prepare(dlc: Path, out: Path, info_csv: Path, stage: ResolvedStage, options: dict[str, Any]) -> dict[str, Any]:
    with tool_output(out, "snpe-dlc-graph-prepare", [options["tool"], "--version"]) as run:
        argv = rvc4.graph_prepare_argv(
            options["tool"], str(dlc), str(run.produced), stage.outputs, options["optimization_level"],
            options["htp_socs"], options["mode"], options.get("args", []),
        )
        run_tool(argv, "snpe-dlc-graph-prepare", reads=[dlc], writes=[run.tmp])
        csv = run.tmp / info_csv.name
        info_argv = rvc4.dlc_info_argv(options["info_tool"], str(run.produced), str(csv))
        run_tool(info_argv, "snpe-dlc-info", writes=[run.tmp])
        place_output(csv, info_csv, "snpe-dlc-info")
    return {
        "tool": "snpe-dlc-graph-prepare",
        "version": run.version,
        "argv": argv,
        "info_argv": info_argv,
        "htp_socs": options["htp_socs"],
    }
