"""Step 6: compare an artifact with the original model on the same uint8 images.

The artifact is fed the calibration samples as the camera would give them;
the original model is fed the same samples normalized in numpy. Per output:
cosine similarity, max and mean absolute error. The step fails when any
output misses a threshold that is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeconv.config.resolve import ResolvedStage
from edgeconv.errors import VerificationError
from edgeconv.onnx_io import numpy_dtype
from edgeconv.runtime import run_ir, run_onnx, runnable
from edgeconv.onnx_graph import fix_shape, select_outputs
from edgeconv.preprocessing import normalize_numpy


def original_feeds(stage: ResolvedStage, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    feeds = {}
    for spec in stage.inputs:
        if spec.frozen_value is not None:
            feeds[spec.name] = spec.frozen_array()
        elif spec.listed and spec.needs_normalization:
            feeds[spec.name] = normalize_numpy(sample[spec.name], spec)
        else:
            feeds[spec.name] = sample[spec.name]
    return feeds


def metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    a = ref.astype(np.float64).reshape(-1)
    b = got.astype(np.float64).reshape(-1)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    if denom == 0:
        cosine = 1.0 if np.array_equal(a, b) else 0.0
    else:
        cosine = float(np.dot(a, b) / denom)
    diff = np.abs(a - b)
    return {
        "cosine": cosine,
        "max_abs_error": float(diff.max(initial=0.0)),
        "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
    }


def verify(
    original: Path,
    artifact: Path,
    stage: ResolvedStage,
    calibration: dict[str, np.ndarray],
    thresholds: dict[str, Any],
    max_images: int,
    run_artifact: Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    # A temporary file of an original over 2 GB lives until the last sample has run.
    with contextlib.ExitStack() as cleanup:
        if original.suffix == ".xml":  # an OpenVINO IR given as the model: its float IR is the reference
            def run_original(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                return run_ir(original, feeds)

        else:
            model = onnx.load(str(original))
            model = select_outputs(model, stage.outputs)
            for vi in model.graph.input:  # give dynamic dims the resolved sizes
                spec = next((s for s in stage.inputs if s.name == vi.name), None)
                if spec is not None:
                    fix_shape(vi, spec.shape)
            # Over 2 GB, written once to a file that serves every sample.
            reference = cleanup.enter_context(runnable(model))
            del model

            def run_original(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                return run_onnx(reference, feeds)

        if run_artifact is None:
            run_artifact = run_ir if artifact.suffix == ".xml" else run_onnx
        n = min(max_images, min((len(v) for v in calibration.values()), default=1))
        per_output: dict[str, list[dict[str, float]]] = {}
        for i in range(max(n, 1)):
            sample = {}
            for spec in stage.inputs:
                if spec.frozen_value is not None:
                    continue
                sample[spec.name] = calibration[spec.name][i].astype(numpy_dtype(spec.data_type))
            expected = run_original(original_feeds(stage, sample))
            got = run_artifact(artifact, sample)
            for name in stage.outputs:
                value = got.get(name)
                if value is None:
                    raise VerificationError(
                        f"{artifact} has no output {name!r} (its outputs: {', '.join(sorted(got))}); "
                        "the conversion renamed or dropped it"
                    )
                per_output.setdefault(name, []).append(metrics(expected[name], value))
        outputs = {}
        failures = []
        for name, rows in per_output.items():
            summary = {
                "cosine": min(r["cosine"] for r in rows),
                "max_abs_error": max(r["max_abs_error"] for r in rows),
                "mean_abs_error": float(np.mean([r["mean_abs_error"] for r in rows])),
            }
            outputs[name] = summary
            if thresholds.get("min_cosine") is not None and summary["cosine"] < thresholds["min_cosine"]:
                failures.append(f"{name}: cosine {summary['cosine']:.6f} < min_cosine {thresholds['min_cosine']}")
            if thresholds.get("max_abs_error") is not None and summary["max_abs_error"] > thresholds["max_abs_error"]:
                failures.append(f"{name}: max_abs_error {summary['max_abs_error']:.4g} > {thresholds['max_abs_error']}")
            if thresholds.get("mean_abs_error") is not None and summary["mean_abs_error"] > thresholds["mean_abs_error"]:
                failures.append(f"{name}: mean_abs_error {summary['mean_abs_error']:.4g} > {thresholds['mean_abs_error']}")
        return {
            "artifact": str(artifact),
            "original": str(original),
            "images": max(n, 1),
            "thresholds": thresholds,
            "outputs": outputs,
            "passed": not failures,
            "failures": failures,
        }
