"""An archive of calibration images (``calibration.path`` naming a ``.zip``/``.tar.*``), extracted
safely; the output directory is the one that holds the images (``calibration_archive``)."""

from __future__ import annotations

from typing import Any

from edgeconv.steps.base import NoParams, Paths, Step


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    from edgeconv.calibration_archive import extract_images

    return {"extracted": extract_images(inputs["archive"], outputs["images"])}


STEP = Step("extract_calibration", run, NoParams, inputs=("archive",), outputs=("images",))
