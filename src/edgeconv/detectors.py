"""YOLO detectors: recognised from the model itself, adapted to the outputs DepthAI's parser reads,
and decoded the way DepthAI decodes them.

An Ultralytics detect export (YOLOv5u, YOLOv6, YOLOv8, YOLO11 ...; metadata ``task: detect``,
``stride``, ``imgsz``, ``names``) ends in an in-graph decode: one ``[1, 4 + classes, anchors]``
tensor of boxes in pixels and class probabilities. DepthAI v3's ``DetectionParser`` (family TLBR,
subtypes ``yolov8``/``yolov11``) reads instead one ``[1, 5 + classes, H, W]`` tensor per stride:
left/top/right/bottom distances in stride units, the best class score, then the class scores, in
outputs whose names contain ``yolo`` (sorted by name, paired with the strides in order). So
:func:`adapt` cuts the graph before the decode, at the per-stride box-distribution and class tensors,
and appends what luxonis/tools writes in PyTorch: the DFL (softmax expectation), the sigmoid, the
best score. :func:`decode` is DepthAI's TLBR decode and NMS in NumPy, used to check the adaptation
(the adapted model, decoded, gives the original's boxes) and to score an artifact in detections
(:mod:`edgeconv.detection_metrics`).
"""

from __future__ import annotations

import ast
import json
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Model metadata key the adapted model carries its head and cut under (read by the NN Archive step
# and by verify).
METADATA_KEY = "edgeconv.detector"
CONF_THRESHOLD = 0.25  # Ultralytics' predict default; DepthAI's parser reads it from the head
IOU_THRESHOLD = 0.45
MAX_DET = 300


class NotAdaptable(Exception):
    """A model that looks like a detector but whose graph is not one this module can cut."""


@dataclass
class Level:
    stride: int
    height: int
    width: int
    box: str  # [1, 4 * reg_max, H, W] tensor (or the combined box+class tensor, see ``combined``)
    classes: str | None  # [1, classes, H, W]; None when ``box`` holds both
    combined: bool = False


@dataclass
class Detector:
    family: str  # "ultralytics"
    subtype: str  # DepthAI's subtype: yolov8, yolov11
    names: list[str]
    imgsz: tuple[int, int]
    reg_max: int
    original_output: str
    levels: list[Level] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return [f"output{i + 1}_{self.subtype}" for i in range(len(self.levels))]

    @property
    def strides(self) -> list[int]:
        return [lv.stride for lv in self.levels]

    def head(self) -> dict[str, Any]:
        """The NN Archive head (config_version 1.0) DepthAI v3's DetectionParser reads."""
        return {
            "parser": "YOLO",
            "metadata": {
                "subtype": self.subtype,
                "n_classes": len(self.names),
                "classes": list(self.names),
                "iou_threshold": IOU_THRESHOLD,
                "conf_threshold": CONF_THRESHOLD,
                "max_det": MAX_DET,
                "anchors": None,
                "yolo_outputs": self.outputs,
                "strides": self.strides,
            },
            "outputs": self.outputs,
        }

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "head": self.head()})


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _literal(value: str | None) -> Any:
    try:
        return ast.literal_eval(value) if value else None
    except (ValueError, SyntaxError):
        return None


def _static(vi: onnx.ValueInfoProto) -> list[int] | None:
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim]
    return dims if dims and all(d > 0 for d in dims) else None


def looks_like_detector(meta: dict[str, str]) -> bool:
    """Cheap first test on the metadata alone (read at parse time for every model)."""
    return meta.get("task") == "detect" and "names" in meta


def recognise(model: onnx.ModelProto) -> Detector | None:
    """The detector a model is, or None when it is not a detector this module knows. Raises
    :class:`NotAdaptable` for an Ultralytics detect export whose graph cannot be cut (its message
    says why)."""
    meta = metadata(model)
    if not looks_like_detector(meta):
        return None
    if meta.get("end2end") == "True":
        raise NotAdaptable("an end-to-end (NMS-free) export: its output is final boxes, which DepthAI's YOLO parser does not read")
    names_raw = _literal(meta.get("names"))
    names = [str(names_raw[k]) for k in sorted(names_raw)] if isinstance(names_raw, dict) else [str(n) for n in names_raw or []]
    if len(model.graph.output) != 1:
        raise NotAdaptable(f"{len(model.graph.output)} outputs; an Ultralytics detect export has one")
    out = model.graph.output[0]
    shape = _static(out)
    if shape is None or len(shape) != 3 or shape[0] != 1 or shape[1] != 4 + len(names):
        raise NotAdaptable(f"output {out.name} has shape {shape}, not [1, 4 + {len(names)} classes, anchors]; export with a fixed input size")
    imgsz = _literal(meta.get("imgsz"))
    if not (isinstance(imgsz, (list, tuple)) and len(imgsz) == 2):
        inp = _static(model.graph.input[0])
        imgsz = inp[2:4] if inp and len(inp) == 4 else None
    if imgsz is None:
        raise NotAdaptable("no `imgsz` in the metadata and no fixed input size")
    version = meta.get("description", "")
    subtype = "yolov11" if "YOLO11" in version else "yolov8"
    det = Detector("ultralytics", subtype, names, (int(imgsz[0]), int(imgsz[1])), 0, out.name)
    det.levels, det.reg_max = _find_levels(model, out.name, len(names), shape[2], det.imgsz)
    return det


def _find_levels(model: onnx.ModelProto, output: str, nc: int, anchors: int, imgsz: tuple[int, int]) -> tuple[list[Level], int]:
    """The per-stride head tensors the decode starts from: the 4-D inputs of the Reshapes that
    flatten each stride's grid, among the output's ancestors."""
    graph = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = {vi.name: _static(vi) for vi in [*graph.value_info, *graph.input, *graph.output]}
    producer = {o: n for n in graph.node for o in n.output}
    seen: set[str] = set()
    queue = deque([output])
    grids: dict[tuple[int, int], list[tuple[str, int]]] = {}
    while queue:
        name = queue.popleft()
        node = producer.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type == "Reshape":
            src, dst = shapes.get(node.input[0]), shapes.get(node.output[0])
            if src and dst and len(src) == 4 and len(dst) == 3 and dst[2] == src[2] * src[3] and src[1] == dst[1]:
                grids.setdefault((src[2], src[3]), []).append((node.input[0], src[1]))
                continue
        queue.extend(i for i in node.input if i)
    if sum(h * w for h, w in grids) != anchors:
        raise NotAdaptable(f"found grids {sorted(grids)} whose cells do not add up to the output's {anchors} anchors")
    levels, reg_max = [], 0
    for (h, w), tensors in sorted(grids.items(), key=lambda kv: -kv[0][0]):
        if imgsz[0] % h or imgsz[1] % w or imgsz[0] // h != imgsz[1] // w:
            raise NotAdaptable(f"grid {h}x{w} is no whole stride of the {imgsz[0]}x{imgsz[1]} input")
        stride = imgsz[0] // h
        cls = [t for t, c in tensors if c == nc]
        box = [t for t, c in tensors if c != nc and (c - (nc if len(tensors) == 1 else 0)) % 4 == 0]
        if len(tensors) == 2 and cls and box:
            levels.append(Level(stride, h, w, box[0], cls[0]))
            channels = dict(tensors)[box[0]] // 4
        elif len(tensors) == 1 and (tensors[0][1] - nc) % 4 == 0 and tensors[0][1] > nc:
            levels.append(Level(stride, h, w, tensors[0][0], None, combined=True))
            channels = (tensors[0][1] - nc) // 4
        else:
            raise NotAdaptable(f"stride {stride}: head tensors {tensors} are not a box distribution and {nc} class scores")
        if reg_max and channels != reg_max:
            raise NotAdaptable(f"the box distributions have {reg_max} and {channels} bins")
        reg_max = channels
    return levels, reg_max


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


def adapt(model: onnx.ModelProto, det: Detector) -> onnx.ModelProto:
    """A copy of ``model`` that ends in DepthAI's per-stride TLBR outputs instead of the in-graph
    decode (which is dropped), with the detector and its head in the metadata."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    opset = _opset(out)
    nc, r = len(det.names), det.reg_max
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = [numpy_helper.from_array(np.arange(r, dtype=np.float32).reshape(1, r, 1, 1), "edgeconv_dfl_bins")]
    if opset >= 13:
        inits.append(numpy_helper.from_array(np.array([4 * r, nc], dtype=np.int64), "edgeconv_split_sizes"))
    for i, (lv, name) in enumerate(zip(det.levels, det.outputs)):
        p = f"edgeconv_level{i}"
        box, cls = lv.box, lv.classes
        if lv.combined:
            box, cls = f"{p}_box", f"{p}_cls"
            if opset >= 13:
                nodes.append(helper.make_node("Split", [lv.box, "edgeconv_split_sizes"], [box, cls], axis=1))
            else:
                nodes.append(helper.make_node("Split", [lv.box], [box, cls], axis=1, split=[4 * r, nc]))
        hw = lv.height * lv.width
        inits += [
            numpy_helper.from_array(np.array([1, 4, r, hw], dtype=np.int64), f"{p}_dist_shape"),
            numpy_helper.from_array(np.array([1, 4, lv.height, lv.width], dtype=np.int64), f"{p}_ltrb_shape"),
        ]
        nodes += [
            helper.make_node("Reshape", [box, f"{p}_dist_shape"], [f"{p}_dist"]),
            helper.make_node("Transpose", [f"{p}_dist"], [f"{p}_dist_t"], perm=[0, 2, 1, 3]),
            helper.make_node("Softmax", [f"{p}_dist_t"], [f"{p}_prob"], axis=1),
            helper.make_node("Conv", [f"{p}_prob", "edgeconv_dfl_bins"], [f"{p}_expect"]),
            helper.make_node("Reshape", [f"{p}_expect", f"{p}_ltrb_shape"], [f"{p}_ltrb"]),
            helper.make_node("Sigmoid", [cls], [f"{p}_scores"]),
        ]
        if opset >= 18:
            inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), f"{p}_axes"))
            nodes.append(helper.make_node("ReduceMax", [f"{p}_scores", f"{p}_axes"], [f"{p}_best"], keepdims=1))
        else:
            nodes.append(helper.make_node("ReduceMax", [f"{p}_scores"], [f"{p}_best"], axes=[1], keepdims=1))
        nodes.append(helper.make_node("Concat", [f"{p}_ltrb", f"{p}_best", f"{p}_scores"], [name], axis=1))
    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    for lv, name in zip(det.levels, det.outputs):
        g.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 5 + nc, lv.height, lv.width]))
    _prune(out)
    del out.metadata_props[:]
    for key, value in {**metadata(model), METADATA_KEY: det.to_json()}.items():
        out.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    return out


def _prune(model: onnx.ModelProto) -> None:
    """Drop the nodes, initializers and value infos no graph output needs (the old decode)."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    needed: set[str] = set()
    keep: set[int] = set()
    stack = [o.name for o in g.output]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        node = producer.get(name)
        if node is not None and id(node) not in keep:
            keep.add(id(node))
            stack.extend(i for i in node.input if i)
            for attr in node.attribute:  # subgraphs (If/Loop) read outer names too
                for sub in [attr.g, *attr.graphs] if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) else []:
                    stack.extend(i for n in sub.node for i in n.input if i)
    kept = [n for n in g.node if id(n) in keep]
    del g.node[:]
    g.node.extend(kept)
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    infos = [v for v in g.value_info if v.name in needed]
    del g.value_info[:]
    g.value_info.extend(infos)


def from_metadata(model_or_meta: onnx.ModelProto | dict[str, str]) -> dict[str, Any] | None:
    """The detector an adapted model carries (``head``, ``strides``, ``names`` ...), or None."""
    meta = metadata(model_or_meta) if isinstance(model_or_meta, onnx.ModelProto) else model_or_meta
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else None


# --- decoding, as DepthAI's DetectionParser decodes (TLBR family) -------------------------------


@dataclass
class Detections:
    boxes: np.ndarray  # [n, 4] xmin, ymin, xmax, ymax in input pixels
    scores: np.ndarray  # [n]
    labels: np.ndarray  # [n] int


def candidates_tlbr(outputs: list[np.ndarray], strides: list[int], imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's box (xyxy, pixels, clipped to the input) and class scores, from per-stride
    ``[1, 5 + classes, H, W]`` outputs (ordered as ``strides``)."""
    boxes, scores = [], []
    for out, s in zip(outputs, strides):
        t = np.asarray(out, dtype=np.float32)[0]
        _, h, w = t.shape
        rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        x1 = (cols - t[0] + 0.5) * s
        y1 = (rows - t[1] + 0.5) * s
        x2 = (cols + t[2] + 0.5) * s
        y2 = (rows + t[3] + 0.5) * s
        b = np.stack([x1, y1, x2, y2], -1).reshape(-1, 4)
        boxes.append(b)
        scores.append(t[5:].reshape(t.shape[0] - 5, -1).T)
    b = np.concatenate(boxes)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, imgsz[1])
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, imgsz[0])
    return b, np.concatenate(scores)


def candidates_ultralytics(output: np.ndarray, imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The same from an Ultralytics export's own ``[1, 4 + classes, anchors]`` output (xywh)."""
    t = np.asarray(output, dtype=np.float32)[0].T
    cx, cy, w, h = t[:, 0], t[:, 1], t[:, 2], t[:, 3]
    b = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, imgsz[1])
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, imgsz[0])
    return b, t[:, 4:]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: [len(a), len(b)]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def select(boxes: np.ndarray, scores: np.ndarray, conf: float = CONF_THRESHOLD, iou_thr: float = IOU_THRESHOLD, max_det: int = MAX_DET) -> Detections:
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
    """Detections of one sample from an adapted model's (or its artifact's) outputs, by name."""
    head = info["head"]["metadata"]
    tensors = [outputs[name] for name in head["yolo_outputs"]]
    boxes, scores = candidates_tlbr(tensors, head["strides"], tuple(info["imgsz"]))
    return select(boxes, scores, head["conf_threshold"] if conf is None else conf, head["iou_threshold"], head["max_det"])


def plan(model_path: Any, meta: dict[str, str]) -> Detector | None:
    """At parse time: the detector a model file is, when its metadata says it may be one (no other
    model's graph is read). A detect export this module cannot cut is left alone, with a note."""
    if not looks_like_detector(meta):
        return None
    import sys

    from edgeconv.onnx_io import load_onnx

    try:
        return recognise(load_onnx(model_path, load_external_data=False))
    except NotAdaptable as exc:
        print(f"note: {model_path} is a YOLO detect export but is converted as it is, with no DepthAI head: {exc}; "
              "give the head in the model's config (heads:) to have one", file=sys.stderr)
        return None


def adapted_info(info: Any, det: Detector, path: str) -> Any:
    """The ModelInfo of the adapted model, known before it is made."""
    from edgeconv.model_info import ModelInfo, TensorInfo

    outputs = [TensorInfo(name, [1, 5 + len(det.names), lv.height, lv.width], "float32") for name, lv in zip(det.outputs, det.levels)]
    return ModelInfo(path=path, inputs=info.inputs, outputs=outputs, tensor_names=info.tensor_names | set(det.outputs),
                     metadata={**info.metadata, METADATA_KEY: det.to_json()})


def detector_defaults(stage: Any) -> dict[str, Any]:
    """Stage keys a config leaves unset that an Ultralytics export implies: it takes RGB in [0, 1]
    (the camera's 0-255 divided by 255), so ``scale_values: [255, 255, 255]`` unless a scale is
    given for the stage or an input."""
    if stage.scale_values is not None or stage.mean_values is not None:
        return {}
    if any(i.scale_values is not None or i.mean_values is not None for i in stage.inputs):
        return {}
    return {"scale_values": [255.0, 255.0, 255.0]}
