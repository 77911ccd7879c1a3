"""The qnn_htp target for real on a tiny model: QDQ quantization per mode, HTP context binary,
and verification in the HTP simulator of onnxruntime-qnn."""

import numpy as np
import onnx
import pytest

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.errors import ConversionError
from edgeconv.onnx_io import model_info
from edgeconv.steps.attach_normalization import attach_normalization
from edgeconv.steps.prepare_calibration import prepare_calibration
from edgeconv.comparison import verify
from models import conv_net, silu_net

pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")

from edgeconv.targets import qnn_htp  # noqa: E402


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qnn")
    original = tmp / "m.onnx"
    conv_net(original, size=32, opset=12)  # opset 12: the step upgrades it for per-channel QDQ
    cfg = validate_model_config(
        {"input_model": str(original), "mean_values": 127.5, "scale_values": 64, "calibration": {"max_images": 16}},
        "m",
        "m.yaml",
    )
    stage = resolve_stage(cfg.stages["m"], model_info(onnx.load(original), str(original)), "m.yaml")
    float_path = tmp / "float.onnx"
    onnx.save(attach_normalization(onnx.load(original), stage), float_path)
    return tmp, original, stage, float_path, prepare_calibration(stage)


@pytest.mark.parametrize(
    "mode, min_cosine",
    [
        ("INT8_STANDARD", 0.98),
        ("INT8_ACCURACY_FOCUSED", 0.98),
        ("INT8_INT16_MIXED", 0.995),
        ("INT8_INT16_MIXED_ACCURACY_FOCUSED", 0.995),
        ("INT16_STANDARD", 0.995),
        ("FP16_STANDARD", 0.999),
    ],
)
def test_every_mode_quantizes_compiles_and_verifies_in_the_simulator(prepared, mode, min_cosine):
    tmp, original, stage, float_path, calibration = prepared
    fp16 = mode == "FP16_STANDARD"
    quant = tmp / f"{mode}.quant.onnx"
    call = qnn_htp.quantize_qdq(float_path, None if fp16 else calibration, quant, mode, per_channel=True)
    ops = {n.op_type for n in onnx.load(quant).graph.node}
    if fp16:
        assert "QuantizeLinear" not in ops and call["tool"] == "copy"
    else:
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        assert call["opset_upgraded_from"] == 12
    ctx = tmp / f"{mode}.ctx.onnx"
    compiled = qnn_htp.compile_htp(quant, ctx, "qcs8550", fp16)
    assert ctx.exists() and (tmp / f"{mode}.ctx_qnn.bin").stat().st_size > 0
    assert compiled["provider_options"]["htp_arch"] == "73" and compiled["provider_options"]["soc_model"] == "66"
    assert compiled["partition"]["ep_context_nodes"] == 1
    assert compiled["onnxruntime-qnn"]
    assert any(n.op_type == "EPContext" for n in onnx.load(ctx).graph.node)

    def runner(path, feeds):
        return qnn_htp.run_context(path, feeds, "qcs8550", fp16)

    report = verify(original, ctx, stage, calibration, {"min_cosine": min_cosine}, 4, runner)
    assert report["passed"], report
    # The simulator really computes: a different model must not pass.
    other = tmp / "other.onnx"
    onnx.save(attach_normalization(conv_net(seed=7, size=32), stage), other)
    assert not verify(other, ctx, stage, calibration, {"min_cosine": 0.99}, 2, runner)["passed"]


def test_custom_mode_is_rejected_clearly():
    with pytest.raises(ConversionError, match="rvc4.quantization_mode CUSTOM cannot be used for the qnn_htp target"):
        qnn_htp.scheme_for("CUSTOM")


def test_per_channel_int16_weights_really_do_not_compile(prepared, tmp_path):
    """Why INT16_STANDARD quantizes weights per tensor: per-channel 16-bit weights are refused."""
    from onnxruntime.quantization import QuantType, quantize
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

    _, _, _, float_path, calibration = prepared

    class Reader:
        def __init__(self):
            self.it = iter([{"x": calibration["x"][i]} for i in range(4)])

        def get_next(self):
            return next(self.it, None)

    config = get_qnn_qdq_config(
        str(float_path), Reader(), activation_type=QuantType.QUInt16, weight_type=QuantType.QUInt16, per_channel=True
    )
    quant = tmp_path / "w16.onnx"
    quantize(str(float_path), str(quant), config)
    with pytest.raises(ConversionError, match="could not compile"):
        qnn_htp.compile_htp(quant, tmp_path / "w16.ctx.onnx", "qcs8550", False)


def test_soc_table_and_unknown_soc():
    assert qnn_htp.soc_options("sm8550", False)["htp_arch"] == "73"
    assert qnn_htp.soc_options("sm8650", True)["enable_htp_fp16_precision"] == "1"
    with pytest.raises(ConversionError, match="no HTP settings for 'sm9999'"):
        qnn_htp.soc_options("sm9999", False)


def test_htp_socs_compile_for_other_architectures(prepared):
    tmp, original, stage, float_path, calibration = prepared
    quant = tmp / "v68.quant.onnx"
    qnn_htp.quantize_qdq(float_path, calibration, quant, "INT8_STANDARD", per_channel=False)
    info = qnn_htp.compile_htp(quant, tmp / "v68.ctx.onnx", "sm8350", False)
    assert info["provider_options"]["htp_arch"] == "68"
    out = qnn_htp.run_context(tmp / "v68.ctx.onnx", {"x": calibration["x"][0]}, "sm8350", False)
    assert np.isfinite(out["out"]).all()


def test_a_layer_the_htp_does_not_take_is_named_with_qnn_s_reason(tmp_path, caplog):
    """Celu: onnxruntime-qnn splits the graph around it and runs it on the CPU. compile_htp warns
    with its name; the analysis lists it with QNN's reason."""
    import logging

    import onnx.helper as h
    from onnx import numpy_helper

    from edgeconv.steps import compile_htp as step
    from edgeconv.steps.analyze import cpu_layers
    from edgeconv.targets.qnn_htp import search_quantizer

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w1", (8, 4, 3, 3)), ("w2", (4, 8, 3, 3)))]
    nodes = [h.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
             h.make_node("Celu", ["a"], ["b"], name="the_celu"),
             h.make_node("Conv", ["b", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", 1, [1, 4, 8, 8])],
                         [h.make_tensor_value_info("y", 1, [1, 4, 8, 8])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "m.onnx")
    search_quantizer(tmp_path / "m.onnx", "INT8_STANDARD", True, tmp_path / "q")(
        {"x": rng.standard_normal((8, 1, 4, 8, 8)).astype(np.float32)}, None, tmp_path / "m.quant.onnx")
    params = step.HtpParams(model="m", source="m.yaml", edgeconv="test", soc="sm8550", fp16=False)
    with caplog.at_level(logging.WARNING, logger="edgeconv.progress"):
        record = step.run({"onnx": tmp_path / "m.quant.onnx"}, {"ctx": tmp_path / "m.ctx.onnx"}, params)
    partition = record["tool_calls"][0]["partition"]
    assert partition["cpu_layers"] == [{"name": "the_celu", "op_type": "Celu"}]
    assert partition["ep_context_nodes"] == 2  # the HTP graph is split in two around it
    assert "the HTP does not take 1 layer(s)" in caplog.text and "the_celu (Celu)" in caplog.text
    listed = cpu_layers(tmp_path / "m.ctx.onnx", tmp_path / "m.quant.onnx", "sm8550")
    assert [(n["name"], n["op_type"]) for n in listed] == [("the_celu", "Celu")]
    assert "Operators of type `Celu` are not supported by QNN EP" in listed[0]["reason"]
    # When the context model then fails its check, verify's error names that layer first.
    from edgeconv.steps.verify import _layers_on_cpu

    assert _layers_on_cpu(tmp_path / "m.ctx.onnx") == [("Celu", "the_celu")]


def test_rvc4_s_conversion_names_the_layers_qnn_refuses_in_the_float_model(tmp_path):
    """Before snpe-onnx-to-dlc, the rvc4 step asks onnxruntime-qnn which layers of the float model
    it would not put on the HTP (fp16), and names them."""
    import onnx.helper as h
    from onnx import numpy_helper

    from edgeconv.steps.onnx_to_dlc import htp_refusals

    w = numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    nodes = [h.make_node("Conv", ["x", "w"], ["a"], name="conv"), h.make_node("Celu", ["a"], ["y"], name="the_celu")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", 1, [1, 4, 8, 8])],
                         [h.make_tensor_value_info("y", 1, [1, 4, 8, 8])], [w])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "m.onnx")
    refused = htp_refusals(tmp_path / "m.onnx")
    assert len(refused) == 1 and refused[0].startswith("the_celu (Celu): Operators of type `Celu` are not supported")
    conv_net(tmp_path / "plain.onnx", size=16)
    assert htp_refusals(tmp_path / "plain.onnx") == []


def _half_precision(path):
    """conv_net as a ``keep_io_types`` half-precision export makes it: float32 interface, Cast to
    float16 after the input, float16 weights, every op in float16, Cast back to float32 at the output."""
    from onnx import TensorProto, helper, numpy_helper

    model = conv_net(channels=3, size=16)
    graph = model.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name))
    x, out = graph.input[0].name, graph.output[0].name
    for node in graph.node:
        node.input[:] = [f"{i}_h" if i == x else i for i in node.input]
        node.output[:] = [f"{o}_h" if o == out else o for o in node.output]
    graph.node.insert(0, helper.make_node("Cast", [x], [f"{x}_h"], to=TensorProto.FLOAT16, name="in_cast"))
    graph.node.append(helper.make_node("Cast", [f"{out}_h"], [out], to=TensorProto.FLOAT, name="out_cast"))
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_a_half_precision_export_is_quantized_from_its_float32_form(tmp_path):
    """onnxruntime's quantizer cannot take float16 tensors: a model that computes in float16 inside a
    float32 interface (imgly's ISNet export) failed with "Type 'tensor(float16)' of input parameter
    (..._quantized_scale)". It is now quantized from its float32 form, says so in its record, and the
    QDQ model is as close to the original as a float32 model's would be."""
    from edgeconv.onnx_graph import float16_to_float32
    from edgeconv.runtime import onnx_runner

    half = _half_precision(tmp_path / "half.onnx")
    widened = onnx.load(half)
    weights = sum(t.data_type == onnx.TensorProto.FLOAT16 for t in widened.graph.initializer)
    assert weights >= 2 and float16_to_float32(widened) == weights + 1  # the weights and biases, the Cast to float16
    assert not any(t.data_type == onnx.TensorProto.FLOAT16 for t in widened.graph.initializer)
    assert [n.op_type for n in widened.graph.node].count("Cast") == 1  # the input's cast changed nothing: gone
    onnx.checker.check_model(widened)
    calibration = {"x": np.random.default_rng(0).standard_normal((8, 1, 3, 16, 16)).astype(np.float32)}
    feeds = {"x": calibration["x"][0]}
    reference = onnx_runner(half)(feeds)["out"]
    np.testing.assert_allclose(onnx_runner_of(widened, tmp_path)(feeds)["out"], reference, rtol=2e-2, atol=2e-3)
    record = qnn_htp.quantize_qdq(half, calibration, tmp_path / "q.onnx", "INT8_STANDARD", True)
    assert record["float16_widened"].startswith(f"{weights + 1} float16 tensor(s) and Cast(s) made float32")
    qdq = onnx.load(tmp_path / "q.onnx")
    # Quantized in float32: no float16 left, and no Casts around Q/DQ pairs (the quantizer put six
    # there, and left weights unquantized, when it was given the float16 graph).
    assert not any(t.data_type == onnx.TensorProto.FLOAT16 for t in qdq.graph.initializer)
    assert [n.op_type for n in qdq.graph.node].count("Cast") == 1
    assert [n.op_type for n in qdq.graph.node].count("DequantizeLinear") >= weights + 4
    got = onnx_runner(tmp_path / "q.onnx")(feeds)["out"]
    assert float((got * reference).sum() / np.linalg.norm(got) / np.linalg.norm(reference)) > 0.98


def onnx_runner_of(model, tmp_path):
    from edgeconv.runtime import onnx_runner

    onnx.save(model, tmp_path / "widened.onnx")
    return onnx_runner(tmp_path / "widened.onnx")


def _shared_bias_net(path):
    """Two 3x3 convs sharing one bias initializer `b` (TFLite dedups equal buffers, and tflite2onnx
    keeps them shared), the first one's output named `b0`, as tflite2onnx names tensors."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w1"),
             numpy_helper.from_array((rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32), "w2"),
             numpy_helper.from_array(np.full(4, 0.1, np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b"], ["b0"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["b0"], ["r"], name="sigmoid"),
             helper.make_node("Conv", ["r", "w2", "b"], ["out"], name="conv2", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_a_shared_bias_next_to_a_tensor_named_like_its_copy_quantizes(tmp_path):
    """MediaPipe's palm detector through tflite2onnx: onnxruntime's quantizer copies a shared bias
    `b` as `b0` (the next free number among the initializers only), the name of an activation, and the QDQ model did not load ("Input tensor must have
    at least 3 dimensions"). The bias is now copied, one per node, under a name no tensor has."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from edgeconv.onnx_graph import unshare_biases
    from edgeconv.runtime import onnx_runner

    net = _shared_bias_net(tmp_path / "shared.onnx")
    calibration = {"x": np.random.default_rng(1).standard_normal((4, 1, 3, 8, 8)).astype(np.float32)}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter({"x": s} for s in calibration["x"])

        def get_next(self):
            return next(self.it, None)

    # The failure, as onnxruntime's quantizer alone gives it.
    quantize_static(str(net), str(tmp_path / "plain.onnx"), Reader(), quant_format=QuantFormat.QDQ)
    with pytest.raises(Exception, match="at least 3 dimensions"):
        onnx_runner(tmp_path / "plain.onnx")
    model = onnx.load(net)
    assert unshare_biases(model) == 1 and unshare_biases(model) == 0
    assert [n.input[2] for n in model.graph.node if n.op_type == "Conv"] == ["b", "b_bias_of_conv2"]
    onnx.checker.check_model(model)
    record = qnn_htp.quantize_qdq(net, calibration, tmp_path / "q.onnx", "INT8_STANDARD", True)
    assert record["biases_unshared"].startswith("1 shared bias(es) copied")
    feeds = {"x": calibration["x"][0]}
    got, reference = onnx_runner(tmp_path / "q.onnx")(feeds)["out"], onnx_runner(net)(feeds)["out"]
    assert float((got * reference).sum() / np.linalg.norm(got) / np.linalg.norm(reference)) > 0.98


def _gemm_net(path):
    """x [1, 16] -> Gemm(w [16, 8], bias [1, 8]) -> out: the bias stored 2-D, as jax2tf writes it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "bias"], ["out"], name="dense")], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.standard_normal((1, 8)).astype(np.float32), "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_a_gemm_bias_stored_1_by_n_quantizes_per_channel(tmp_path):
    """Google's Magika: onnxruntime's quantizer gave a Gemm's [1, N] bias per-channel scales along
    its axis of size 1, and the QDQ model failed in accuracy control's first trial ("For per axis
    quantization, scale must be 1D tensor with size 1"). The bias is read as [N] before quantizing."""
    from edgeconv.onnx_graph import flatten_gemm_biases
    from edgeconv.runtime import onnx_runner

    net = _gemm_net(tmp_path / "gemm.onnx")
    model = onnx.load(net)
    assert flatten_gemm_biases(model) == 1 and flatten_gemm_biases(model) == 0
    assert [list(i.dims) for i in model.graph.initializer if i.name == model.graph.node[0].input[2]] == [[8]]
    assert "bias" not in {i.name for i in model.graph.initializer}  # nothing else read the [1, N] one
    onnx.checker.check_model(model)
    calibration = {"x": np.random.default_rng(1).standard_normal((4, 1, 16)).astype(np.float32)}
    record = qnn_htp.quantize_qdq(net, calibration, tmp_path / "q.onnx", "INT8_STANDARD", True)
    feeds = {"x": calibration["x"][0]}
    got, reference = onnx_runner(tmp_path / "q.onnx")(feeds)["out"], onnx_runner(net)(feeds)["out"]
    assert float((got * reference).sum() / np.linalg.norm(got) / np.linalg.norm(reference)) > 0.98
    assert record["gemm_biases_flattened"].startswith("1 Gemm bias(es)")


def _max_with_minus_inf_net(path):
    """x [1, 8] -> Max(x, -inf) -> m -> Sub(x, m) -> out: a softmax's max, as jax2tf writes it."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMax", ["x"], ["r"], keepdims=1),
         helper.make_node("Max", ["r", "minus_inf"], ["m"], name="identity_max"),
         helper.make_node("Sub", ["x", "m"], ["out"])], "max",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_an_infinite_constant_is_not_quantized_into_nan(tmp_path):
    """Google's Magika: `Max(x, -inf)` before its softmax; onnxruntime's quantizer gave the -inf an
    infinite scale, the QDQ model computed NaN there, and plain INT8 measured cosine 0.12 (0.998 now)."""
    from onnx import numpy_helper

    from edgeconv.onnx_graph import finite_constants
    from edgeconv.runtime import onnx_runner

    net = _max_with_minus_inf_net(tmp_path / "max.onnx")
    calibration = {"x": np.random.default_rng(1).standard_normal((4, 1, 8)).astype(np.float32) * 3}
    qnn_htp.quantize_qdq(net, calibration, tmp_path / "q.onnx", "INT8_STANDARD", True)
    feeds = {"x": calibration["x"][0]}
    got, reference = onnx_runner(tmp_path / "q.onnx")(feeds)["out"], onnx_runner(net)(feeds)["out"]
    assert np.isfinite(got).all()
    assert float((got * reference).sum() / np.linalg.norm(got) / np.linalg.norm(reference)) > 0.98
    # The Max is its other input; a Max that makes a model output becomes an Identity (its name stays).
    model = onnx.load(net)
    assert finite_constants(model) == {"identity_extrema_removed": 1}
    assert [n.op_type for n in model.graph.node] == ["ReduceMax", "Sub"] and model.graph.node[1].input == ["x", "r"]
    assert "minus_inf" not in {i.name for i in model.graph.initializer}
    model = onnx.load(net)
    model.graph.output[0].name = "m"
    del model.graph.node[2]
    assert finite_constants(model) == {"identity_extrema_removed": 1}
    assert [n.op_type for n in model.graph.node] == ["ReduceMax", "Identity"]
    # Any other infinity in a float constant: the type's largest finite value.
    mask = numpy_helper.from_array(np.array([0, -np.inf], np.float32), "mask")
    model.graph.initializer.append(mask)
    assert finite_constants(model) == {"infinite_constants_clipped": 1}
    assert numpy_helper.to_array(model.graph.initializer[-1]).tolist() == [0.0, float(-np.finfo(np.float32).max)]


@pytest.mark.parametrize("mode", ["INT8_INT16_MIXED", "INT16_STANDARD"])
def test_a_16_bit_mode_keeps_a_convs_silu_sigmoid_at_8_bits_and_verifies(tmp_path, mode):
    """A mode with 16-bit activations: a Conv's SiLU is 10 pixels wide, which the HTP computes wrong
    with its Sigmoid at 16 bits (cosine about 0.81 against the CPU; docs/accuracy.md). The Sigmoid's
    output is quantized at 8 bits, everything else at 16, and the simulator agrees with the CPU."""
    from edgeconv.metrics import metrics
    from edgeconv.runtime import onnx_runner

    model = silu_net(tmp_path / "s.onnx")
    x = np.random.default_rng(1).standard_normal((5, 1, 64, 10, 10)).astype(np.float32) * 2
    out = tmp_path / "q.onnx"
    call = qnn_htp.quantize_qdq(model, {"x": x[1:]}, out, mode, True)
    assert call["pinned_8bit"] == ["g"]
    q = onnx.load(out)
    zero_points = {i.name: i.data_type for i in q.graph.initializer}
    bits = {n.input[0]: zero_points[n.input[2]] for n in q.graph.node if n.op_type == "QuantizeLinear"}
    assert bits["g"] == onnx.TensorProto.UINT8 and bits["c"] == onnx.TensorProto.UINT16
    cpu = onnx_runner(out)({"x": x[0]})["y"]
    sim = qnn_htp.simulator_runner("sm8550")(out)({"x": x[0]})["y"]
    assert metrics(cpu, sim)["cosine"] > 0.9999
