"""rvc3 step 2: mo's IR quantized to INT8 with POT on the calibration images (one 3-channel
image input, as the reference). Command line and config: :mod:`edgeconv.targets.rvc3`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import rvc3
from edgeconv.tools import model_files, run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class PotParams(StageParams):
    pot: str
    pot_target_device: str


def configure(ctx: Context) -> PotParams:
    return ctx.make(PotParams, pot=ctx.tool("rvc3", "pot"), pot_target_device=ctx.stage.rvc3.pot_target_device)


def write_pot_images(calibration: dict[str, np.ndarray], stage: Any, directory: Path) -> int:
    """PNG files that OpenCV (POT's reader) decodes to the camera's pixels for the single 3-channel input."""
    from PIL import Image

    live = [i for i in stage.inputs if i.frozen_value is None]
    if len(live) != 1 or live[0].channels != 3 or len(live[0].shape) != 4:
        raise ConversionError(
            "RVC3 INT8 quantization with POT supports one 3-channel image input (as the reference does); "
            "set `rvc3.disable_calibration: true` to compile the FP16 IR instead"
        )
    inp = live[0]
    data = calibration[inp.name]
    directory.mkdir(parents=True, exist_ok=True)
    for k, sample in enumerate(data):
        img = sample[0] if sample.ndim == 4 else sample
        hwc = img.transpose(1, 2, 0) if inp.layout == "NCHW" else img
        pixels = np.clip(np.rint(hwc), 0, 255).astype(np.uint8)
        # Pillow writes RGB, OpenCV reads BGR: store the reverse so OpenCV returns `pixels`.
        Image.fromarray(np.ascontiguousarray(pixels[:, :, ::-1])).save(directory / f"{k:04d}.png")
    return len(data)


def pot_quantize(
    xml: Path, calibration: dict[str, np.ndarray], stage: Any, out: Path, params: PotParams
) -> dict[str, Any]:
    with tool_output(out, "pot", [params.pot, "--version"], place=False) as run:
        images = run.tmp / "images"
        n = write_pot_images(calibration, stage, images)
        name = out.name[: -len(".xml")]
        config = rvc3.pot_config(str(xml), name, str(images), params.pot_target_device, min(300, n))
        config_path = run.tmp / "pot_config.json"
        config_path.write_text(json.dumps(config, indent=2))
        argv = rvc3.pot_argv(params.pot, str(config_path), str(run.tmp / "pot"))
        run_tool(argv, "pot (OpenVINO Post-training Optimization Tool)", reads=model_files(xml), writes=[run.tmp])
        produced = run.tmp / "pot" / "optimized" / f"{name}.xml"
        if not produced.exists() or not produced.with_suffix(".bin").exists():
            raise ConversionError(f"pot finished but wrote no {produced}")
        os.replace(produced.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(produced, out)
    return {"tool": "pot", "version": run.version, "argv": argv,
            "pot_config": config, "calibration_images": n}


def run(inputs: Paths, outputs: Paths, params: PotParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz

    stage = params.stage(inputs["original"])
    return {"tool_calls": [pot_quantize(inputs["xml"], load_npz(inputs["calibration"]), stage, outputs["xml"], params)]}


STEP = Step(
    "pot_quantize", run, PotParams, configure,
    inputs=("xml", "calibration", "original"), outputs=("xml",), target="rvc3", accepts_ir=True)
