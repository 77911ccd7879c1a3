"""YOLO detectors: recognised from the model itself, and adapted to the outputs DepthAI's YOLO
parser reads (decoded as DepthAI decodes them by :mod:`edgeconv.yolo_decode`).

DepthAI v3's ``DetectionParser`` reads one tensor per stride, from outputs whose names contain
``yolo`` (sorted by name, paired with the strides in order). Exports end otherwise, in an in-graph
decode into one ``[1, anchors, ...]`` tensor. :func:`recognise` finds, from the metadata and the
graph, the per-stride tensors the decode starts from, and :func:`adapt` cuts the graph there and
appends what luxonis/tools writes in PyTorch for that family:

- ``ultralytics`` (metadata ``task: detect``; YOLOv5u, YOLOv6, YOLOv8, YOLO11 ...): the per-stride
  box distribution and class logits, then the DFL expectation, the sigmoid and the best score:
  subtype ``yolov8``/``yolov11`` (TLBR);
- ``anchor`` (the original YOLOv5, YOLOv7: ``[1, 3 x cells, 5 + classes]``, 5-D per-stride
  reshapes): the per-stride convolution, then the sigmoid; anchors read from the decode's
  constants: subtype ``yolov5``;
- ``yolox`` (``[1, cells, 5 + classes]`` whose per-stride tensors concatenate box, sigmoid
  objectness and sigmoid classes): those tensors as they are: subtype ``yolov6r1``, as luxonis/tools
  writes YOLOX.
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
    # ultralytics: the [1, 4 * reg_max, H, W] box distribution (or box and classes in one tensor,
    # ``combined``); anchor: the [1, anchors * (5 + classes), H, W] convolution; yolox: the
    # [1, 5 + classes, H, W] concatenation.
    box: str
    classes: str | None = None  # ultralytics: the [1, classes, H, W] logits
    combined: bool = False
    anchors: list[list[float]] | None = None  # anchor: (w, h) in pixels, per anchor


@dataclass
class Detector:
    family: str  # ultralytics, anchor, yolox
    subtype: str  # DepthAI's subtype: yolov8, yolov11, yolov5, yolov6r1
    names: list[str]
    imgsz: tuple[int, int]
    reg_max: int
    original_output: str
    levels: list[Level] = field(default_factory=list)
    # Whether the original's output is decoded (pixels) or the per-stride tensors as they are.
    decoded: bool = True
    # A dynamic export's input, fixed at the size it was trained at (metadata ``imgsz``).
    input_shape: list[int] | None = None

    @property
    def outputs(self) -> list[str]:
        return [f"output{i + 1}_{self.subtype}" for i in range(len(self.levels))]

    @property
    def strides(self) -> list[int]:
        return [lv.stride for lv in self.levels]

    def output_shape(self, lv: Level) -> list[int]:
        per_cell = 5 + len(self.names)
        return [1, per_cell * (len(lv.anchors) if lv.anchors else 1), lv.height, lv.width]

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
                "anchors": [lv.anchors for lv in self.levels] if self.family == "anchor" else None,
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


def looks_like_detector(meta: dict[str, str], info: Any = None) -> bool:
    """Cheap first test on what parsing reads anyway (the metadata, the inputs' and outputs' shapes):
    an Ultralytics detect export, or one image input and one ``[1, cells, 5 + classes]`` output
    whose cell count a YOLO over strides 8, 16, 32 (and 64) gives, with 1 or 3 anchors."""
    if meta.get("task") == "detect" and "names" in meta:
        return True
    if info is None or len(info.inputs) != 1 or len(info.outputs) != 1:
        return False
    shape_in, shape_out = info.inputs[0].shape, info.outputs[0].shape
    if len(shape_in) != 4 or len(shape_out) != 3 or not all(isinstance(d, int) for d in [*shape_in, *shape_out]):
        return False
    h, w = shape_in[2:]
    cells = [sum((h // s) * (w // s) for s in strides) for strides in ((8, 16, 32), (8, 16, 32, 64))]
    return shape_out[2] > 5 and any(shape_out[1] in (c, 3 * c) for c in cells)


def recognise(model: onnx.ModelProto) -> Detector | None:
    """The detector a model is, or None when it is not a detector this module knows. Raises
    :class:`NotAdaptable` for a detect export whose graph cannot be cut (its message says why)."""
    meta = metadata(model)
    if meta.get("task") == "detect" and "names" in meta:
        return _ultralytics(model, meta)
    if len(model.graph.output) != 1 or len(model.graph.input) - len(model.graph.initializer) > 1:
        return None
    shape = _static(model.graph.output[0])
    inp = _static(next(i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}))
    if shape is None or inp is None or len(shape) != 3 or len(inp) != 4 or shape[2] <= 5:
        return None
    return _anchor(model, meta, shape, inp) or _yolox(model, meta, shape, inp)


def _metadata_names(meta: dict[str, str]) -> list[str]:
    """The class names an export's metadata gives (``{0: 'person', ...}`` or a list), in order."""
    raw = _literal(meta.get("names"))
    return [str(raw[k]) for k in sorted(raw)] if isinstance(raw, dict) else [str(n) for n in raw or []]


def _names(meta: dict[str, str], count: int) -> list[str]:
    names = _metadata_names(meta)
    return names if len(names) == count else [f"class_{i}" for i in range(count)]


def _ultralytics(model: onnx.ModelProto, meta: dict[str, str]) -> Detector:
    if meta.get("end2end") == "True":
        raise NotAdaptable("an end-to-end (NMS-free) export: its output is final boxes, which DepthAI's YOLO parser does not read")
    names = _metadata_names(meta)
    if len(model.graph.output) != 1 or len(model.graph.input) != 1:
        raise NotAdaptable(f"{len(model.graph.input)} inputs and {len(model.graph.output)} outputs; an Ultralytics detect export has one of each")
    imgsz = _literal(meta.get("imgsz"))
    if not (isinstance(imgsz, (list, tuple)) and len(imgsz) == 2):
        inp = _static(model.graph.input[0])
        imgsz = inp[2:4] if inp and len(inp) == 4 else None
    if imgsz is None:
        raise NotAdaptable("no `imgsz` in the metadata and no fixed input size")
    fixed = None
    if _static(model.graph.input[0]) is None:  # a dynamic export: fixed at the size it was trained at
        fixed = [1, 3, int(imgsz[0]), int(imgsz[1])]
        model = with_input_shape(model, fixed)
    out = model.graph.output[0]
    shape = _static(onnx.shape_inference.infer_shapes(model, data_prop=True).graph.output[0]) if fixed else _static(out)
    if shape is None or len(shape) != 3 or shape[0] != 1 or shape[1] != 4 + len(names):
        raise NotAdaptable(f"output {out.name} has shape {shape}, not [1, 4 + {len(names)} classes, anchors]")
    subtype = "yolov11" if "YOLO11" in meta.get("description", "") else "yolov8"
    det = Detector("ultralytics", subtype, names, (int(imgsz[0]), int(imgsz[1])), 0, out.name, input_shape=fixed)
    det.levels, det.reg_max = _find_levels(model, out.name, len(names), shape[2], det.imgsz)
    return det


def with_input_shape(model: onnx.ModelProto, shape: list[int]) -> onnx.ModelProto:
    """A copy with the (one) input fixed to ``shape`` and every other shape left to inference."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    del dims[:]
    for d in shape:
        dims.add().dim_value = d
    del fixed.graph.value_info[:]
    for out in fixed.graph.output:
        out.type.tensor_type.ClearField("shape")
    return fixed


def _graph(model: onnx.ModelProto) -> tuple[onnx.GraphProto, dict[str, list[int] | None], dict[str, onnx.NodeProto]]:
    graph = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = {vi.name: _static(vi) for vi in [*graph.value_info, *graph.input, *graph.output]}
    return graph, shapes, {o: n for n in graph.node for o in n.output}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: t for t in graph.initializer}
    values.update({n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR})
    return {k: numpy_helper.to_array(v) for k, v in values.items() if len(v.dims) == 5}


def _anchor(model: onnx.ModelProto, meta: dict[str, str], shape: list[int], inp: list[int]) -> Detector | None:
    """The original YOLOv5/YOLOv7 export: per stride, Conv [1, na * no, H, W] -> Reshape
    [1, na, no, H, W] -> ... a decode with the anchors' constant [1, na, H, W, 2] (or [1, na, 1, 1, 2])."""
    graph, shapes, _ = _graph(model)
    no = shape[2]
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    constants = _constants(graph)
    levels = []
    for node in graph.node:
        src, dst = shapes.get(node.input[0]) if node.input else None, shapes.get(node.output[0])
        if node.op_type != "Reshape" or not src or not dst or len(src) != 4 or len(dst) != 5 or dst[2] != no:
            continue
        na, h, w = dst[1], src[2], src[3]
        if src[1] != na * no or inp[2] % h or inp[2] // h != inp[3] // w:
            continue
        anchors = _anchors_after(node.output[0], consumers, constants, na, h, w)
        if anchors is None:
            raise NotAdaptable(f"stride {inp[2] // h}: no anchor constant found in the decode of {node.input[0]}")
        levels.append(Level(inp[2] // h, h, w, node.input[0], anchors=anchors))
    if not levels:
        return None
    levels.sort(key=lambda lv: lv.stride)
    if sum(len(lv.anchors) * lv.height * lv.width for lv in levels) != shape[1]:
        raise NotAdaptable(f"the per-stride outputs found ({[lv.box for lv in levels]}) do not add up to the output's {shape[1]} rows")
    subtype = "yolov7" if "yolov7" in meta.get("description", "").lower() else "yolov5"
    return Detector("anchor", subtype, _names(meta, no - 5), (inp[2], inp[3]), 0, model.graph.output[0].name, levels)


def _anchors_after(start: str, consumers: dict[str, list[onnx.NodeProto]], constants: dict[str, np.ndarray],
                   na: int, h: int, w: int) -> list[list[float]] | None:
    """The anchors (pixels) of one stride: the 5-D constant the decode multiplies by that is the
    same in every cell and positive (the cell-grid constant varies from cell to cell)."""
    seen, queue = set(), deque([start])
    while queue:
        for node in consumers.get(queue.popleft(), []):
            if id(node) in seen or node.op_type == "Concat" and len(node.input) > 3:
                continue
            seen.add(id(node))
            for name in node.input:
                value = constants.get(name)
                if value is not None and value.shape in ((1, na, h, w, 2), (1, na, 1, 1, 2)) and node.op_type == "Mul":
                    per_anchor = value.reshape(na, -1, 2)
                    if (per_anchor > 0).all() and np.allclose(per_anchor, per_anchor[:, :1]):
                        return per_anchor[:, 0].astype(float).round(4).tolist()
            queue.extend(node.output)
    return None


def _yolox(model: onnx.ModelProto, meta: dict[str, str], shape: list[int], inp: list[int]) -> Detector | None:
    """YOLOX's export: per stride, Concat(box [4], Sigmoid(objectness) [1], Sigmoid(classes)) as
    [1, 5 + classes, H, W]; flattened and concatenated into [1, cells, 5 + classes] (raw boxes), or
    decoded in the graph first (``decode_in_inference``)."""
    graph, shapes, producer = _graph(model)
    no = shape[2]
    levels = []
    for node in graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if node.op_type != "Concat" or len(node.input) != 3 or not out or len(out) != 4 or out[1] != no:
            continue
        parts = [shapes.get(i) for i in node.input]
        if [p[1] if p else None for p in parts] != [4, 1, no - 5]:
            continue
        if not all(producer.get(i) is not None and producer[i].op_type == "Sigmoid" for i in node.input[1:]):
            continue
        h, w = out[2], out[3]
        if inp[2] % h or inp[2] // h != inp[3] // w:
            continue
        levels.append(Level(inp[2] // h, h, w, node.output[0]))
    if not levels or sum(lv.height * lv.width for lv in levels) != shape[1]:
        return None
    levels.sort(key=lambda lv: lv.stride)
    det = Detector("yolox", "yolov6r1", _names(meta, no - 5), (inp[2], inp[3]), 0, model.graph.output[0].name, levels)
    # Decoded in the graph (``decode_in_inference``) when an Exp follows the per-stride tensors.
    det.decoded = any(n.op_type == "Exp" for n in _downstream(graph, {lv.box for lv in levels}))
    return det


def _downstream(graph: onnx.GraphProto, sources: set[str]) -> list[onnx.NodeProto]:
    """The nodes that read, directly or not, any of the tensors ``sources`` (one walk)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    found, seen, stack = [], set(), list(sources)
    while stack:
        for node in consumers.get(stack.pop(), []):
            if id(node) not in seen:
                seen.add(id(node))
                found.append(node)
                stack.extend(node.output)
    return found


def _find_levels(model: onnx.ModelProto, output: str, nc: int, anchors: int, imgsz: tuple[int, int]) -> tuple[list[Level], int]:
    """The per-stride head tensors the decode starts from: the 4-D inputs of the Reshapes that
    flatten each stride's grid, among the output's ancestors."""
    _, shapes, producer = _graph(model)
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
    """A copy of ``model`` that ends in the per-stride outputs DepthAI reads instead of the in-graph
    decode (which is dropped), with the detector and its head in the metadata."""
    out = onnx.ModelProto()
    out.CopyFrom(with_input_shape(model, det.input_shape) if det.input_shape else model)
    g = out.graph
    if det.family == "ultralytics":
        nodes, inits = _tlbr_nodes(det, _opset(out))
    else:  # the per-stride tensor itself (yolox), or after the sigmoid the decode began with (anchor)
        op = "Sigmoid" if det.family == "anchor" else "Identity"
        nodes, inits = [helper.make_node(op, [lv.box], [name]) for lv, name in zip(det.levels, det.outputs)], []
    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    for lv, name in zip(det.levels, det.outputs):
        g.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, det.output_shape(lv)))
    _prune(out)
    del out.metadata_props[:]
    for key, value in {**metadata(model), METADATA_KEY: det.to_json()}.items():
        out.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    return out


def _tlbr_nodes(det: Detector, opset: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """What luxonis/tools appends to an Ultralytics head: per stride, the DFL expectation of the box
    distribution, the sigmoid of the class logits and their best score, concatenated."""
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
    return nodes, inits


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


def plan(model_path: Any, info: Any) -> Detector | None:
    """At parse time: the detector a model file is, when its metadata or its interface says it may
    be one (no other model's graph is read). A detect export this module cannot cut is left alone,
    with a note."""
    if not looks_like_detector(info.metadata, info):
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

    outputs = [TensorInfo(name, det.output_shape(lv), "float32") for name, lv in zip(det.outputs, det.levels)]
    if det.input_shape:  # a dynamic export, fixed
        info = ModelInfo(path=info.path, inputs=[TensorInfo(info.inputs[0].name, list(det.input_shape), info.inputs[0].data_type)],
                         outputs=info.outputs, tensor_names=info.tensor_names, metadata=info.metadata)
    return ModelInfo(path=path, inputs=info.inputs, outputs=outputs, tensor_names=info.tensor_names | set(det.outputs),
                     metadata={**info.metadata, METADATA_KEY: det.to_json()})


def detector_defaults(stage: Any, det: Detector) -> dict[str, Any]:
    """Stage keys a config leaves unset that the export implies: Ultralytics and YOLOv5 models take
    RGB in [0, 1] (the camera's 0-255 divided by 255), so ``scale_values: [255, 255, 255]`` unless
    a mean or scale is given for the stage or an input. (YOLOX takes 0-255 as it is.)"""
    if det.family == "yolox" or stage.scale_values is not None or stage.mean_values is not None:
        return {}
    if any(i.scale_values is not None or i.mean_values is not None for i in stage.inputs):
        return {}
    return {"scale_values": [255.0, 255.0, 255.0]}
