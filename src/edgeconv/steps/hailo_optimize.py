"""hailo step 2: the parsed HAR quantized on the calibration data with a model script (normalization
of 3-channel inputs, ``hailo.optimization_level``, ``compression_level``, ``batch_size``, ``alls``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import hailo
from edgeconv.targets.hailo import run_dfc
from edgeconv.tools import tool_output


@dataclass(frozen=True, kw_only=True)
class OptimizeParams(StageParams):
    python: str
    hw_arch: str
    optimization_level: int
    compression_level: int
    batch_size: int
    alls: list[str]


def configure(ctx: Context) -> OptimizeParams:
    h = ctx.stage.hailo
    return ctx.make(
        OptimizeParams, python=ctx.tool("hailo", "python"), hw_arch=h.hw_arch, optimization_level=h.optimization_level,
        compression_level=h.compression_level, batch_size=h.batch_size, alls=h.alls,
    )


def optimize(
    har: Path, stage: Any, calibration: dict[str, np.ndarray], out: Path, params: OptimizeParams
) -> dict[str, Any]:
    with tool_output(out, "Hailo optimize") as run:
        tmp = run.tmp
        answer = tmp / "hn_names.json"
        run_dfc(params.python, "hn-names", {"hw_arch": params.hw_arch, "har": str(har), "answer": str(answer)}, tmp, [har])
        layers = json.loads(answer.read_text())
        missing = [i.name for i in stage.inputs if i.frozen_value is None and i.name not in layers]
        if missing:
            raise ConversionError(f"the parsed HAR has no input layer for {missing}; its inputs: {sorted(layers)}")
        script = hailo.model_script(stage, {k: v["hn_name"] for k, v in layers.items()}, asdict(params))
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
        call = run_dfc(
            params.python,
            "optimize",
            {"hw_arch": params.hw_arch, "har": str(har), "model_script": "\n".join(script),
             "calibration": str(calib_path), "out": str(run.produced)},
            tmp,
            [har],
        )
    return {"tool": "hailo_sdk_client", "model_script": script, "calibration_shapes": {k: list(v.shape) for k, v in data.items()}, **call}


def run(inputs: Paths, outputs: Paths, params: OptimizeParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz

    stage = params.stage(inputs["original"])
    return {"tool_calls": [optimize(inputs["har"], stage, load_npz(inputs["calibration"]), outputs["har"], params)]}


STEP = Step(
    "hailo_optimize", run, OptimizeParams, configure,
    inputs=("har", "calibration", "original"), outputs=("har",), target="hailo",
)
