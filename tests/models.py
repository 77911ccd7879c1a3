"""Tiny ONNX models the tests build (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(model: onnx.ModelProto, path: Path | None) -> onnx.ModelProto:
    onnx.checker.check_model(model)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
    return model


def conv_net(
    path: Path | None = None,
    channels: int = 3,
    size: int = 16,
    dynamic_hw: bool = False,
    dynamic_batch: bool = False,
    nhwc: bool = False,
    constant_nodes: bool = False,
    seed: int = 0,
    opset: int = 13,
) -> onnx.ModelProto:
    """x -> Conv(pad 1) -> Relu -> Conv(no pad) -> GlobalAveragePool -> Flatten -> out [N, 4]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((8, channels, 3, 3)).astype(np.float32) * 0.2
    b1 = rng.standard_normal(8).astype(np.float32) * 0.1
    w2 = rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3
    b2 = rng.standard_normal(4).astype(np.float32) * 0.1
    n = "N" if dynamic_batch else 1
    h, w = ("H", "W") if dynamic_hw else (size, size)
    shape = [n, h, w, channels] if nhwc else [n, channels, h, w]
    nodes = []
    src = "x"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]))
        src = "x_nchw"
    inits = []
    consts = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    for name, value in consts.items():
        if constant_nodes:
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
        else:
            inits.append(numpy_helper.from_array(value, name))
    nodes += [
        helper.make_node("Conv", [src, "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [n, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return _save(model, path)


def two_input_net(path: Path | None = None) -> onnx.ModelProto:
    """image [1,3,8,8] and a float vector ``gain`` [1,4]: out = Flatten(GAP(Conv(image))) * gain; also ``aux``."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["c"]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Mul", ["f", "gain"], ["out"]),
        helper.make_node("Relu", ["c"], ["aux"]),
    ]
    graph = helper.make_graph(
        nodes,
        "two_input",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8]),
            helper.make_tensor_value_info("gain", TensorProto.FLOAT, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("aux", TensorProto.FLOAT, [1, 4, 6, 6]),
        ],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)


def identity_net(shape: list[int], path: Path | None = None, opset: int = 13) -> onnx.ModelProto:
    """out = x; lets tests read back exactly what the attached normalization computes."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["out"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return _save(model, path)


def backbone_net(path: Path | None = None, size: int = 16, seed: int = 1) -> onnx.ModelProto:
    """Stage 1 of a two-stage model: image x [1,3,S,S] -> Conv -> Relu -> feat [1,8,S,S]."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32), "w")
    b = numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["feat"]),
        ],
        "backbone",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [1, 8, size, size])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)


def head_net(path: Path | None = None, size: int = 16, seed: int = 2) -> onnx.ModelProto:
    """Stage 2: feat [1,8,S,S] and pooled [1,8] -> out [1,4] (a conv branch plus a dense branch)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array((rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32), "w"),
        numpy_helper.from_array((rng.standard_normal(4) * 0.1).astype(np.float32), "b"),
        numpy_helper.from_array((rng.standard_normal((8, 4)) * 0.3).astype(np.float32), "m"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["feat", "w", "b"], ["c"]),
            helper.make_node("GlobalAveragePool", ["c"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("MatMul", ["pooled", "m"], ["d"]),
            helper.make_node("Add", ["f", "d"], ["out"]),
        ],
        "head",
        [
            helper.make_tensor_value_info("feat", TensorProto.FLOAT, [1, 8, size, size]),
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 8]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)
