"""Calibration images from a Luxonis dataset (LDF): ``calibration.path: <dataset>:<split>``, as the
reference accepts it, through ``luxonis-ml``'s dataset API (extra ``ldf``: ``luxonis-ml[data]``).

The dataset is looked up while Snakemake parses the workflow (a missing dataset or split stops the
run before any job, naming the key); the export_ldf rule writes the split's images as PNG files
into ``results/remote/ldf/<dataset>/<split>/``, the calibration directory. The split's version (a
digest of its sample ids and of the dataset's annotation files) is a rule parameter: a changed
split is exported again and reruns what depends on it. Datasets live where luxonis-ml keeps them
(``LUXONISML_BASE_PATH``, by default ``~/.cache/luxonis_ml``).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from edgeconv.errors import InputError

SPEC = re.compile(r"^([A-Za-z0-9_.\-]+):([A-Za-z0-9_.\-]+)(?::([A-Za-z0-9_.\-]+))?$")


class LdfError(InputError):
    """A Luxonis dataset that cannot be used; the message names the dataset, split and what to do."""


def parse(path: str) -> tuple[str, str, str | None] | None:
    """``<dataset>:<split>`` (or ``<dataset>:<split>:<loader plugin>``), else None."""
    match = SPEC.match(path.strip())
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _api() -> Any:
    try:
        from luxonis_ml import data
    except ImportError as exc:
        raise LdfError(
            f"a Luxonis dataset needs luxonis-ml's data API, which is not installed ({str(exc).splitlines()[0][:120]}); "
            "install it with `pip install 'edgeconv[ldf]'` (luxonis-ml[data])"
        ) from None
    return data


def base_path() -> str:
    from luxonis_ml.utils import environ

    return str(environ.LUXONISML_BASE_PATH)


def look_up(dataset: str, split: str, plugin: str | None = None) -> str:
    """The split's version; raises LdfError when the dataset or the split does not exist."""
    if plugin is not None:
        raise LdfError(f"{dataset}:{split}:{plugin}: loader plugins are not supported here; export the images to a "
                       "directory and give its path, or use <dataset>:<split>")
    data = _api()
    if not data.LuxonisDataset.exists(dataset):
        raise LdfError(f"no Luxonis dataset {dataset!r} under {base_path()} (LUXONISML_BASE_PATH); "
                       "check the name, or give a directory of images")
    ds = data.LuxonisDataset(dataset)
    splits = ds.get_splits() or {}
    if split not in splits:
        raise LdfError(f"Luxonis dataset {dataset!r} has no split {split!r}; its splits are: "
                       f"{', '.join(sorted(splits)) or '(none: run make_splits)'}")
    digest = hashlib.sha256(json.dumps(sorted(map(str, splits[split]))).encode())
    root = Path(base_path()) / "data"
    for f in sorted(root.glob(f"*/datasets/{dataset}/**/*")):
        if f.is_file() and f.suffix in (".parquet", ".json"):
            st = f.stat()
            digest.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def export(dataset: str, split: str, out: Path, version: str | None = None) -> dict[str, Any]:
    """Write the split's images as ``<index>.png`` (RGB) into the new directory ``out``."""
    from PIL import Image

    import numpy as np

    if version is not None and look_up(dataset, split) != version:
        raise LdfError(f"{dataset}:{split} changed since the run was planned; run again")
    data = _api()
    loader = data.LuxonisLoader(data.LuxonisDataset(dataset), view=split, color_space="RGB")
    out.mkdir(parents=True, exist_ok=False)
    count = 0
    for image, _labels in loader:
        if not isinstance(image, np.ndarray):
            raise LdfError(f"{dataset}:{split}: samples with more than one image are not supported for calibration")
        array = image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
        Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array).save(out / f"{count:06d}.png")
        count += 1
    if count == 0:
        raise LdfError(f"{dataset}:{split} has no images")
    return {"dataset": dataset, "split": split, "images": count, "luxonisml_base_path": base_path()}
