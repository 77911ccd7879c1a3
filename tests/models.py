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


def tflite_net(path: Path, size: int = 16, seed: int = 0, channels: int = 3) -> Path:
    """A TFLite model written with the flatbuffer schema (no TensorFlow needed):
    input [1,S,S,C] NHWC -> CONV_2D(8, 3x3, SAME, RELU) -> CONV_2D(4, 1x1) -> `features` [1,S,S,4]
    and MEAN over H, W -> `pooled` [1,4]."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((8, 3, 3, channels)) * 0.2).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((4, 1, 1, 8)) * 0.3).astype(np.float32)
    b2 = (rng.standard_normal(4) * 0.1).astype(np.float32)
    axes = np.array([1, 2], dtype=np.int32)
    import tflite

    F32, I32 = tflite.TensorType.FLOAT32, tflite.TensorType.INT32
    tensors = [
        ("input", [1, size, size, channels], F32, None),
        ("w1", list(w1.shape), F32, w1), ("b1", [8], F32, b1), ("hidden", [1, size, size, 8], F32, None),
        ("w2", list(w2.shape), F32, w2), ("b2", [4], F32, b2), ("features", [1, size, size, 4], F32, None),
        ("axes", [2], I32, axes), ("pooled", [1, 4], F32, None),
    ]
    ops = [
        ("CONV_2D", ["input", "w1", "b1"], ["hidden"], ("conv", tflite.ActivationFunctionType.RELU, tflite.Padding.SAME)),
        ("CONV_2D", ["hidden", "w2", "b2"], ["features"], ("conv", tflite.ActivationFunctionType.NONE, tflite.Padding.VALID)),
        ("MEAN", ["features", "axes"], ["pooled"], ("reducer",)),
    ]
    return _write_tflite(path, tensors, ops, ["input"], ["features", "pooled"])


def tflite_fp16_prelu_net(path: Path, size: int = 12, seed: int = 0) -> Path:
    """A TFLite model with float16 weights, as MediaPipe ships its models: each weight a float16
    constant and a DEQUANTIZE to float32. input [1,S,S,3] -> CONV_2D(8, 3x3, SAME) -> PRELU (alpha
    [1,1,8]) -> `features` [1,S,S,8]."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float16)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    alpha = rng.uniform(0.05, 0.5, (1, 1, 8)).astype(np.float16)
    import tflite

    F32, F16 = tflite.TensorType.FLOAT32, tflite.TensorType.FLOAT16
    tensors = [
        ("input", [1, size, size, 3], F32, None),
        ("w_fp16", [8, 3, 3, 3], F16, w), ("w", [8, 3, 3, 3], F32, None), ("b", [8], F32, b),
        ("conv", [1, size, size, 8], F32, None),
        ("alpha_fp16", [1, 1, 8], F16, alpha), ("alpha", [1, 1, 8], F32, None),
        ("features", [1, size, size, 8], F32, None),
    ]
    ops = [
        ("DEQUANTIZE", ["w_fp16"], ["w"], None),
        ("DEQUANTIZE", ["alpha_fp16"], ["alpha"], None),
        ("CONV_2D", ["input", "w", "b"], ["conv"], ("conv", tflite.ActivationFunctionType.NONE, tflite.Padding.SAME)),
        ("PRELU", ["conv", "alpha"], ["features"], None),
    ]
    return _write_tflite(path, tensors, ops, ["input"], ["features"])


def _write_tflite(path: Path, tensors: list, ops: list, inputs: list[str], outputs: list[str]) -> Path:
    """Write a one-subgraph TFLite model. ``tensors``: (name, shape, type, data or None);
    ``ops``: (builtin operator name, input names, output names, options: None, ("conv", activation,
    padding) or ("reducer",))."""
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)

    def ivec(start, values):
        start(b, len(values))
        for v in reversed(values):
            b.PrependInt32(v)
        return b.EndVector()

    buffers = [None] + [t[3] for t in tensors if t[3] is not None]
    buf_offsets = []
    for data in buffers:
        vec = b.CreateByteVector(data.tobytes()) if data is not None else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buf_offsets.append(tflite.BufferEnd(b))
    tensor_offsets, next_buf = [], 1
    for name, shape, ttype, data in tensors:
        n = b.CreateString(name)
        s = ivec(tflite.TensorStartShapeVector, shape)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, s)
        tflite.TensorAddType(b, ttype)
        tflite.TensorAddName(b, n)
        if data is not None:
            tflite.TensorAddBuffer(b, next_buf)
            next_buf += 1
        else:
            tflite.TensorAddBuffer(b, 0)
        tensor_offsets.append(tflite.TensorEnd(b))
    idx = {t[0]: i for i, t in enumerate(tensors)}

    def options(spec):
        if spec is None:
            return None
        if spec[0] == "conv":
            tflite.Conv2DOptionsStart(b)
            tflite.Conv2DOptionsAddPadding(b, spec[2])
            tflite.Conv2DOptionsAddStrideW(b, 1)
            tflite.Conv2DOptionsAddStrideH(b, 1)
            tflite.Conv2DOptionsAddDilationWFactor(b, 1)
            tflite.Conv2DOptionsAddDilationHFactor(b, 1)
            tflite.Conv2DOptionsAddFusedActivationFunction(b, spec[1])
            return tflite.Conv2DOptionsEnd(b), tflite.BuiltinOptions.Conv2DOptions
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, False)
        return tflite.ReducerOptionsEnd(b), tflite.BuiltinOptions.ReducerOptions

    codes = list(dict.fromkeys(op[0] for op in ops))
    op_offsets = []
    for name, ins, outs, spec in ops:
        opts = options(spec)
        iv = ivec(tflite.OperatorStartInputsVector, [idx[n] for n in ins])
        ov = ivec(tflite.OperatorStartOutputsVector, [idx[n] for n in outs])
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(name))
        tflite.OperatorAddInputs(b, iv)
        tflite.OperatorAddOutputs(b, ov)
        if opts is not None:
            tflite.OperatorAddBuiltinOptionsType(b, opts[1])
            tflite.OperatorAddBuiltinOptions(b, opts[0])
        op_offsets.append(tflite.OperatorEnd(b))

    def table_vec(start, offs):
        start(b, len(offs))
        for o in reversed(offs):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    tv = table_vec(tflite.SubGraphStartTensorsVector, tensor_offsets)
    opv = table_vec(tflite.SubGraphStartOperatorsVector, op_offsets)
    inv = ivec(tflite.SubGraphStartInputsVector, [idx[n] for n in inputs])
    outv = ivec(tflite.SubGraphStartOutputsVector, [idx[n] for n in outputs])
    sname = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tv)
    tflite.SubGraphAddOperators(b, opv)
    tflite.SubGraphAddInputs(b, inv)
    tflite.SubGraphAddOutputs(b, outv)
    tflite.SubGraphAddName(b, sname)
    sg = tflite.SubGraphEnd(b)
    code_offsets = []
    for name in codes:
        code = getattr(tflite.BuiltinOperator, name)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, code)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    cv = table_vec(tflite.ModelStartOperatorCodesVector, code_offsets)
    sgv = table_vec(tflite.ModelStartSubgraphsVector, [sg])
    bv = table_vec(tflite.ModelStartBuffersVector, buf_offsets)
    desc = b.CreateString("edgeconv test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, cv)
    tflite.ModelAddSubgraphs(b, sgv)
    tflite.ModelAddBuffers(b, bv)
    tflite.ModelAddDescription(b, desc)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b.Output())
    return path


def io_net(inputs: dict[str, list[int]], outputs: dict[str, list[int]], path: Path | None = None, seed: int = 0) -> onnx.ModelProto:
    """A small model with exactly the named inputs and outputs of the given shapes (a stand-in for
    a real model a config names): each output is the mean of every input, scaled per element."""
    rng = np.random.default_rng(seed)
    nodes, inits, means = [], [], []
    for i, name in enumerate(inputs):
        nodes.append(helper.make_node("ReduceMean", [name], [f"mean_{i}"], keepdims=0))
        means.append(f"mean_{i}")
    total = means[0]
    for i, m in enumerate(means[1:]):
        nodes.append(helper.make_node("Add", [total, m], [f"sum_{i}"]))
        total = f"sum_{i}"
    for j, (name, shape) in enumerate(outputs.items()):
        weight = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"weight_{j}"))
        nodes.append(helper.make_node("Mul", [total, f"weight_{j}"], [name]))
    graph = helper.make_graph(
        nodes, "io_net",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)


def sensitive_net(path: Path, seed: int = 0) -> Path:
    """x [1,4,8,8] -> Conv a (4->8) -> Relu r -> Conv wide (8->8, one channel x1000: a large-range
    activation `wide`) -> Conv b (8->4, ignores the large channel) -> Relu -> Conv c -> GAP -> out.
    Quantizing `wide` to 8 bits crushes the channels the output depends on; nothing else matters."""
    rng = np.random.default_rng(seed)
    wa = (rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32)
    ww = (rng.standard_normal((8, 8, 1, 1)) * 0.4).astype(np.float32)
    ww[0] *= 1000.0  # channel 0 of `wide` spans +-1000s, the others +-1
    wb = (rng.standard_normal((4, 8, 1, 1)) * 0.5).astype(np.float32)
    wb[:, 0] = 0.0  # ... and is not used: the output depends on the small channels only
    wc = (rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32)
    inits = [numpy_helper.from_array(v, n) for n, v in (("wa", wa), ("ww", ww), ("wb", wb), ("wc", wc))]
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Conv", ["r", "ww"], ["wide"]),
        helper.make_node("Conv", ["wide", "wb"], ["b"]),
        helper.make_node("Relu", ["b"], ["rb"]),
        helper.make_node("Conv", ["rb", "wc"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "sensitive", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    _save(model, path)
    return path


def heavy_net(path: Path | None = None, hidden: int = 20000, seed: int = 0) -> onnx.ModelProto:
    """x [1,3,16,16] -> Flatten -> Gemm (768 x hidden, 61 MB at 20000) -> Relu -> Gemm -> out [1,4]:
    small to run, heavy enough that each step works for a second or more (a step to kill)."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((768, hidden)) * 0.01).astype(np.float32)
    w2 = (rng.standard_normal((hidden, 4)) * 0.01).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("Gemm", ["f", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "w2"], ["out"]),
        ],
        "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)


def activation_net(path: Path | None = None, ops: tuple[str, ...] = ("HardSigmoid", "HardSwish"), opset: int = 14,
                   size: int = 16, seed: int = 0) -> onnx.ModelProto:
    """x [1,3,size,size] -> Conv -> each of ``ops`` in turn (HardSigmoid with alpha 0.25, beta 0.4;
    CumSum along the channels) -> Conv -> out [1,4,size,size]: the layers the 2021.4 MYRIAD
    toolchain refuses (HardSigmoid, HardSwish: exact rewrites exist; CumSum: none)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.5, "w1"),
        numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3, "w2"),
        numpy_helper.from_array(np.array(1, np.int64), "channel_axis"),
    ]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a0"], pads=[1, 1, 1, 1], name="conv1")]
    for i, op in enumerate(ops):
        src, dst = f"a{i}", f"a{i + 1}"
        if op == "HardSigmoid":
            nodes.append(helper.make_node(op, [src], [dst], name=f"act{i}", alpha=0.25, beta=0.4))
        elif op == "CumSum":
            nodes.append(helper.make_node(op, [src, "channel_axis"], [dst], name=f"act{i}"))
        else:
            nodes.append(helper.make_node(op, [src], [dst], name=f"act{i}"))
    nodes.append(helper.make_node("Conv", [f"a{len(ops)}", "w2"], ["out"], name="conv2"))
    graph = helper.make_graph(
        nodes,
        "activation_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, size, size])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return _save(model, path)


def embedding_net(path: Path | None = None, rows: int = 126, length: int = 8, seed: int = 0) -> onnx.ModelProto:
    """tokens int64 [1, length] -> Gather from a [rows, 16] embedding table -> ReduceMean -> out [1, 16]:
    a text model whose input must index the table (random data up to 255 does not)."""
    table = numpy_helper.from_array(np.random.default_rng(seed).standard_normal((rows, 16)).astype(np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "tokens"], ["emb"], name="embed"),
         helper.make_node("ReduceMean", ["emb"], ["out"], axes=[1], keepdims=0)],
        "embedding_net",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, length])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 16])],
        [table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, path)


def silu_net(path: Path, width: int = 10, channels: int = 64, act: str = "silu", after_conv: bool = True,
             seed: int = 0, height: int | None = None) -> Path:
    """x [1, C, H, W] (H = W unless ``height``) -> 1x1 Conv -> c -> SiLU (Sigmoid -> g, Mul(c, g) -> y), or Relu with ``act``;
    without ``after_conv`` the SiLU reads the input itself. At a height of 9 to 12 the HTP computes a
    Conv's SiLU wrong when its Sigmoid is at 16 bits (edgeconv.accuracy_control.htp_pinned_8bit)."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((channels, channels, 1, 1)) / np.sqrt(channels)).astype(np.float32)
    t = "c" if after_conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv")] if after_conv else []
    if act == "silu":
        nodes += [helper.make_node("Sigmoid", [t], ["g"], name="sigmoid"), helper.make_node("Mul", [t, "g"], ["y"], name="mul")]
    else:
        nodes += [helper.make_node("Relu", [t], ["y"], name="relu")]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array((rng.standard_normal(channels) * 0.1).astype(np.float32), "b")]
    graph = helper.make_graph(
        nodes, "silu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, height or width, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, height or width, width])],
        inits if after_conv else [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    _save(model, path)
    return path
