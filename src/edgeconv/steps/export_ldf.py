"""The images of a Luxonis dataset's split (``calibration.path: <dataset>:<split>``) written as PNG
files into the calibration directory ``results/remote/ldf/<dataset>/<split>/`` (:mod:`edgeconv.ldf`).
``version`` is the split as the run was planned with it: a changed split is exported again."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import ParamsBase, Paths, Step


@dataclass(frozen=True, kw_only=True)
class LdfParams(ParamsBase):
    dataset: str
    split: str
    version: str


def run(inputs: Paths, outputs: Paths, params: LdfParams) -> dict[str, Any]:
    from edgeconv import ldf

    out = outputs["images"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        staged = Path(tmp) / "images"
        exported = ldf.export(params.dataset, params.split, staged, params.version)
        if out.exists():
            shutil.rmtree(out)
        staged.replace(out)
    return {"tool_calls": [{"tool": "luxonis-ml", "call": f"LuxonisLoader(LuxonisDataset({params.dataset!r}), "
                            f"view={params.split!r})", **exported}]}


STEP = Step("export_ldf", run, LdfParams, outputs=("images",))
