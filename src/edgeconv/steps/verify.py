"""Step 6: compare an artifact with the original model on the same uint8 images.

The artifact is fed the calibration samples as the camera would give them;
the original model is fed the same samples normalized in numpy. Per output:
cosine similarity, max and mean absolute error. The step fails when any
output misses a threshold that is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeconv.config.resolved import ResolvedStage
from edgeconv.arrays import load_npz
from edgeconv.errors import VerificationError
from edgeconv.metrics import metrics, thresholds_for, verify_images
from edgeconv.onnx_io import load_onnx, numpy_dtype
from edgeconv.runtime import Runner, ir_runner, onnx_runner, runnable
from edgeconv.onnx_graph import fix_shape, select_outputs
from edgeconv.preprocessing import normalize_numpy
from edgeconv.records import write_json_atomic
from edgeconv.steps.base import Context, Paths, StageParams, Step


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
        expected = [run_original(original_feeds(stage, sample)) for sample in samples]
        del run_original
    return samples, expected


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
        run_artifact = _one_session(ir_runner if artifact.suffix == ".xml" else onnx_runner)
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


@dataclass(frozen=True, kw_only=True)
class VerifyParams(StageParams):
    PARSED_STAGE = True  # reads no calibration settings: see StageParams.resolved
    kind: str
    thresholds: dict[str, float]
    max_images: int
    # An HTP context model runs in the QNN HTP simulator: {soc, fp16}.
    runtime: dict[str, Any] | None = None


def configure(ctx: Context, kind: str = "onnx") -> VerifyParams:
    thresholds = thresholds_for(ctx.settings, ctx.stage, kind)
    max_images = verify_images(ctx.settings, ctx.stage)
    runtime = None
    if kind == "qnn_htp":
        from edgeconv.targets.qnn_htp import htp_runtime

        runtime = htp_runtime(ctx.stage)
    return ctx.make(VerifyParams, kind=kind, thresholds=thresholds, max_images=int(max_images), runtime=runtime)


def _interface(model: onnx.ModelProto) -> tuple[list[bytes], list[bytes], int]:
    return ([i.SerializeToString() for i in model.graph.input], [o.SerializeToString() for o in model.graph.output],
            len(model.graph.node))


def _one_session(make: Callable[[Path], Runner]) -> Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A runner for the artifact made on its first sample and used for the rest."""
    runners: dict[Path, Runner] = {}

    def run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if path not in runners:
            runners[path] = make(path)
        return runners[path](feeds)

    return run


def failed_report_path(report: Path) -> Path:
    """Where a report that did not pass is kept: ``x.verify.json`` -> ``x.verify.failed.json``."""
    return report.with_name(report.name.removesuffix(".json") + ".failed.json")


def _pairs(inputs: Paths, outputs: Paths) -> list[tuple[str, Path, Path]]:
    """(label, artifact, report): ``artifact``/``report``, or ``artifact_<x>``/``report_<x>`` for
    several artifacts checked against one run of the original (the ONNX stages of a chain)."""
    if "artifact" in inputs:
        return [("", inputs["artifact"], outputs["report"])]
    pairs = []
    for key, artifact in sorted(inputs.items()):
        if key.startswith("artifact_"):
            label = key.removeprefix("artifact_")
            if f"report_{label}" not in outputs:
                raise ValueError(f"verify: input {key} has no output report_{label}")
            pairs.append((label, artifact, outputs[f"report_{label}"]))
    return pairs


def run(inputs: Paths, outputs: Paths, params: VerifyParams) -> dict[str, Any]:
    stage = params.stage(inputs["original"])
    runner = None
    if params.runtime:  # an HTP context model runs in the QNN HTP simulator
        from edgeconv.targets.qnn_htp import run_context

        rt = params.runtime

        def runner(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return run_context(path, feeds, rt["soc"], rt["fp16"])

    samples, expected = reference(inputs["original"], stage, load_npz(inputs["calibration"]), params.max_images)
    reports = []
    for label, artifact, out in _pairs(inputs, outputs):
        report = compare(inputs["original"], artifact, stage, samples, expected, params.thresholds, runner)
        if params.runtime:
            report["runtime"] = {"simulator": "QNN HTP (onnxruntime-qnn, x86-64)", **params.runtime}
        reports.append((label, artifact, out, report))
    failed = []
    for label, artifact, out, report in reports:
        failed_report = failed_report_path(out)
        if report["passed"]:
            failed_report.unlink(missing_ok=True)
            continue
        # The artifact stays under results/intermediate/ and is never published; the report with
        # every figure is kept beside it (the declared report would be removed with the failed job).
        write_json_atomic(failed_report, report)
        failed.append((artifact, failed_report, report))
    if failed:
        artifact, failed_report, report = failed[0]
        keys = [k for k in ("min_cosine", "max_abs_error", "mean_abs_error") if any(k in f for f in report["failures"])]
        where = " or ".join(f"verify.{params.kind}.{k}" for k in keys)
        more = f" ({len(failed) - 1} more: {', '.join(str(f[0]) for f in failed[1:])})" if len(failed) > 1 else ""
        raise VerificationError(
            f"{artifact} differs from {inputs['original']}: {'; '.join(report['failures'])}; "
            f"not published. Report: {failed_report}{more}. Improve the conversion (e.g. calibration data, "
            f"quantization mode), or if this is expected change {where} (config/config.yaml, or the model's config)"
        )
    for _, _, out, report in reports:
        write_json_atomic(out, report)
    checked = {label or "artifact": {"passed": True, "outputs": report["outputs"]} for label, _, _, report in reports}
    return {"verification": checked["artifact"] if "artifact" in checked else checked}


STEP = Step(
    "verify", run, VerifyParams, configure,
    inputs=("original", "artifact", "artifact_<stage>", "calibration"), outputs=("report", "report_<stage>"),
    doc="variant: kind", accepts_ir=True)
