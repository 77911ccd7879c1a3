"""Step 6: compare an artifact with the original model on the same uint8 images.

The artifact is fed the calibration samples as the camera would give them;
the original model is fed the same samples normalized in numpy. Per output:
cosine similarity, max and mean absolute error. The step fails when any
output misses a threshold that is set.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.arrays import load_npz
from edgeconv.comparison import compare, fp16_floor, reference
from edgeconv.errors import VerificationError
from edgeconv.metrics import thresholds_for, verify_images
from edgeconv.records import write_json_atomic
from edgeconv.steps.base import Context, Paths, StageParams, Step


@dataclass(frozen=True, kw_only=True)
class VerifyParams(StageParams):
    PARSED_STAGE = True  # reads no calibration settings: see StageParams.resolved
    kind: str
    thresholds: dict[str, float]
    max_images: int
    # An HTP context model runs in the QNN HTP simulator: {soc, fp16}.
    runtime: dict[str, Any] | None = None
    # A text detector's head (parser PPTextDetectionParser): its artifacts are scored in text boxes.
    text_head: dict[str, Any] | None = None


def configure(ctx: Context, kind: str = "onnx") -> VerifyParams:
    thresholds = thresholds_for(ctx.settings, ctx.stage, kind)
    max_images = verify_images(ctx.settings, ctx.stage)
    runtime = None
    if kind == "qnn_htp":
        from edgeconv.targets.qnn_htp import htp_runtime

        runtime = htp_runtime(ctx.stage)
    from edgeconv.text_decode import PARSER

    text_head = next((h for h in ctx.heads() if h.get("parser") == PARSER), None)
    return ctx.make(VerifyParams, kind=kind, thresholds=thresholds, max_images=int(max_images), runtime=runtime,
                    text_head=text_head)


# The kinds of artifact whose arithmetic is FP16 (an FP16 IR, RVC2's mo IR); qnn_htp in FP16 mode too.
FP16_KINDS = ("openvino_fp16",)


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


def _layers_on_cpu(context_model: Path) -> list[tuple[str, str]]:
    """(op type, node) of the layers an HTP context model left on the CPU
    (:func:`edgeconv.targets.qnn_htp.cpu_layers`, the one place that knows)."""
    import onnx

    from edgeconv.targets.qnn_htp import cpu_layers

    try:
        model = onnx.load(str(context_model), load_external_data=False)
    except Exception:  # noqa: BLE001 - not an ONNX context model: nothing to say
        return []
    return [(layer["op_type"], layer["name"]) for layer in cpu_layers(model)]


def run(inputs: Paths, outputs: Paths, params: VerifyParams) -> dict[str, Any]:
    stage = params.stage(inputs["original"])
    runner = None
    if params.runtime:  # an HTP context model runs in the QNN HTP simulator
        from edgeconv.targets.qnn_htp import run_context

        rt = params.runtime

        def runner(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return run_context(path, feeds, rt["soc"], rt["fp16"])

    samples, expected = reference(inputs["original"], stage, load_npz(inputs["calibration"]), params.max_images)
    floors = None
    if params.kind in FP16_KINDS or (params.runtime or {}).get("fp16"):
        # FP16 weights cost the model this much whatever the conversion does; the HTP's FP16 mode
        # computes in FP16 too, so its floor rounds every tensor as well.
        floors = fp16_floor(inputs["original"], stage, samples, expected, activations=params.kind == "qnn_htp")
        if floors:
            print("FP16 floor (the original with FP16 arithmetic, in float32): "
                  + ", ".join(f"{k} {v:.6f}" for k, v in floors.items()), flush=True)
    from edgeconv.detectors import from_metadata
    from edgeconv.onnx_io import read_model_info

    detector = from_metadata(read_model_info(inputs["original"]).metadata) if inputs["original"].suffix == ".onnx" else None
    if detector is None and params.text_head:
        detector = {"kind": "text", "head": params.text_head}
    reports = []
    for label, artifact, out in _pairs(inputs, outputs):
        report = compare(inputs["original"], artifact, stage, samples, expected, params.thresholds, runner, floors, detector)
        if report.get("detections", {}).get("warning"):
            print(f"warning: {artifact.name}: {report['detections']['warning']}", file=sys.stderr, flush=True)
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
        on_cpu = _layers_on_cpu(artifact) if params.kind == "qnn_htp" else []
        if on_cpu:  # what the tool told us explains the failure better than calibration would
            named = ", ".join(f"{op} {name!r}" for op, name in on_cpu[:5]) + (", ..." if len(on_cpu) > 5 else "")
            raise VerificationError(
                f"{artifact} differs from {inputs['original']} and the HTP ran {len(on_cpu)} layer(s) on the CPU: "
                f"{named}; those layers are the likely cause, not calibration: replace them in the model you export "
                f"(see why with `edgeconv analyze qnn_htp`), or end the model before them (outputs:). "
                f"{'; '.join(report['failures'])}; not published. Report: {failed_report}"
            )
        keys = [k for k in ("min_cosine", "max_abs_error", "mean_abs_error", "min_map50") if any(k in f for f in report["failures"])]
        where = " or ".join(f"verify.{params.kind}.{k}" for k in keys)
        more = f" ({len(failed) - 1} more: {', '.join(str(f[0]) for f in failed[1:])})" if len(failed) > 1 else ""
        raise VerificationError(
            f"{artifact} differs from {inputs['original']}: {'; '.join(report['failures'])}; "
            f"not published. Report: {failed_report}{more}. Improve the conversion (e.g. calibration data, "
            f"quantization mode), or if this is expected change {where} (config/config.yaml, or the model's config)"
        )
    for _, _, out, report in reports:
        write_json_atomic(out, report)
    checked = {label or "artifact": {"passed": True, "outputs": report["outputs"],
                                     **({"detections": report["detections"]} if "detections" in report else {})}
               for label, _, _, report in reports}
    return {"verification": checked["artifact"] if "artifact" in checked else checked}


STEP = Step(
    "verify", run, VerifyParams, configure,
    inputs=("original", "artifact", "artifact_<stage>", "calibration"), outputs=("report", "report_<stage>"),
    doc="variant: kind", accepts_ir=True)
