"""Small helpers for editing ONNX graphs in place: constants, consumers, unique names, cutting
the graph at chosen outputs, fixing input shapes."""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgeconv.errors import ConversionError
from edgeconv.onnx_io import tensor_array


class Graph:
    """A view over ``model.graph`` that knows constants and consumers."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.g = model.graph
        self._counter = itertools.count()
        self.refresh()

    def refresh(self) -> None:
        self.inits = {i.name: i for i in self.g.initializer}
        self.const_nodes = {
            n.output[0]: n for n in self.g.node if n.op_type == "Constant" and any(a.name == "value" for a in n.attribute)
        }
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        self.producer: dict[str, onnx.NodeProto] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers[i].append(n)
            for o in n.output:
                self.producer[o] = n
        self.graph_outputs = {o.name for o in self.g.output}
        self.names = {n for node in self.g.node for n in (*node.input, *node.output)} | set(self.inits)
        self.names |= {i.name for i in self.g.input}

    @property
    def opset(self) -> int:
        return next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 13)

    def unique(self, base: str) -> str:
        name = base
        while name in self.names:
            name = f"{base}_{next(self._counter)}"
        self.names.add(name)
        return name

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return tensor_array(self.inits[name])
        node = self.const_nodes.get(name)
        if node is not None:
            attr = next(a for a in node.attribute if a.name == "value")
            return numpy_helper.to_array(attr.t)
        return None

    def add_const(self, base: str, value: np.ndarray) -> str:
        name = self.unique(base)
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        self.inits[name] = self.g.initializer[-1]
        return name

    def set_init(self, name: str, value: np.ndarray) -> None:
        """Replace an initializer's value (used only for initializers with a single consumer)."""
        init = self.inits[name]
        init.CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=helper.tensor_dtype_to_np_dtype(init.data_type)), name))

    def single_consumer(self, tensor: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        if len(users) != 1 or tensor in self.graph_outputs:
            return None
        return users[0]

    def remove_nodes(self, nodes: list[onnx.NodeProto]) -> None:
        ids = {id(n) for n in nodes}
        keep = [n for n in self.g.node if id(n) not in ids]
        del self.g.node[:]
        self.g.node.extend(keep)

    def rename_input_uses(self, old: str, new: str, skip: onnx.NodeProto | None = None) -> None:
        for node in self.g.node:
            if node is skip:
                continue
            for idx, name in enumerate(node.input):
                if name == old:
                    node.input[idx] = new
        for out in self.g.output:
            if out.name == old:
                out.name = new

    def prune_unused_initializers(self) -> None:
        used = {i for n in self.g.node for i in n.input} | {o.name for o in self.g.output}
        keep = [i for i in self.g.initializer if i.name in used]
        del self.g.initializer[:]
        self.g.initializer.extend(keep)


def make_node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def per_channel(value: np.ndarray, rank: int, axis: int = 1) -> np.ndarray | None:
    """Return ``value`` as one number per channel if it broadcasts only along ``axis``, else None."""
    value = np.asarray(value)
    if value.ndim > rank:
        return None
    full_shape = [1] * (rank - value.ndim) + list(value.shape)
    if any(d != 1 for i, d in enumerate(full_shape) if i != axis):
        return None
    return value.reshape(-1) if value.size > 1 else value.reshape(1)


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Turn ``Constant`` nodes holding a tensor into initializers (same values, easier to fold)."""
    graph = Graph(model)
    moved = []
    for name, node in graph.const_nodes.items():
        attr = next(a for a in node.attribute if a.name == "value")
        tensor = onnx.TensorProto()
        tensor.CopyFrom(attr.t)
        tensor.name = name
        graph.g.initializer.append(tensor)
        moved.append(node)
    graph.remove_nodes(moved)
    return len(moved)


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every name ``node`` reads: its inputs, and what its subgraphs (If, Loop, Scan) read from outside."""
    names = {i for i in node.input if i}
    for attr in node.attribute:
        for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            inner = {i.name for i in sub.input} | {i.name for i in sub.initializer}
            for n in sub.node:
                names |= _reads(n) - inner
                inner |= set(n.output)
    return names


def sort_nodes(graph: onnx.GraphProto) -> bool:
    """Put ``graph``'s nodes in an order where each comes after the nodes it reads (onnxruntime runs
    graphs in any order, the ONNX checker and every tool after it do not). Nodes already in order
    keep it (a stable sort). True when the order changed. A cycle raises ConversionError."""
    from edgeconv.errors import ConversionError

    nodes = list(graph.node)
    made_by = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    needs = [{made_by[x] for x in _reads(n) if x in made_by and made_by[x] != i} for i, n in enumerate(nodes)]
    if all(all(j < i for j in deps) for i, deps in enumerate(needs)):
        return False
    readers: dict[int, list[int]] = {}
    for i, deps in enumerate(needs):
        for j in deps:
            readers.setdefault(j, []).append(i)
    waiting = [len(d) for d in needs]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for r in readers.get(i, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, r)
    if len(order) < len(nodes):
        stuck = next(nodes[i] for i in range(len(nodes)) if waiting[i])
        raise ConversionError(f"the graph has a cycle through node {stuck.name or stuck.op_type!r} ({stuck.op_type}); "
                              "an ONNX graph must be acyclic: re-export the model")
    del graph.node[:]
    graph.node.extend(nodes[i] for i in order)
    return True


def float16_to_float32(model: onnx.ModelProto) -> int:
    """A model that computes in float16 inside a float32 interface (a ``keep_io_types`` half-precision
    export: Cast to float16 after each input, float16 weights, Cast back before each output) made to
    compute in float32, in place: float16 weights and constants widened, Casts to float16 made Casts
    to float32, and the Casts that then change nothing removed. The same function, computed without
    float16 rounding; what onnxruntime's quantizer needs (it cannot quantize float16 tensors). A
    float16 graph input or output is left as it is. How many tensors and Casts changed (0: none)."""
    from onnx import TensorProto

    fp16, changed = TensorProto.FLOAT16, 0
    interface = {v.name for v in (*model.graph.input, *model.graph.output)
                 if v.type.tensor_type.elem_type == fp16}
    if interface:
        return 0
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.data_type == fp16:
            model.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))
            changed += 1
    for node in model.graph.node:
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == fp16:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float32), attr.t.name))
                changed += 1
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == fp16:
                attr.i = TensorProto.FLOAT
                changed += 1
    if not changed:
        return 0
    del model.graph.value_info[:]
    typed = onnx.shape_inference.infer_shapes(model)
    kinds = {v.name: v.type.tensor_type.elem_type for v in (*typed.graph.value_info, *typed.graph.input)}
    kinds.update({t.name: t.data_type for t in model.graph.initializer})
    outputs = {o.name for o in model.graph.output}
    same = {n.output[0]: n.input[0] for n in model.graph.node
            if n.op_type == "Cast" and n.output[0] not in outputs and kinds.get(n.input[0]) == TensorProto.FLOAT
            and next(a.i for a in n.attribute if a.name == "to") == TensorProto.FLOAT}
    keep = [n for n in model.graph.node if not (n.op_type == "Cast" and n.output[0] in same)]
    for node in keep:
        for k, name in enumerate(node.input):
            while name in same:
                name = same[name]
            node.input[k] = name
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return changed


# Ops whose third input is a bias that onnxruntime's QDQ quantizer quantizes per node.
BIAS_OPS = ("Conv", "ConvTranspose", "Gemm")


def unshare_biases(model: onnx.ModelProto) -> int:
    """Give every node but the first that reads a shared bias initializer a copy of its own, in
    place, named apart from every tensor of the graph; how many copies were made. onnxruntime's
    quantizer makes such copies itself, named ``<bias><N>`` after the initializers only, and a
    model whose activations are named that way (tflite2onnx names a tensor ``x2`` beside ``x``) then
    reads the bias copy's quantized data as a Conv's input: "Input tensor must have at least 3
    dimensions" when the quantized model is loaded."""
    graph = Graph(model)
    seen: set[str] = set()
    copies = 0
    for node in graph.g.node:
        if node.op_type not in BIAS_OPS or len(node.input) < 3 or node.input[2] not in graph.inits:
            continue
        bias = node.input[2]
        if bias not in seen:
            seen.add(bias)
            continue
        copy = onnx.TensorProto()
        copy.CopyFrom(graph.inits[bias])
        copy.name = graph.unique(f"{bias}_bias_of_{node.name or 'node'}")
        graph.g.initializer.append(copy)
        node.input[2] = copy.name
        copies += 1
    return copies


def flatten_gemm_biases(model: onnx.ModelProto) -> int:
    """A Gemm's bias stored as a [1, N] initializer, read from an [N] copy instead (Gemm broadcasts
    either over its rows), in place; how many. onnxruntime's quantizer gives such a bias per-channel
    scales along axis 0, whose size is 1, and the QDQ model fails to run unoptimized ("For per axis
    quantization, scale must be 1D tensor with size 1": Google's Magika, in accuracy control's first
    trial)."""
    graph = Graph(model)
    replaced: set[str] = set()
    flattened = 0
    for node in graph.g.node:
        if node.op_type != "Gemm" or len(node.input) < 3 or node.input[2] not in graph.inits:
            continue
        bias = graph.inits[node.input[2]]
        if len(bias.dims) == 2 and bias.dims[0] == 1:
            node.input[2] = graph.add_const(f"{bias.name}_flat", tensor_array(bias).reshape(-1))
            replaced.add(bias.name)
            flattened += 1
    _drop_unread(graph, replaced)  # a [1, N] bias another node (or a subgraph) still reads stays
    return flattened


def _drop_unread(graph: Graph, names: set[str]) -> None:
    """The initializers among ``names`` that no node (nor a subgraph) reads any more, removed."""
    read = set().union(*(_reads(n) for n in graph.g.node)) | {o.name for o in graph.g.output}
    unread = names - read
    if unread:
        keep = [i for i in graph.g.initializer if i.name not in unread]
        del graph.g.initializer[:]
        graph.g.initializer.extend(keep)


def finite_constants(model: onnx.ModelProto) -> dict[str, int]:
    """Infinite constants made quantizable, in place, without changing what the model computes on
    finite data: ``Max(x, -inf)`` and ``Min(x, +inf)`` (jax2tf writes a reduction's identity that way)
    are ``x``, and any other infinity in a float initializer becomes its type's largest finite
    value. onnxruntime's quantizer gives an infinite constant an infinite scale, and the QDQ model
    computes NaN from it (Google's Magika: its softmax's max logit came out 0). What was done, by kind."""
    graph = Graph(model)
    dropped, constants, extrema = [], set(), 0
    for node in graph.g.node:
        if node.op_type not in ("Max", "Min") or len(node.input) != 2:
            continue
        identity = -np.inf if node.op_type == "Max" else np.inf
        for k in (0, 1):
            value = graph.const(node.input[k])
            if value is None or value.ndim != 0 or value.dtype.kind != "f" or value != identity:
                continue
            x, out = node.input[1 - k], node.output[0]
            constants.add(node.input[k])
            if out in graph.graph_outputs:  # keep the model's output name: an Identity makes it
                node.op_type, node.input[:] = "Identity", [x]
            else:
                graph.rename_input_uses(out, x)
                dropped.append(node)
            extrema += 1
            break
    graph.remove_nodes(dropped)
    _drop_unread(graph, constants)
    clipped = 0
    for init in graph.g.initializer:
        if init.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE):
            continue
        value = tensor_array(init)
        if np.isinf(value).any():
            big = np.finfo(value.dtype).max
            init.CopyFrom(numpy_helper.from_array(np.clip(value, -big, big).astype(value.dtype), init.name))
            clipped += 1
    done = {"identity_extrema_removed": extrema, "infinite_constants_clipped": clipped}
    return {k: v for k, v in done.items() if v}


def select_outputs(model: onnx.ModelProto, outputs: list[str]) -> onnx.ModelProto:
    current = [o.name for o in model.graph.output]
    if outputs == current:
        return model
    if set(outputs) <= set(current):
        keep = [o for o in model.graph.output if o.name in outputs]
        keep.sort(key=lambda o: outputs.index(o.name))
        del model.graph.output[:]
        model.graph.output.extend(keep)
        return prune(model)
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    new_outputs = []
    for name in outputs:
        if name not in infos:
            raise ConversionError(f"outputs: cannot type intermediate tensor {name!r}; give its shape and data_type")
        new_outputs.append(infos[name])
    del model.graph.output[:]
    model.graph.output.extend(new_outputs)
    return prune(model)


def prune(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop nodes that no longer feed any output."""
    needed = {o.name for o in model.graph.output}
    keep = []
    for node in reversed(list(model.graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    keep.reverse()
    del model.graph.node[:]
    model.graph.node.extend(keep)
    graph = Graph(model)
    graph.prune_unused_initializers()
    return model


def fix_shape(vi: onnx.ValueInfoProto, shape: list[int]) -> None:
    dims = vi.type.tensor_type.shape.dim
    for d, size in zip(dims, shape):
        d.Clear()
        d.dim_value = int(size)


QUANTIZATION_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                              "MatMulInteger", "DynamicQuantizeLinear"})


def quantization_nodes(model: onnx.ModelProto) -> dict[str, int]:
    """The quantization ops a model already holds, by type (a QDQ export from onnxruntime, NNCF,
    AIMET or Brevitas has QuantizeLinear/DequantizeLinear pairs): empty for a float model."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in QUANTIZATION_OPS and node.domain in ("", "ai.onnx", "com.microsoft"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def comes_quantized(path: str | Path) -> dict[str, int]:
    """:func:`quantization_nodes` of the model file at ``path``, read without its weights."""
    return quantization_nodes(onnx.load(str(path), load_external_data=False))
