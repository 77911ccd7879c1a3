"""rvc4 step 1: the calibration data as SNPE reads it: a ``.raw`` file per sample and input
(NHWC for 4-D NCHW image inputs) and the input list naming them, one sample per line."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.onnx_io import numpy_dtype
from edgeconv.records import atomic_file, replace_directory
from edgeconv.steps.base import Paths, StageParams, Step
from edgeconv.targets import rvc4


def prepare_snpe_inputs(
    calibration: dict[str, np.ndarray], stage: Any, raw_dir: Path, input_list: Path
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


def run(inputs: Paths, outputs: Paths, params: StageParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz

    stage = params.stage(inputs["original"])
    return prepare_snpe_inputs(load_npz(inputs["calibration"]), stage, outputs["raw"], outputs["input_list"])


STEP = Step(
    "prepare_snpe_inputs", run, StageParams, inputs=("calibration", "original"), outputs=("raw", "input_list")
)
