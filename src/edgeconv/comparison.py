"""An artifact against the model it was made from, on the same samples: the samples and the
original's outputs (:func:`reference`), then per output of the artifact cosine similarity, max and
mean absolute error against thresholds (:func:`compare`). The verify step writes the report; the
per-layer analysis compares its output rows the same way."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeconv.config.resolved import ResolvedStage
from edgeconv.errors import VerificationError
from edgeconv.metrics import metrics
from edgeconv.onnx_graph import fix_shape, select_outputs
from edgeconv.onnx_io import load_onnx, numpy_dtype
from edgeconv.preprocessing import normalize_numpy
from edgeconv.runtime import Runner, ir_runner, onnx_runner, runnable


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


def reference(
    original: Path, stage: ResolvedStage, calibration: dict[str, np.ndarray], max_images: int,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """The samples and the original model's outputs for them: what every artifact is compared with."""
    # A temporary file of an original over 2 GB lives until the last sample has run. One model is
    # loaded at a time: every sample through the original, then every sample through the artifact.
    with contextlib.ExitStack() as cleanup:
        if original.suffix == ".xml":  # an OpenVINO IR given as the model: its float IR is the reference
            run_original = ir_runner(original)
        else:
            model = load_onnx(original)  # over 2 GB, the weights stay on disk
            interface = _interface(model)
            model = select_outputs(model, stage.outputs)
            for vi in model.graph.input:  # give dynamic dims the resolved sizes
                spec = next((s for s in stage.inputs if s.name == vi.name), None)
                if spec is not None:
                    fix_shape(vi, spec.shape)
            if _interface(model) == interface:
                ref: onnx.ModelProto | Path = original  # run as it is, from its file
            else:  # over 2 GB, written once to a file that serves every sample
                ref = cleanup.enter_context(runnable(model))
            del model
            run_original = onnx_runner(ref)

        n = min(max_images, min((len(v) for v in calibration.values()), default=1))
        samples = []
        for i in range(max(n, 1)):
            sample = {}
            for spec in stage.inputs:
                if spec.frozen_value is not None:
                    continue
                sample[spec.name] = calibration[spec.name][i].astype(numpy_dtype(spec.data_type))
            samples.append(sample)
        expected = [_run_or_explain(run_original, original_feeds(stage, sample), stage) for sample in samples]
        del run_original
    return samples, expected


def _run_or_explain(run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], feeds: dict[str, np.ndarray],
                    stage: ResolvedStage) -> dict[str, np.ndarray]:
    """The original's outputs; when it refuses the check data (an index out of range, say), an error
    that names the inputs the data came from and how to give data it accepts."""
    try:
        return run(feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime / OpenVINO raise their own types
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        described = []
        for i, spec in enumerate(stage.inputs):
            value = feeds.get(spec.name)
            if value is None:
                continue
            random = spec.calibration.get("kind", "random") == "random"
            described.append(f"{spec.name!r} (inputs.{i}: {value.dtype} values {value.min():g}..{value.max():g}"
                             + (", random" if random else "") + ")")
        random_ints = [f"{s.name!r}" for s in stage.inputs if s.calibration.get("kind", "random") == "random"
                       and not np.issubdtype(numpy_dtype(s.data_type), np.floating)]
        what = (f"give calibration data for {', '.join(random_ints)} (calibration.path), or the range its random data "
                "must stay in (calibration: {min_value: 0, max_value: <largest valid value>} under that input)"
                if random_ints else "give calibration data the model accepts (calibration.path)")
        raise VerificationError(f"the original model refused the check data ({first[:300]}); it was fed "
                                f"{'; '.join(described)}: {what}") from None


def compare(
    original: Path,
    artifact: Path,
    stage: ResolvedStage,
    samples: list[dict[str, np.ndarray]],
    expected: list[dict[str, np.ndarray]],
    thresholds: dict[str, Any],
    run_artifact: Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """The report of ``artifact`` against the original's outputs ``expected`` on ``samples``."""
    if run_artifact is None:
        run_artifact = one_session(ir_runner if artifact.suffix == ".xml" else onnx_runner)
    per_output: dict[str, list[dict[str, float]]] = {}
    for sample, want in zip(samples, expected):
        got = run_artifact(artifact, sample)
        for name in stage.outputs:
            value = got.get(name)
            if value is None:
                raise VerificationError(
                    f"{artifact} has no output {name!r} (its outputs: {', '.join(sorted(got))}); "
                    "the conversion renamed or dropped it"
                )
            per_output.setdefault(name, []).append(metrics(want[name], value))
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
        "images": len(samples),
        "thresholds": thresholds,
        "outputs": outputs,
        "passed": not failures,
        "failures": failures,
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
    """One artifact against the original: :func:`reference`, then :func:`compare`."""
    samples, expected = reference(original, stage, calibration, max_images)
    return compare(original, artifact, stage, samples, expected, thresholds, run_artifact)


def _interface(model: onnx.ModelProto) -> tuple[list[bytes], list[bytes], int]:
    return ([i.SerializeToString() for i in model.graph.input], [o.SerializeToString() for o in model.graph.output],
            len(model.graph.node))


def one_session(make: Callable[[Path], Runner]) -> Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A runner for the artifact made on its first sample and used for the rest."""
    runners: dict[Path, Runner] = {}

    def run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if path not in runners:
            runners[path] = make(path)
        return runners[path](feeds)

    return run
