"""YOLO outputs to detections, as DepthAI decodes them, in NumPy: one decoder per family of the
per-stride outputs an adapted detector gives (:mod:`edgeconv.detectors`), then DepthAI's selection
(best class per cell, confidence threshold, class-agnostic greedy NMS).

- TLBR (subtypes ``yolov8``, ``yolov11``, ``yolov6``): ``[1, 5 + classes, H, W]``: left, top,
  right, bottom in stride units, the best score, the class scores (DepthAI's ``decodeTLBR``).
- v5AB (``yolov5``, ``yolov7``): ``[1, anchors * (5 + classes), H, W]`` after the sigmoid: per
  anchor x, y, w, h, objectness, class scores; ``(2x - 0.5 + col) * stride``, ``(2w)^2 * anchor``
  (DepthAI's ``decodeV5AB``).
- R1AF (``yolov6r1``, which luxonis/tools writes for YOLOX): ``[1, 5 + classes, H, W]``: raw box
  offsets, objectness and class scores after the sigmoid; ``(x + col) * stride``,
  ``exp(w) * stride`` (depthai-nodes' decode of that subtype).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TLBR = ("yolov8", "yolov11", "yolov6", "yolov6r2", "yolov10")
V5AB = ("yolov5", "yolov7")
R1AF = ("yolov6r1",)


@dataclass
class Detections:
    boxes: np.ndarray  # [n, 4] xmin, ymin, xmax, ymax in input pixels
    scores: np.ndarray  # [n]
    labels: np.ndarray  # [n] int


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    return rows, cols


def clip(boxes: np.ndarray, imgsz: tuple[int, int]) -> np.ndarray:
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, imgsz[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, imgsz[0])
    return boxes


def xywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).reshape(-1, 4)


def candidates_tlbr(outputs: list[np.ndarray], strides: list[int], imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's box (xyxy, pixels, clipped to the input) and class scores."""
    boxes, scores = [], []
    for out, s in zip(outputs, strides):
        t = np.asarray(out, dtype=np.float32)[0]
        rows, cols = _grid(*t.shape[1:])
        boxes.append(np.stack([(cols - t[0] + 0.5) * s, (rows - t[1] + 0.5) * s,
                               (cols + t[2] + 0.5) * s, (rows + t[3] + 0.5) * s], -1).reshape(-1, 4))
        scores.append(t[5:].reshape(t.shape[0] - 5, -1).T)
    return clip(np.concatenate(boxes), imgsz), np.concatenate(scores)


def candidates_v5(outputs: list[np.ndarray], strides: list[int], anchors: list[list[list[float]]],
                  imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every anchor's box and objectness x class scores, anchor by anchor within a stride."""
    boxes, scores = [], []
    for out, s, level in zip(outputs, strides, anchors):
        t = np.asarray(out, dtype=np.float32)[0]
        no = t.shape[0] // len(level)
        rows, cols = _grid(*t.shape[1:])
        for a, (aw, ah) in enumerate(level):
            b = t[a * no:(a + 1) * no]
            boxes.append(xywh_to_xyxy((b[0] * 2 - 0.5 + cols) * s, (b[1] * 2 - 0.5 + rows) * s, b[2] ** 2 * 4 * aw, b[3] ** 2 * 4 * ah))
            scores.append((b[5:] * b[4]).reshape(no - 5, -1).T)
    return clip(np.concatenate(boxes), imgsz), np.concatenate(scores)


def candidates_r1(outputs: list[np.ndarray], strides: list[int], imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's box and objectness x class scores (YOLOX's grid decode)."""
    boxes, scores = [], []
    for out, s in zip(outputs, strides):
        t = np.asarray(out, dtype=np.float32)[0]
        rows, cols = _grid(*t.shape[1:])
        boxes.append(xywh_to_xyxy((t[0] + cols) * s, (t[1] + rows) * s, np.exp(t[2]) * s, np.exp(t[3]) * s))
        scores.append((t[5:] * t[4]).reshape(t.shape[0] - 5, -1).T)
    return clip(np.concatenate(boxes), imgsz), np.concatenate(scores)


def candidates(outputs: list[np.ndarray], head: dict[str, Any], imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of per-stride outputs, by the head's subtype."""
    subtype = head["subtype"]
    if subtype in V5AB:
        return candidates_v5(outputs, head["strides"], head["anchors"], imgsz)
    if subtype in R1AF:
        return candidates_r1(outputs, head["strides"], imgsz)
    if subtype in TLBR:
        return candidates_tlbr(outputs, head["strides"], imgsz)
    raise ValueError(f"no decoder for YOLO subtype {subtype!r}")


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: [len(a), len(b)]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def select(boxes: np.ndarray, scores: np.ndarray, conf: float, iou_thr: float, max_det: int) -> Detections:
    """DepthAI's selection: best class per cell, confidence threshold, class-agnostic greedy NMS
    by descending score, at most ``max_det``."""
    labels = scores.argmax(1)
    best = scores[np.arange(len(scores)), labels]
    valid = (best >= conf) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, best, labels = boxes[valid], best[valid], labels[valid]
    order = np.argsort(-best, kind="stable")
    boxes, best, labels = boxes[order], best[order], labels[order]
    keep = np.ones(len(boxes), dtype=bool)
    overlaps = iou(boxes, boxes) if len(boxes) else np.zeros((0, 0))
    for i in range(len(boxes)):
        if keep[i]:
            keep[i + 1 :] &= overlaps[i, i + 1 :] < iou_thr
    idx = np.flatnonzero(keep)[:max_det]
    return Detections(boxes[idx], best[idx], labels[idx].astype(int))


def decode(outputs: dict[str, np.ndarray], info: dict[str, Any], conf: float | None = None) -> Detections:
    """Detections of one sample from an adapted model's (or its artifact's) outputs, by name;
    ``info``: the detector an adapted model carries (:func:`edgeconv.detectors.from_metadata`)."""
    head = info["head"]["metadata"]
    boxes, scores = candidates([outputs[name] for name in head["yolo_outputs"]], head, tuple(info["imgsz"]))
    return select(boxes, scores, head["conf_threshold"] if conf is None else conf, head["iou_threshold"], head["max_det"])
