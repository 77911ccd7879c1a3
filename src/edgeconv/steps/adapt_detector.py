"""A recognised YOLO detector, cut before its in-graph decode into the per-stride outputs DepthAI's
YOLO parser reads (:mod:`edgeconv.detectors`), and checked before it is written: on random inputs
the adapted model, decoded as DepthAI decodes it, gives the original's boxes and class scores at
every anchor. The chain of every target starts from this model (``Project.interface_model``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv import detectors, yolo_decode
from edgeconv.errors import ConversionError, VerificationError
from edgeconv.onnx_io import load_onnx, save_onnx
from edgeconv.steps.base import Context, Params, Paths, Step

SAMPLES = 3
FAMILY = {"ultralytics": "an Ultralytics detect export", "anchor": "an anchor-based YOLOv5/YOLOv7 export",
          "yolox": "a YOLOX-layout export"}
BOX_TOLERANCE = 1e-3  # of the input size, in pixels
SCORE_TOLERANCE = 1e-5


def original_candidates(output: np.ndarray, det: detectors.Detector) -> tuple[np.ndarray, np.ndarray]:
    """Every anchor's box (xyxy) and class scores from the original's own output, in the order the
    decode of the cut gives them."""
    rows = np.asarray(output, dtype=np.float32)[0]
    if det.family == "ultralytics":  # [4 + classes, anchors]: xywh in pixels, class scores
        rows = rows.T
        boxes, scores = rows[:, :4], rows[:, 4:]
    elif det.family == "yolox" and not det.decoded:  # the per-stride tensors, flattened
        tensors, start = [], 0
        for lv in det.levels:
            cells = lv.height * lv.width
            tensors.append(rows[start:start + cells].T.reshape(1, -1, lv.height, lv.width))
            start += cells
        return yolo_decode.candidates_r1(tensors, det.strides, det.imgsz)
    else:  # [cells, 5 + classes]: xywh in pixels, objectness, class scores
        boxes, scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
    xyxy = yolo_decode.xywh_to_xyxy(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    return yolo_decode.clip(xyxy, det.imgsz), scores


def check(original: Any, adapted: Any, det: detectors.Detector, samples: int = SAMPLES) -> dict[str, Any]:
    """Run both models (onnxruntime) on the same random inputs in [0, 1] and compare every anchor's
    box and class scores: the original's decode against DepthAI's decode of the cut."""
    import onnxruntime as ort

    def session(model: Any) -> Any:
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    before, after = session(original), session(adapted)
    feeds_spec = [(i.name, det.input_shape or [d if isinstance(d, int) and d > 0 else 1 for d in _dims(i)]) for i in before.get_inputs()]
    rng = np.random.default_rng(0)
    box_err = score_err = 0.0
    for _ in range(samples):
        feeds = {name: rng.uniform(0, 1, shape).astype(np.float32) for name, shape in feeds_spec}
        want_boxes, want_scores = original_candidates(before.run([det.original_output], feeds)[0], det)
        got = dict(zip(det.outputs, after.run(det.outputs, feeds)))
        got_boxes, got_scores = yolo_decode.candidates([got[n] for n in det.outputs], det.head()["metadata"], det.imgsz)
        box_err = max(box_err, float(np.abs(want_boxes - got_boxes).max()))
        score_err = max(score_err, float(np.abs(want_scores - got_scores).max()))
    limit = BOX_TOLERANCE * max(det.imgsz)
    report = {"samples": samples, "max_box_error_px": box_err, "max_score_error": score_err,
              "box_tolerance_px": limit, "score_tolerance": SCORE_TOLERANCE}
    if box_err > limit or score_err > SCORE_TOLERANCE:
        raise VerificationError(
            f"the cut of the detector does not decode to its own output: boxes differ by {box_err:.3g} px "
            f"(tolerance {limit:.3g}), class scores by {score_err:.3g}; set `adapt_detectors: false` in "
            "config/config.yaml and give the head in the model's config (heads:)")
    return report


def _dims(port: Any) -> list[Any]:
    return list(port.shape)


def run(inputs: Paths, outputs: Paths, params: AdaptParams) -> dict[str, Any]:
    model = load_onnx(inputs["model"])
    try:
        det = detectors.recognise(model)
    except detectors.NotAdaptable as exc:
        if params.planned:
            raise ConversionError(f"{inputs['model']}: {exc}") from None
        print(f"note: adapt_detector ({params.model}): a YOLO detect export, passed on as it is with no DepthAI head: {exc}",
              file=sys.stderr, flush=True)
        det = None
    if det is None:
        if params.planned:
            raise ConversionError(f"{inputs['model']}: no longer a detector this tool recognises; run again to re-plan")
        # A model a rule made (a download) that is no detector: the chain reads it as it is.
        save_onnx(model, Path(outputs["onnx"]))
        return {"detector": None}
    adapted = detectors.adapt(model, det)
    report = check(model, adapted, det)
    save_onnx(adapted, Path(outputs["onnx"]))
    print(f"adapt_detector ({params.model}): {FAMILY[det.family]}, {len(det.names)} classes, strides "
          f"{'/'.join(map(str, det.strides))}: cut before its in-graph decode; outputs {', '.join(det.outputs)} "
          f"for DepthAI's YOLO parser (subtype {det.subtype}); decoded, they give the original's boxes within "
          f"{report['max_box_error_px']:.2g} px", file=sys.stderr, flush=True)
    return {"detector": {"family": det.family, "subtype": det.subtype, "classes": len(det.names), "strides": det.strides,
                         "reg_max": det.reg_max, "replaced_output": det.original_output, "outputs": det.outputs,
                         "cut_at": [[lv.box, lv.classes] for lv in det.levels], "head": det.head()},
            "check": report}


@dataclass(frozen=True, kw_only=True)
class AdaptParams(Params):
    # Recognised while Snakemake parsed (the user's own file); otherwise a model a rule made, which
    # is recognised here or passed on as it is.
    planned: bool = True


def configure(ctx: Context) -> AdaptParams:
    return ctx.make(AdaptParams, planned=ctx.unit.detector is not None)


STEP = Step("adapt_detector", run, AdaptParams, configure, inputs=("model",), outputs=("onnx",))
