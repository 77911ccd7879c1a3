"""rvc2 step 1 with OpenVINO 2021.4 (the built-in compiler): the mo-flavor ONNX made into one that
mo 2021.4 reads and the 2021.4 MYRIAD compiler takes, without changing what it computes.

- Layers that toolchain refuses or misreads and that have an exact equivalent are rewritten:
  ``HardSigmoid(x) = Clip(x * alpha + beta, 0, 1)`` (the MYRIAD compiler has no HardSigmoid),
  ``HardSwish(x) = x * Clip(x / 6 + 0.5, 0, 1)`` (the 2021.4 ONNX reader has no HardSwish), both
  the operators' definitions computed with the same operations; and a ``Split`` whose sizes are an
  input (opset 13) as one ``Slice`` per part (mo 2021.4 splits it into equal parts instead); an
  opset-13 ``Softmax``/``LogSoftmax`` over an axis that is not the last as transposes around the op
  on the last axis (mo 2021.4 gives it the opset-1 meaning, softmax over the flattened tail); an
  opset-13 ``Unsqueeze`` (its axes an input) as the ``Reshape`` to its output's shape (mo 2021.4
  reads only the axes attribute of opset 1 to 12, and stops on the second input).
- A model above opset 13 (the newest that release reads) is brought down to 13 where every node
  means the same there: most ops changed only in the types they accept, or gained an attribute
  that keeps the old meaning at its default (checked per node), and the Reduce ops' ``axes`` input
  (opset 18) goes back to an attribute. A node with no exact opset-13 form stops the step, before
  mo or the compiler run, naming the op, the node and the opset.

- Names that mo 2021.4 would read as regular expressions (``[``, ``(``, ``*`` ... in a constant's
  name, as tflite2onnx writes them) are made plain; the model's inputs and outputs keep theirs.

The IR made from this file is verified against the original model like every IR (verify_mo_ir),
which checks the rewrites too.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from edgeconv.errors import ConversionError
from edgeconv.onnx_graph import Graph
from edgeconv.onnx_io import load_onnx, save_onnx
from edgeconv.steps.base import Context, Params, Paths, Step

log = logging.getLogger(__name__)

MAX_OPSET = 13  # what OpenVINO 2021.4's mo and ONNX reader read
MAX_IR_VERSION = 8  # onnx 1.15 in that environment reads up to 9; 8 is what opset 13-15 exporters write


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    found = next((a for a in node.attribute if a.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# Ops whose versions after 13 differ from their opset-13 version only in the types they accept, or
# in an attribute or input that, left at its default, keeps the opset-13 meaning: op -> that check.
_ALWAYS: Callable[[onnx.NodeProto], bool] = lambda node: True
SAME_AT_13: dict[str, Callable[[onnx.NodeProto], bool]] = {
    **{op: _ALWAYS for op in (
        "Add", "Sub", "Mul", "Div", "Relu", "Identity", "CumSum", "Pow", "Where", "LeakyRelu", "PRelu",
        "GreaterOrEqual", "LessOrEqual", "Equal", "Constant", "Size", "If", "Loop", "Scan", "Flatten",
        "Transpose", "Squeeze", "Unsqueeze", "ConstantOfShape", "Less", "Greater", "Not", "And", "Or",
    )},
    "Reshape": lambda n: not _attr(n, "allowzero", 0),
    "BatchNormalization": lambda n: not _attr(n, "training_mode", 0) and len(n.output) == 1,
    "ScatterND": lambda n: _text(_attr(n, "reduction", "none")) == "none",
    "ScatterElements": lambda n: _text(_attr(n, "reduction", "none")) == "none",
    "LSTM": lambda n: not _attr(n, "layout", 0),
    "GRU": lambda n: not _attr(n, "layout", 0),
    "RNN": lambda n: not _attr(n, "layout", 0),
    "Shape": lambda n: not _attr(n, "start", 0) and _attr(n, "end") is None,
    "Pad": lambda n: len([i for i in n.input if i]) <= 3 and _text(_attr(n, "mode", "constant")) != "wrap",
    "Split": lambda n: _attr(n, "num_outputs") is None,
    "Cast": lambda n: _attr(n, "saturate", 1) == 1,
    "Resize": lambda n: not _attr(n, "antialias", 0) and _attr(n, "axes") is None
    and _text(_attr(n, "keep_aspect_ratio_policy", "stretch")) == "stretch"
    and _text(_attr(n, "coordinate_transformation_mode", "half_pixel")) != "half_pixel_symmetric",
}
# Opset 18 moved these ops' axes from an attribute to an input: a constant input goes back.
AXES_AS_INPUT = ("ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                 "ReduceLogSumExp", "ReduceSumSquare")


@dataclass(frozen=True, kw_only=True)
class RewriteParams(Params):
    pass


def _value_info(graph: Graph, tensor: str) -> onnx.ValueInfoProto | None:
    """What shape inference or the graph declares about ``tensor``."""
    return next((v for v in (*graph.g.input, *graph.g.value_info, *graph.g.output) if v.name == tensor), None)


def _float_type(graph: Graph, tensor: str) -> np.dtype:
    """The element type of ``tensor`` (float32 if unknown)."""
    info = _value_info(graph, tensor)
    if info is not None and info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16:
        return np.dtype(np.float16)
    return np.dtype(np.float32)


def _clip01(graph: Graph, x: str, out: str, name: str, dtype: np.dtype) -> list[onnx.NodeProto]:
    if graph.opset >= 11:
        lo = graph.add_const(f"{name}_min", np.array(0, dtype))
        hi = graph.add_const(f"{name}_max", np.array(1, dtype))
        return [helper.make_node("Clip", [x, lo, hi], [out], name=graph.unique(f"{name}_clip"))]
    return [helper.make_node("Clip", [x], [out], name=graph.unique(f"{name}_clip"), min=0.0, max=1.0)]


def _hard_sigmoid(graph: Graph, x: str, out: str, name: str, alpha: float, beta: float) -> list[onnx.NodeProto]:
    """``Clip(x * alpha + beta, 0, 1)``: ONNX's definition of HardSigmoid."""
    dtype = _float_type(graph, x)
    a = graph.add_const(f"{name}_alpha", np.array(alpha, dtype))
    b = graph.add_const(f"{name}_beta", np.array(beta, dtype))
    scaled, shifted = graph.unique(f"{name}_scaled"), graph.unique(f"{name}_shifted")
    return [
        helper.make_node("Mul", [x, a], [scaled], name=graph.unique(f"{name}_mul")),
        helper.make_node("Add", [scaled, b], [shifted], name=graph.unique(f"{name}_add")),
        *_clip01(graph, shifted, out, name, dtype),
    ]


def _split_to_slices(graph: Graph, node: onnx.NodeProto, name: str) -> list[onnx.NodeProto] | None:
    """``Split(x, split=[a, b, ...])`` with its sizes as an input (opset 13) as one ``Slice`` per
    part: mo 2021.4 reads that input wrongly (it splits into equal parts)."""
    sizes = graph.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    if sizes is None or graph.opset < 13:
        return None
    axis = int(_attr(node, "axis", 0))
    axes = graph.add_const(f"{name}_axes", np.array([axis], np.int64))
    slices, start = [], 0
    for i, (out, size) in enumerate(zip(node.output, np.asarray(sizes).reshape(-1).tolist())):
        begin = graph.add_const(f"{name}_start{i}", np.array([start], np.int64))
        end = graph.add_const(f"{name}_end{i}", np.array([start + int(size)], np.int64))
        slices.append(helper.make_node("Slice", [node.input[0], begin, end, axes], [out], name=graph.unique(f"{name}_part{i}")))
        start += int(size)
    return slices


def _rank(graph: Graph, tensor: str) -> int | None:
    info = _value_info(graph, tensor)
    if info is None or not info.type.tensor_type.HasField("shape"):
        return None
    return len(info.type.tensor_type.shape.dim)


def _softmax_on_last_axis(graph: Graph, node: onnx.NodeProto, name: str) -> list[onnx.NodeProto] | None:
    """An opset-13 ``Softmax``/``LogSoftmax`` over one axis that is not the last, as a transpose that
    moves it last, the op on the last axis and the transpose back: mo 2021.4 reads such a node with
    the opset-1 meaning (over every axis from ``axis`` on, flattened), which is another function
    (a YOLOv8 head's DFL softmax comes out wrong). On the last axis both meanings agree."""
    rank = _rank(graph, node.input[0])
    if graph.opset < 13 or rank is None:
        return None
    axis = int(_attr(node, "axis", -1)) % rank
    if axis == rank - 1:
        return None
    perm = [d for d in range(rank) if d != axis] + [axis]
    back = [perm.index(d) for d in range(rank)]
    moved, done = graph.unique(f"{name}_last"), graph.unique(f"{name}_on_last")
    return [
        helper.make_node("Transpose", [node.input[0]], [moved], name=graph.unique(f"{name}_to_last"), perm=perm),
        helper.make_node(node.op_type, [moved], [done], name=graph.unique(f"{name}_op"), axis=rank - 1),
        helper.make_node("Transpose", [done], [node.output[0]], name=graph.unique(f"{name}_back"), perm=back),
    ]


def _static_shape(graph: Graph, tensor: str) -> list[int] | None:
    info = _value_info(graph, tensor)
    if info is None or not info.type.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in info.type.tensor_type.shape.dim]
    return dims if all(d > 0 for d in dims) else None


def _unsqueeze_as_reshape(graph: Graph, node: onnx.NodeProto, name: str) -> list[onnx.NodeProto] | None:
    """An opset-13 ``Unsqueeze(x, axes)`` with constant axes and a static input shape as
    ``Reshape(x, <its output shape>)``: the same values in the same order, one dimension of 1 more
    per axis. mo 2021.4 reads an Unsqueeze's axes from the attribute only (opset 1 to 12)."""
    axes = graph.const(node.input[1]) if graph.opset >= 13 and len(node.input) > 1 and node.input[1] else None
    shape = _static_shape(graph, node.input[0])
    if axes is None or shape is None:
        return None
    rank = len(shape) + np.asarray(axes).size
    ones = {int(a) % rank for a in np.asarray(axes).reshape(-1)}
    rest = iter(shape)
    out = [1 if d in ones else next(rest) for d in range(rank)]
    target = graph.add_const(f"{name}_shape", np.array(out, np.int64))
    return [helper.make_node("Reshape", [node.input[0], target], [node.output[0]], name=graph.unique(f"{name}_reshape"))]


def _rewrite(graph: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    name = node.name or node.output[0]
    if node.op_type == "Unsqueeze":
        return _unsqueeze_as_reshape(graph, node, name)
    if node.op_type in ("Softmax", "LogSoftmax"):
        return _softmax_on_last_axis(graph, node, name)
    if node.op_type == "Split":
        return _split_to_slices(graph, node, name)
    if node.op_type == "HardSigmoid":
        return _hard_sigmoid(graph, node.input[0], node.output[0], name, _attr(node, "alpha", 0.2), _attr(node, "beta", 0.5))
    if node.op_type == "HardSwish":
        gate = graph.unique(f"{name}_gate")
        return [
            *_hard_sigmoid(graph, node.input[0], gate, name, 1 / 6, 0.5),
            helper.make_node("Mul", [node.input[0], gate], [node.output[0]], name=graph.unique(f"{name}_mul")),
        ]
    return None


def rewrite_layers(model: onnx.ModelProto) -> Counter[str]:
    """Replace the layers with exact equivalents in the main graph; returns how many of each type."""
    graph = Graph(model)
    done: Counter[str] = Counter()
    nodes: list[onnx.NodeProto] = []
    for node in graph.g.node:
        replacement = _rewrite(graph, node) if node.domain in ("", "ai.onnx") else None
        if replacement is None:
            nodes.append(node)
        else:
            nodes.extend(replacement)
            done[node.op_type] += 1
    del graph.g.node[:]
    graph.g.node.extend(nodes)
    return done


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in (attr.g, *attr.graphs) if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) else ():
                if sub.node:
                    yield from _all_nodes(sub)


def _axes_to_attribute(graph: Graph, node: onnx.NodeProto, opset: int) -> None:
    if len(node.input) < 2 or not node.input[1]:
        return
    axes = graph.const(node.input[1])
    if axes is None or _attr(node, "noop_with_empty_axes", 0):
        raise ConversionError(
            f"{node.op_type} (node {node.name!r}) reads its axes from a computed tensor (opset {opset}); OpenVINO "
            f"2021.4 reads ONNX up to opset {MAX_OPSET}, where axes are an attribute. Export the model with "
            f"opset {MAX_OPSET} (torch.onnx.export(..., opset_version={MAX_OPSET})), or set rvc2.openvino_version: "
            "'2022.3' and bring OpenVINO 2022.3's compile_tool"
        )
    del node.input[1:]
    node.attribute.append(helper.make_attribute("axes", [int(a) for a in np.asarray(axes).reshape(-1)]))


def bring_down_opset(model: onnx.ModelProto) -> dict[str, Any] | None:
    """Restamp the default domain at opset 13 where every node means the same there (see module
    docstring); None when the model is at 13 or below already."""
    entry = next((o for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if entry is None or entry.version <= MAX_OPSET:
        return None
    opset = entry.version
    graph = Graph(model)
    moved = 0
    for node in list(_all_nodes(model.graph)):
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            since = onnx.defs.get_schema(node.op_type, opset).since_version
        except onnx.defs.SchemaError:
            continue  # an op onnx does not know: mo will name it
        if since <= MAX_OPSET:
            continue  # unchanged since opset 13
        if node.op_type in AXES_AS_INPUT:
            _axes_to_attribute(graph, node, opset)
            moved += 1
            continue
        same = SAME_AT_13.get(node.op_type)
        if same is None or not same(node):
            why = "is new after opset 13" if same is None and not _known_at_13(node.op_type) else "has no exact opset-13 form here"
            raise ConversionError(
                f"{node.op_type} (node {node.name!r}, opset {opset}) {why}; OpenVINO 2021.4 reads ONNX up to "
                f"opset {MAX_OPSET}. Export the model with opset {MAX_OPSET} "
                f"(torch.onnx.export(..., opset_version={MAX_OPSET})), or set rvc2.openvino_version: '2022.3' "
                "and bring OpenVINO 2022.3's compile_tool"
            )
        _drop_newer_attributes(node)
    entry.version = MAX_OPSET
    return {"from": opset, "to": MAX_OPSET, "axes_to_attribute": moved}


def _drop_newer_attributes(node: onnx.NodeProto) -> None:
    """Attributes opset 13 does not know (``allowzero=0``, ``training_mode=0`` ...): checked above
    to hold their defaults, which mean what opset 13 does without them."""
    known = set(onnx.defs.get_schema(node.op_type, MAX_OPSET).attributes)
    keep = [a for a in node.attribute if a.name in known]
    if len(keep) != len(node.attribute):
        del node.attribute[:]
        node.attribute.extend(keep)


def _known_at_13(op: str) -> bool:
    try:
        onnx.defs.get_schema(op, MAX_OPSET)
        return True
    except onnx.defs.SchemaError:
        return False


_REGEX_SPECIAL = re.compile(r"[\[\](){}*+?|^$\\]")


def plain_names(model: onnx.ModelProto) -> int:
    """Names with regular-expression characters (tflite2onnx writes ``..._Vector_int64_[_1_-1__1]``)
    replaced by plain ones: mo 2021.4 matches every node name as a regex against ``--input``, and
    such a name stops it with ``re.error``. Constants, intermediate tensors and node names only: the
    model's inputs and outputs keep theirs. Returns how many names changed."""
    graph = Graph(model)
    keep = {i.name for i in graph.g.input} | {o.name for o in graph.g.output}
    renamed: dict[str, str] = {}
    for name in sorted(graph.names - keep):
        if _REGEX_SPECIAL.search(name):
            renamed[name] = graph.unique(_REGEX_SPECIAL.sub("_", name))
    for init in graph.g.initializer:
        init.name = renamed.get(init.name, init.name)
    changed = len(renamed)
    for node in graph.g.node:
        node.input[:] = [renamed.get(i, i) for i in node.input]
        node.output[:] = [renamed.get(o, o) for o in node.output]
        if _REGEX_SPECIAL.search(node.name):
            node.name = graph.unique(_REGEX_SPECIAL.sub("_", node.name))
            changed += 1
    for info in graph.g.value_info:
        info.name = renamed.get(info.name, info.name)
    return changed


def run(inputs: Paths, outputs: Paths, params: RewriteParams) -> dict[str, Any]:
    model = load_onnx(inputs["onnx"])
    try:  # the element types of the rewritten layers' inputs (float16 models get float16 constants)
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001 - without them float32 is assumed, as for most models
        log.warning("shape inference failed (%s); rewrites use float32 constants", exc)
    rewritten = rewrite_layers(model)  # first: HardSwish is newer than opset 13, its rewrite is not
    opset = bring_down_opset(model)
    renamed = plain_names(model)
    if renamed:
        log.info("renamed %d constant(s), tensor(s) or node(s) whose names mo 2021.4 would read as regexes", renamed)
    if model.ir_version > MAX_IR_VERSION:
        model.ir_version = MAX_IR_VERSION
    for op, count in sorted(rewritten.items()):
        log.info("rewrote %d %s layer(s) with their exact definition for OpenVINO 2021.4", count, op)
    if opset:
        log.info("opset %d -> %d (every node means the same at opset %d)", opset["from"], opset["to"], MAX_OPSET)
    save_onnx(model, outputs["onnx"])
    return {"rewrites": dict(sorted(rewritten.items())), "opset": opset, "renamed": renamed}


def configure(ctx: Context) -> RewriteParams:
    return ctx.make(RewriteParams)


STEP = Step("rewrite_for_myriad", run, RewriteParams, configure, inputs=("onnx",), outputs=("onnx",), target=None,
            doc="rvc2 with OpenVINO 2021.4 only")
