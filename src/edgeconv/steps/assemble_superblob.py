"""rvc2 superblob, part 2: the 8-shave blob and the patches of every other shave count (1..16)
in DepthAI's superblob format (:func:`edgeconv.targets.rvc2.superblob`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeconv.steps.base import NoParams, Paths, Step
from edgeconv.targets import rvc2
from edgeconv.targets.myriad import read_superblob_shaves


def assemble_superblob(base: Path, patches: dict[int, Path], out: Path) -> dict[str, Any]:
    data = rvc2.superblob(base.read_bytes(), {s: p.read_bytes() for s, p in patches.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        read = read_superblob_shaves(tmp, sorted([rvc2.SUPERBLOB_BASE_SHAVES, *patches]))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"tool": "edgeconv", "call": "superblob(base 8-shave blob, bsdiff4 patches for shaves 1..16)",
            "patches": sorted(patches), "depthai_reads_shaves": sorted(read)}


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    patches = {int(k.split("_", 1)[1]): p for k, p in inputs.items() if k.startswith("patch_")}
    return {"tool_calls": [assemble_superblob(inputs["base"], patches, outputs["superblob"])]}


STEP = Step("assemble_superblob", run, NoParams, inputs=("base", "patch_<shaves>"), outputs=("superblob",))
