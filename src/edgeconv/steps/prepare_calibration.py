"""Step 4: calibration data, written as one ``.npz`` that the quantization steps depend on.

Each input gets an array of shape ``[samples, *input_shape]`` holding exactly
what the *converted* model is fed: images in the ``encoding.to`` channel
order, in the input's layout, as its ``data_type`` (values 0..255 for images;
normalization is inside the model). Sources:

- ``calibration.path``: a directory of ``.jpg``/``.jpeg``/``.png`` images
  (resized with ``resize_method``), ``.npy`` arrays or ``.raw`` buffers (taken
  as they are, reshaped to the input), sorted by name, at most ``max_images``;
- ``calibration: random`` (default): seeded draws from N(mean, std) clipped to
  [min_value, max_value], rounded for image inputs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.config.resolved import ResolvedInput, ResolvedStage
from edgeconv.errors import CalibrationError
from edgeconv.arrays import load_npz, random_samples, save_npz
from edgeconv.calibration_files import IMAGE_SUFFIXES, list_calibration_files
from edgeconv.onnx_io import numpy_dtype
from edgeconv.steps.base import Context, Paths, StageParams, Step

log = logging.getLogger(__name__)



def prepare_calibration(
    stage: ResolvedStage, root: Path = Path("."), linked: dict[str, dict[str, np.ndarray]] | None = None
) -> dict[str, np.ndarray]:
    """``linked`` maps an upstream stage to its outputs on its own calibration (multi-stage)."""
    data: dict[str, np.ndarray] = {}
    for spec in stage.inputs:
        if spec.frozen_value is not None:
            continue
        data[spec.name] = calibration_for_input(spec, root, linked or {})
    counts = {len(v) for v in data.values()}
    if len(counts) > 1:
        # Quantizers feed all inputs sample by sample; use the common prefix.
        n = min(counts)
        log.warning("inputs have different numbers of calibration samples %s; using the first %d", sorted(counts), n)
        data = {k: v[:n] for k, v in data.items()}
    return data


def calibration_for_input(
    spec: ResolvedInput, root: Path, linked: dict[str, dict[str, np.ndarray]] | None = None
) -> np.ndarray:
    cal = spec.calibration
    kind = cal.get("kind", "random")
    if kind == "random":
        log.warning(
            "input %r has no calibration data: %d random samples in [%g, %g] stand in for it (quantization and the "
            "checks are only as good as that); give real samples with calibration.path",
            spec.name, int(cal["max_images"]), cal["min_value"], cal["max_value"])
        return _random(spec, cal)
    if kind == "path":
        return _from_directory(spec, cal, root)
    from edgeconv.link_calibration import linked_calibration

    upstream = (linked or {}).get(cal["stage"])
    if upstream is None:
        raise CalibrationError(
            f"input {spec.name!r}: calibration is linked to stage {cal['stage']!r} but its outputs were not given; "
            "build the model's stages together (a multi-stage config)"
        )
    return linked_calibration(spec, upstream, root)


def random_recipe(spec: ResolvedInput, cal: dict[str, Any]) -> dict[str, Any]:
    """How ``calibration: random`` draws an input's samples (:func:`edgeconv.arrays.random_samples`)."""
    dtype = numpy_dtype(spec.data_type)
    return {
        "seed": int(cal.get("seed", 0)), "shape": [int(cal["max_images"]), *spec.shape],
        "mean": cal["mean"], "std": cal["std"], "min": cal["min_value"], "max": cal["max_value"],
        "round": bool(spec.is_image or not np.issubdtype(dtype, np.floating)), "dtype": np.dtype(dtype).str,
    }


def _random(spec: ResolvedInput, cal: dict[str, Any]) -> np.ndarray:
    return random_samples(random_recipe(spec, cal))


def _from_directory(spec: ResolvedInput, cal: dict[str, Any], root: Path) -> np.ndarray:
    directory = Path(cal["path"])
    if not directory.is_absolute():
        directory = root / directory
    files = list_calibration_files(directory, int(cal.get("max_images", -1)))
    batch = spec.shape[spec.layout.index("N")] if "N" in spec.layout else 1
    samples = [_load_file(f, spec, cal.get("resize_method", "RESIZE")) for f in files]
    n_batches = max(1, math.floor(len(samples) / batch))
    if len(samples) < batch:
        raise CalibrationError(
            f"calibration.path: {directory} has {len(samples)} file(s) but input {spec.name!r} has batch {batch}; "
            f"add at least {batch} files"
        )
    out = []
    n_axis = spec.layout.index("N") if "N" in spec.layout else None
    for b in range(n_batches):
        group = samples[b * batch : (b + 1) * batch]
        out.append(np.stack(group, axis=n_axis) if n_axis is not None else group[0])
    return np.stack(out).astype(numpy_dtype(spec.data_type))


def _load_file(path: Path, spec: ResolvedInput, resize_method: str) -> np.ndarray:
    """One sample without the batch axis, in the input's layout."""
    per_sample = [d for axis, d in zip(spec.layout, spec.shape) if axis != "N"]
    suffix = path.suffix.lower()
    try:
        if suffix in IMAGE_SUFFIXES:
            return _load_image(path, spec, resize_method)
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.fromfile(path, dtype=numpy_dtype(spec.data_type))
    except CalibrationError:
        raise
    except Exception as exc:
        raise CalibrationError(f"calibration file {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    if arr.size != int(np.prod(per_sample)):
        raise CalibrationError(
            f"calibration file {path}: holds {arr.size} values but input {spec.name!r} needs "
            f"{int(np.prod(per_sample))} per sample (shape {per_sample}, layout {spec.layout})"
        )
    return arr.reshape(per_sample)


def _load_image(path: Path, spec: ResolvedInput, resize_method: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not all(a in spec.layout for a in "HW"):
        raise CalibrationError(
            f"calibration file {path}: input {spec.name!r} (layout {spec.layout}) is not an image input; "
            "give .npy or .raw calibration files for it"
        )
    height, width = spec.shape[spec.layout.index("H")], spec.shape[spec.layout.index("W")]
    try:
        with Image.open(path) as img:
            img = img.convert("L" if spec.encoding_to == "GRAY" or spec.channels == 1 else "RGB")
            img = resize(img, width, height, resize_method)
    except (UnidentifiedImageError, OSError) as exc:
        raise CalibrationError(f"calibration file {path}: not a readable image ({exc})") from None
    hwc = np.asarray(img, dtype=np.uint8)
    if hwc.ndim == 2:
        hwc = hwc[:, :, None]
    if spec.encoding_to == "BGR":
        hwc = hwc[:, :, ::-1]
    layout = [a for a in spec.layout if a != "N"]
    return np.ascontiguousarray(np.transpose(hwc, ["HWC".index(a) for a in layout]))


def resize(img: Any, width: int, height: int, method: str) -> Any:
    from PIL import Image

    if method == "RESIZE":
        return img.resize((width, height), Image.BILINEAR)
    w, h = img.size
    if method == "CROP":
        ratio = max(width / w, height / h)
        img = img.resize((max(width, round(w * ratio)), max(height, round(h * ratio))), Image.BILINEAR)
        left = (img.size[0] - width) // 2
        top = (img.size[1] - height) // 2
        return img.crop((left, top, left + width, top + height))
    if method == "PAD":
        ratio = min(width / w, height / h)
        new = img.resize((max(1, round(w * ratio)), max(1, round(h * ratio))), Image.BILINEAR)
        canvas = Image.new(img.mode, (width, height))
        canvas.paste(new, ((width - new.size[0]) // 2, (height - new.size[1]) // 2))
        return canvas
    raise CalibrationError(f"calibration.resize_method: unknown method {method!r}; use RESIZE, CROP or PAD")


@dataclass(frozen=True, kw_only=True)
class CalibrationParams(StageParams):
    """The stage's keys including ``calibration`` (the steps that only read the interface omit it).
    Calibration paths and linking scripts are relative to the working directory, the project."""


def configure(ctx: Context) -> CalibrationParams:
    return ctx.make(CalibrationParams, io=ctx.unit.io(with_calibration=True))


def run(inputs: Paths, outputs: Paths, params: CalibrationParams) -> dict[str, Any]:
    # Calibration is made for the stage as configured (camera data, 0..255 images); with
    # archive_preprocess the model is fed it normalized, as the archive's preprocessing will.
    stage = params.stage(inputs["model"], as_converted=False)
    linked = {k[len("linked_") :]: load_npz(p) for k, p in inputs.items() if k.startswith("linked_")}
    data = prepare_calibration(stage, Path("."), linked)
    if params.archive_preprocess:
        from edgeconv.config.resolved import move_preprocessing
        from edgeconv.preprocessing import normalize_numpy

        converted = {i.name: i for i in move_preprocessing(stage).inputs}
        for spec in stage.inputs:
            if spec.name in data and converted[spec.name] != spec:
                dtype = numpy_dtype(converted[spec.name].data_type)
                data[spec.name] = np.stack([normalize_numpy(x, spec) for x in data[spec.name]]).astype(dtype)
    if not data:
        raise CalibrationError("every input is frozen; there is nothing to calibrate")
    # Random samples are kept as their recipe (drawn again when read) when they are stored as drawn.
    recipes = {i.name: random_recipe(i, i.calibration) for i in stage.inputs
               if i.frozen_value is None and i.calibration.get("kind", "random") == "random"}
    save_npz(outputs["calibration"], data, compact=True, recipes=recipes)
    return {"samples": {k: list(v.shape) for k, v in data.items()}, "sources": [i.calibration for i in stage.inputs]}


# Inputs: ``model`` (the model as given), ``file_*`` (the calibration files, for the DAG only) and
# ``linked_<stage>`` (an upstream stage's outputs on its own calibration data).
# images_<i>: calibration directories made by a rule (an extracted archive), named so the record links to them.
STEP = Step("prepare_calibration", run, CalibrationParams, configure, inputs=("model", "images_<i>"), outputs=("calibration",),
            accepts_ir=True)
