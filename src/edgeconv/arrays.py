"""Named arrays on disk (``.npz``): calibration data and a stage's outputs, written atomically.

``compact=True`` (calibration data): a float array whose values are all whole numbers in 0..255 (image
samples, random or from files, are such) is stored as uint8 beside a note of its dtype, and the
file is zip-compressed: a quarter of the bytes or less, and :func:`load_npz` gives back exactly the
same values and dtype. A zoo of bare models with random calibration would otherwise keep gigabytes
of float32 samples (BENCHMARKS.md (p)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PACKED = "__dtype__"  # PACKED + name: the dtype an array stored as uint8 is given back as


def _pack(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, arr in data.items():
        if (np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(np.isfinite(arr))
                and arr.min() >= 0 and arr.max() <= 255 and np.array_equal(arr, np.rint(arr))):
            out[name] = arr.astype(np.uint8)
            out[PACKED + name] = np.array(arr.dtype.str)
        else:
            out[name] = arr
    return out


def save_npz(path: Path, data: dict[str, np.ndarray], compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        if compact:
            np.savez_compressed(tmp, **_pack(data))
        else:
            np.savez(tmp, **data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    for note in [k for k in data if k.startswith(PACKED)]:
        name = note[len(PACKED):]
        data[name] = data[name].astype(np.dtype(str(data.pop(note))))
    return data
