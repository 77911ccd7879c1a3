"""Named arrays on disk (``.npz``): calibration data and a stage's outputs, written atomically.

``compact=True`` (calibration data): a float array whose values are all whole numbers in 0..255 (image
samples, random or from files, are such) is stored as uint8 beside a note of its dtype, and the
file is zip-compressed: a quarter of the bytes or less, and :func:`load_npz` gives back exactly the
same values and dtype. Random samples (``calibration: random``) are not stored at all: their recipe
(seed, distribution, shape, dtype) is, and :func:`load_npz` draws them again, the same bytes. A zoo
of bare models would otherwise keep gigabytes of random numbers (BENCHMARKS.md (p)).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

PACKED = "__dtype__"  # PACKED + name: the dtype an array stored as uint8 is given back as
RANDOM = "__random__"  # RANDOM + name: the JSON recipe an array of random samples is drawn again from


def random_samples(recipe: dict[str, Any]) -> np.ndarray:
    """Seeded draws from N(mean, std) of ``shape``, clipped to [min, max], rounded if asked, as ``dtype``."""
    rng = np.random.default_rng(int(recipe["seed"]))
    values = np.clip(rng.normal(recipe["mean"], recipe["std"], size=recipe["shape"]), recipe["min"], recipe["max"])
    if recipe["round"]:
        values = np.rint(values)
    return values.astype(np.dtype(recipe["dtype"]))


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


def _recipes(data: dict[str, np.ndarray], recipes: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each array its recipe draws exactly (same dtype and bytes) replaced by the recipe."""
    out: dict[str, np.ndarray] = {}
    for name, arr in data.items():
        recipe = recipes.get(name)
        if recipe is not None and arr.dtype == np.dtype(recipe["dtype"]) and np.array_equal(arr, random_samples(recipe)):
            out[RANDOM + name] = np.array(json.dumps(recipe, sort_keys=True))
        else:
            out[name] = arr
    return out


def save_npz(path: Path, data: dict[str, np.ndarray], compact: bool = False,
             recipes: dict[str, dict[str, Any]] | None = None) -> None:
    """``recipes``: for arrays of random samples, how :func:`random_samples` draws them (compact only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        if compact:
            np.savez_compressed(tmp, **_pack(_recipes(data, recipes or {})))
        else:
            np.savez(tmp, **data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def sample(data: dict[str, np.ndarray], i: int, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Sample ``i`` of each array (``[samples, *shape]``), as arrays: a scalar input's sample is a
    0-d array, not a NumPy scalar, which onnxruntime and OpenVINO refuse ("Unable to handle object of
    type <class 'numpy.int64'>": Silero VAD's sample rate)."""
    return {name: np.asarray(data[name][i]) for name in (data if names is None else names)}


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        stored = {k: npz[k] for k in npz.files}
    data: dict[str, np.ndarray] = {}  # in the order they were saved
    for key, arr in stored.items():
        if key.startswith(RANDOM):
            data[key[len(RANDOM):]] = random_samples(json.loads(str(arr)))
        elif not key.startswith(PACKED):
            note = stored.get(PACKED + key)
            data[key] = arr if note is None else arr.astype(np.dtype(str(note)))
    return data
