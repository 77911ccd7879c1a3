"""Hailo steps: parse (ONNX -> HAR), optimize (calibration + model script -> quantized HAR),
compile (HAR -> HEF). Each runs one Dataflow Compiler call in the DFC's Python
(``toolchains.hailo.python``) through :mod:`edgeconv.targets.hailo_runner`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.config.resolve import ResolvedStage
from edgeconv.errors import ConversionError
from edgeconv.targets import hailo, hailo_runner
from edgeconv.tools import model_files, run_tool, tool_output

RUNNER = str(Path(hailo_runner.__file__).resolve())


def _call(python: str, command: str, spec: dict[str, Any], tmp: Path, reads: list[Path]) -> dict[str, Any]:
    spec_path = tmp / f"{command}.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    argv = [python, RUNNER, command, str(spec_path)]
    run_tool(argv, f"Hailo Dataflow Compiler ({command})", reads=[Path(RUNNER), *reads], writes=[tmp])
    return {"argv": argv, "spec": spec}


def parse(model_path: Path, stage: ResolvedStage, har: Path, model: str, options: dict[str, Any]) -> dict[str, Any]:
    with tool_output(har, "Hailo parse", [options["python"], RUNNER, "--version"]) as run:
        spec = hailo.parse_spec(stage, str(model_path), str(run.produced), model, options["hw_arch"], options["force_onnx_names"])
        call = _call(options["python"], "parse", spec, run.tmp, model_files(model_path))
    return {"tool": "hailo_sdk_client", "version": run.version, **call}


def optimize(
    har: Path, stage: ResolvedStage, calibration: dict[str, np.ndarray], out: Path, options: dict[str, Any]
) -> dict[str, Any]:
    with tool_output(out, "Hailo optimize") as run:
        tmp = run.tmp
        answer = tmp / "hn_names.json"
        _call(options["python"], "hn-names", {"hw_arch": options["hw_arch"], "har": str(har), "answer": str(answer)}, tmp, [har])
        layers = json.loads(answer.read_text())
        missing = [i.name for i in stage.inputs if i.frozen_value is None and i.name not in layers]
        if missing:
            raise ConversionError(f"the parsed HAR has no input layer for {missing}; its inputs: {sorted(layers)}")
        script = hailo.model_script(stage, {k: v["hn_name"] for k, v in layers.items()}, options)
        # The DFC takes an NHWC float32 calibration set per input layer.
        data = {}
        for inp in stage.inputs:
            if inp.frozen_value is not None:
                continue
            arr = calibration[inp.name].astype(np.float32)
            arr = arr.reshape(-1, *arr.shape[2:]) if arr.ndim == len(inp.shape) + 1 else arr
            if arr.ndim == 4 and inp.layout == "NCHW":
                arr = arr.transpose(0, 2, 3, 1)
            data[layers[inp.name]["hn_name"]] = np.ascontiguousarray(arr)
        calib_path = tmp / "calibration_nhwc.npz"
        np.savez(calib_path, **data)
        call = _call(
            options["python"],
            "optimize",
            {"hw_arch": options["hw_arch"], "har": str(har), "model_script": "\n".join(script),
             "calibration": str(calib_path), "out": str(run.produced)},
            tmp,
            [har],
        )
    return {"tool": "hailo_sdk_client", "model_script": script, "calibration_shapes": {k: list(v.shape) for k, v in data.items()}, **call}


def compile_hef(har: Path, hef: Path, options: dict[str, Any]) -> dict[str, Any]:
    with tool_output(hef, "Hailo compile") as run:
        call = _call(options["python"], "compile", {"hw_arch": options["hw_arch"], "har": str(har), "out": str(run.produced)}, run.tmp, [har])
    return {"tool": "hailo_sdk_client", "hw_arch": options["hw_arch"], **call}
