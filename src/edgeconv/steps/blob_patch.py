"""rvc2 superblob, part 1: one shave variant's blob as a bsdiff4 patch of the 8-shave blob."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeconv.steps.base import NoParams, Paths, Step


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


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    return {"tool_calls": [blob_patch(inputs["base"], inputs["blob"], outputs["patch"])]}


STEP = Step("blob_patch", run, NoParams, inputs=("base", "blob"), outputs=("patch",))
