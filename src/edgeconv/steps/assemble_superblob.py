"""rvc2 superblob, part 2: the 8-shave blob and the patches of every other shave count (1..16)
in DepthAI's superblob format (:func:`edgeconv.targets.rvc2.superblob`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.steps.base import NoParams, Paths, Step
from edgeconv.targets import rvc2


def read_back(superblob: Path, shave_counts: list[int]) -> dict[int, int]:
    """DepthAI applies each patch: every shave count must give a blob it reads, with that many shaves."""
    os.environ.setdefault("DEPTHAI_LEVEL", "error")
    import depthai as dai

    read: dict[int, int] = {}
    try:
        loaded = dai.OpenVINO.SuperBlob(str(superblob))
        for shaves in shave_counts:
            read[shaves] = loaded.getBlobWithNumShaves(shaves).numShaves
    except Exception as exc:  # noqa: BLE001 - DepthAI raises RuntimeError or its own types
        raise ConversionError(f"DepthAI {dai.__version__} cannot read the superblob it was assembled into: {exc}") from None
    wrong = {s: n for s, n in read.items() if s != n}
    if wrong:
        raise ConversionError(f"the superblob's patches give the wrong shave counts (asked: got): {wrong}")
    return read


def assemble_superblob(base: Path, patches: dict[int, Path], out: Path) -> dict[str, Any]:
    data = rvc2.superblob(base.read_bytes(), {s: p.read_bytes() for s, p in patches.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        read = read_back(tmp, sorted([rvc2.SUPERBLOB_BASE_SHAVES, *patches]))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"tool": "edgeconv", "call": "superblob(base 8-shave blob, bsdiff4 patches for shaves 1..16)",
            "patches": sorted(patches), "depthai_reads_shaves": sorted(read)}


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    patches = {int(k.split("_", 1)[1]): p for k, p in inputs.items() if k.startswith("patch_")}
    return {"tool_calls": [assemble_superblob(inputs["base"], patches, outputs["superblob"])]}


STEP = Step("assemble_superblob", run, NoParams, inputs=("base", "patch_<shaves>"), outputs=("superblob",))
