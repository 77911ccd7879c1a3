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


def _as_staged(model: onnx.ModelProto, stage: ResolvedStage) -> onnx.ModelProto:
    """The original as the checks run it: only the stage's outputs, dynamic input dims given the
    resolved sizes."""
    model = select_outputs(model, stage.outputs)
    for vi in model.graph.input:
        spec = next((s for s in stage.inputs if s.name == vi.name), None)
        if spec is not None:
            fix_shape(vi, spec.shape)
    return model


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
            model = _as_staged(model, stage)
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
                sample[spec.name] = np.asarray(calibration[spec.name][i], dtype=numpy_dtype(spec.data_type))
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


def _fp16_model(model: onnx.ModelProto, activations: bool) -> onnx.ModelProto:
    """The model with every float32 weight rounded to FP16 (and, with ``activations``, every float32
    tensor a node makes rounded to FP16 too), still computed in float32."""
    from onnx import numpy_helper

    def rounded(tensor: onnx.TensorProto) -> onnx.TensorProto:
        if tensor.data_type != onnx.TensorProto.FLOAT:
            return tensor
        arr = numpy_helper.to_array(tensor)
        return numpy_helper.from_array(arr.astype(np.float16).astype(np.float32), tensor.name)

    for i, init in enumerate(model.graph.initializer):
        model.graph.initializer[i].CopyFrom(rounded(init))
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                attr.t.CopyFrom(rounded(attr.t))
    if not activations:
        return model
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {vi.name for vi in [*inferred.graph.value_info, *inferred.graph.output]
              if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    nodes = []
    for node in model.graph.node:
        nodes.append(node)
        for k, out in enumerate(node.output):
            if out not in floats:
                continue
            raw = f"{out}__f32"
            node.output[k] = raw
            half = onnx.helper.make_node("Cast", [raw], [f"{out}__f16"], to=onnx.TensorProto.FLOAT16)
            back = onnx.helper.make_node("Cast", [f"{out}__f16"], [out], to=onnx.TensorProto.FLOAT)
            nodes += [half, back]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def fp16_floor(
    original: Path, stage: ResolvedStage, samples: list[dict[str, np.ndarray]], expected: list[dict[str, np.ndarray]],
    activations: bool = False,
) -> dict[str, float] | None:
    """What FP16 itself costs the model: the worst cosine per output of the original with its weights
    (and, with ``activations``, every tensor it computes) rounded to FP16, run in float32 on the same
    samples, against the original. An FP16 artifact cannot do better than this; None for a model
    that is not ONNX, or whose FP16 copy does not run."""
    if original.suffix != ".onnx":
        return None
    try:
        model = _fp16_model(_as_staged(load_onnx(original), stage), activations)
        with runnable(model) as ref:
            run = onnx_runner(ref)
            got = [run(original_feeds(stage, sample)) for sample in samples]
    except Exception as exc:  # noqa: BLE001 - no floor is a weaker gate, not a failed check
        print(f"note: the FP16 floor of {original.name} could not be measured ({type(exc).__name__}: {exc}"[:300] + ")")
        return None
    return {name: min(metrics(want[name], out[name])["cosine"] for want, out in zip(expected, got))
            for name in stage.outputs}


def floor_gate(min_cosine: float, floor: float) -> float:
    """The cosine an FP16 artifact must reach when FP16 itself costs the model ``floor``: the
    configured ``min_cosine``, or a small margin under the floor when that is lower (a quarter of
    what the floor already loses, at least 0.0002)."""
    return min(min_cosine, floor - max(0.0002, 0.25 * (1.0 - floor)))


def compare(
    original: Path,
    artifact: Path,
    stage: ResolvedStage,
    samples: list[dict[str, np.ndarray]],
    expected: list[dict[str, np.ndarray]],
    thresholds: dict[str, Any],
    run_artifact: Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
    floors: dict[str, float] | None = None,
    detector: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of ``artifact`` against the original's outputs ``expected`` on ``samples``.
    ``floors``: per output, the cosine FP16 itself allows (:func:`fp16_floor`); the cosine gate is
    then :func:`floor_gate`, and the report gives the floor, the figure and the gate used.
    ``detector``: a recognised detector (:func:`edgeconv.detectors.from_metadata`): the report
    scores the artifact in detections too (:mod:`edgeconv.detection_metrics`), gated by
    ``min_map50``."""
    if run_artifact is None:
        run_artifact = one_session(ir_runner if artifact.suffix == ".xml" else onnx_runner)
    per_output: dict[str, list[dict[str, float]]] = {}
    got_all = []
    for sample, want in zip(samples, expected):
        got = run_artifact(artifact, sample)
        if detector is not None:
            got_all.append(got)
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
        gate = thresholds.get("min_cosine")
        floor = (floors or {}).get(name)
        if gate is not None and floor is not None:
            summary["fp16_floor_cosine"] = floor
            gate = summary["min_cosine_used"] = floor_gate(gate, floor)
        if gate is not None and summary["cosine"] < gate:
            if floor is not None and gate < thresholds["min_cosine"]:
                failures.append(f"{name}: cosine {summary['cosine']:.6f} < {gate:.6f}, the gate under the model's FP16 "
                                f"floor {floor:.6f} (min_cosine {thresholds['min_cosine']} is above what FP16 allows)")
            else:
                failures.append(f"{name}: cosine {summary['cosine']:.6f} < min_cosine {thresholds['min_cosine']}")
        if thresholds.get("max_abs_error") is not None and summary["max_abs_error"] > thresholds["max_abs_error"]:
            failures.append(f"{name}: max_abs_error {summary['max_abs_error']:.4g} > {thresholds['max_abs_error']}")
        if thresholds.get("mean_abs_error") is not None and summary["mean_abs_error"] > thresholds["mean_abs_error"]:
            failures.append(f"{name}: mean_abs_error {summary['mean_abs_error']:.4g} > {thresholds['mean_abs_error']}")
    report = {
        "artifact": str(artifact),
        "original": str(original),
        "images": len(samples),
        "thresholds": thresholds,
        "outputs": outputs,
    }
    if detector is not None:
        report["detections"] = detection_figures(detector, expected, got_all)
        gate, figure = thresholds.get("min_map50"), report["detections"]["map50"]
        if gate is not None and (figure is None or figure < gate):
            failures.append(f"detections: mAP@0.5 {'none' if figure is None else f'{figure:.4f}'} < min_map50 {gate} "
                            f"(against the float model's {report['detections']['reference_detections']} detections)")
    return {**report, "passed": not failures, "failures": failures}


def detection_figures(detector: dict[str, Any], expected: list[dict[str, np.ndarray]], got: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """The artifact's detections scored against the float model's on the same samples, both
    decoded with the same decoder and NMS (DepthAI's, :func:`edgeconv.yolo_decode.decode`)."""
    import time

    from edgeconv import detection_metrics, yolo_decode

    started = time.perf_counter()
    meta = detector["head"].get("metadata") or {}
    if detector.get("kind") == "text":  # a text detector's probability map (text_decode)
        from edgeconv import text_decode

        decode, classes = (lambda out: text_decode.decode(out, detector["head"])), 1
        decoder = (f"text regions of the probability map (> {meta.get('mask_threshold', text_decode.MASK_THRESHOLD)}, "
                   f"box score >= {meta.get('conf_threshold', text_decode.CONF_THRESHOLD)})")
    else:
        decode, classes = (lambda out: yolo_decode.decode(out, detector)), len(detector["names"])
        decoder = (f"DepthAI {detector['subtype']}, conf {meta['conf_threshold']}, "
                   f"class-agnostic NMS at IoU {meta['iou_threshold']}")
    figures = detection_metrics.score([decode(want) for want in expected], [decode(out) for out in got], classes)
    return {"decoder": decoder, **figures, "seconds": round(time.perf_counter() - started, 4)}  # not the runs


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
