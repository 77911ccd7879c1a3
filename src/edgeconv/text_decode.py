"""Text boxes from a PP-OCR-style text detector's probability map, so that its artifacts are scored
in detections too (:func:`edgeconv.comparison.detection_figures`).

The map is thresholded at the head's ``mask_threshold``; each connected region becomes one
axis-aligned box, kept when the mean probability inside the region reaches ``conf_threshold``
(DB's box score, as rapidocr and depthai-nodes' ``PPTextDetectionParser`` compute it). Their
unclip (growing each box by a ratio) is left out: it moves the float model's and the artifact's boxes
alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.yolo_decode import Detections

PARSER = "PPTextDetectionParser"
MASK_THRESHOLD = 0.25  # depthai-nodes' defaults
CONF_THRESHOLD = 0.5
MAX_DET = 100
MIN_SIDE = 3  # pixels: smaller regions are noise, as rapidocr drops them


def text_boxes(prob: np.ndarray, mask_threshold: float = MASK_THRESHOLD, conf_threshold: float = CONF_THRESHOLD,
               max_det: int = MAX_DET) -> Detections:
    from scipy import ndimage

    m = np.asarray(prob, dtype=np.float32).reshape(np.asarray(prob).shape[-2:])
    regions, _ = ndimage.label(m > mask_threshold)
    boxes, scores = [], []
    for index, found in enumerate(ndimage.find_objects(regions), start=1):
        if found is None:
            continue
        rows, cols = found
        if min(rows.stop - rows.start, cols.stop - cols.start) < MIN_SIDE:
            continue
        score = float(m[found][regions[found] == index].mean())
        if score >= conf_threshold:
            boxes.append([cols.start, rows.start, cols.stop, rows.stop])
            scores.append(score)
    order = np.argsort(-np.array(scores, dtype=np.float64), kind="stable")[:max_det]
    return Detections(np.array(boxes, dtype=np.float64).reshape(-1, 4)[order], np.array(scores)[order],
                      np.zeros(len(order), dtype=int))


def decode(outputs: dict[str, np.ndarray], head: dict[str, Any]) -> Detections:
    """The text boxes of one sample from the outputs, by the head's output name."""
    meta = head.get("metadata") or {}
    name = (head.get("outputs") or [next(iter(outputs))])[0]
    return text_boxes(outputs[name], float(meta.get("mask_threshold", MASK_THRESHOLD)),
                      float(meta.get("conf_threshold", CONF_THRESHOLD)), int(meta.get("max_det", MAX_DET)))
