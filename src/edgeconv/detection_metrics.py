"""An artifact's accuracy in detections: its detections scored against the float model's, taken as
ground truth, on the check samples.

mAP@0.5 and mAP@0.5:0.95 are COCO's, computed by pycocotools (not re-implemented here); matched-box
IoU, class agreement and recall come from a greedy one-to-one match at IoU 0.5. A sample where the
float model finds nothing counts for nothing: no agreement, and a detection the artifact makes there
is a false positive. The report says how many float detections the figures rest on.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from edgeconv.yolo_decode import Detections, iou

# Fewer float-model detections than this and the figures say little: the report warns.
FEW_DETECTIONS = 20


def _coco(samples: list[Detections], n_classes: int, with_scores: bool) -> Any:
    from pycocotools.coco import COCO

    images = [{"id": i + 1} for i in range(len(samples))]
    annotations = []
    for image_id, det in enumerate(samples, start=1):
        for box, score, label in zip(det.boxes, det.scores, det.labels):
            x1, y1, x2, y2 = (float(v) for v in box)
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                   "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            if with_scores:
                ann["score"] = float(score)
            annotations.append(ann)
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_map(reference: list[Detections], candidate: list[Detections], n_classes: int) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) of ``candidate`` against ``reference`` as ground truth: pycocotools'
    COCO evaluation as it stands (all areas, at most 100 detections per image)."""
    from pycocotools.cocoeval import COCOeval

    gt = _coco(reference, n_classes, with_scores=False)
    dt = _coco(candidate, n_classes, with_scores=True)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    map5095, map50 = float(ev.stats[0]), float(ev.stats[1])
    # pycocotools reports -1 where there is nothing to score (no ground truth at all).
    return (max(map50, 0.0), max(map5095, 0.0))


def matches(reference: Detections, candidate: Detections, threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one match, the reference's most confident box first: (ref, cand, IoU)."""
    if not len(reference.boxes) or not len(candidate.boxes):
        return []
    overlaps = iou(reference.boxes, candidate.boxes)
    taken: set[int] = set()
    pairs = []
    for r in np.argsort(-reference.scores, kind="stable"):
        order = [c for c in np.argsort(-overlaps[r], kind="stable") if c not in taken and overlaps[r, c] >= threshold]
        if order:
            taken.add(int(order[0]))
            pairs.append((int(r), int(order[0]), float(overlaps[r, order[0]])))
    return pairs


def score(reference: list[Detections], candidate: list[Detections], n_classes: int) -> dict[str, Any]:
    """The detection figures of one artifact on the check samples."""
    total = sum(len(d.scores) for d in reference)
    figures: dict[str, Any] = {
        "reference_detections": total,
        "artifact_detections": sum(len(d.scores) for d in candidate),
        "samples": len(reference),
        "samples_with_detections": sum(1 for d in reference if len(d.scores)),
    }
    if total == 0:
        figures.update(map50=None, map50_95=None, mean_matched_iou=None, class_agreement=None, recall=None,
                       warning="the float model detects nothing on the check samples: no detection figure; "
                               "check with images that show what the model detects (calibration.path)")
        return figures
    map50, map5095 = coco_map(reference, candidate, n_classes)
    pairs = [(ref, cand, m) for ref, cand in zip(reference, candidate) for m in matches(ref, cand)]
    figures.update(
        map50=map50,
        map50_95=map5095,
        mean_matched_iou=float(np.mean([m[2] for _, _, m in pairs])) if pairs else 0.0,
        class_agreement=float(np.mean([ref.labels[m[0]] == cand.labels[m[1]] for ref, cand, m in pairs])) if pairs else 0.0,
        recall=len(pairs) / total,
    )
    if total < FEW_DETECTIONS:
        figures["warning"] = (f"the figures rest on {total} detection(s) of the float model, too few to mean much; "
                              "verify on more images (verify.max_images) that show what the model detects")
    return figures
