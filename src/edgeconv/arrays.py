"""Named arrays on disk (``.npz``): calibration data and a stage's outputs, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_npz(path: Path, data: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        np.savez(tmp, **data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
