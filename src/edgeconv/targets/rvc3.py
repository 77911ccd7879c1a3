"""RVC3 (Keem Bay VPU): POT INT8 quantization and ``compile_tool -d VPUX.3400``.

The IR comes from the same ``mo`` command line as RVC2 (:mod:`edgeconv.targets.rvc2`) with the
``rvc3`` section's ``mo_args`` and ``compress_to_fp16``. POT runs as the reference runs it,
``pot --config <json> -d --output-dir <dir>`` with DefaultQuantization (preset performance,
stat_subset_size 300) for ``rvc3.pot_target_device``; its engine reads the calibration images
from a directory (POT's "simplified" engine; the images are written so that OpenCV, which POT
reads them with, returns exactly the pixels the camera gives the model).
"""

from __future__ import annotations

from typing import Any

DEVICE = "VPUX.3400"


def pot_config(xml: str, model_name: str, data_dir: str, target_device: str, subset_size: int) -> dict[str, Any]:
    return {
        "model": {
            "model_name": model_name,
            "model": xml,
            "weights": xml[: -len(".xml")] + ".bin",
        },
        "engine": {"type": "simplified", "data_source": data_dir},
        "compression": {
            "target_device": target_device,
            "algorithms": [
                {
                    "name": "DefaultQuantization",
                    "params": {"preset": "performance", "stat_subset_size": subset_size},
                }
            ],
        },
    }


def pot_argv(pot: str, config: str, output_dir: str) -> list[str]:
    return [pot, "--config", config, "-d", "--output-dir", output_dir]
