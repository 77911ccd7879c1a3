"""RVC2 with the built-in OpenVINO 2021.4 toolchain: the ONNX rewrites for it (exact, checked with
onnxruntime), the opset it is brought down to, which release a model gets, and the blob check."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeconv.errors import ConversionError
from edgeconv.steps.rewrite_for_myriad import bring_down_opset, rewrite_layers
from edgeconv.targets import myriad, rvc2
from models import activation_net


def _run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_hard_sigmoid_and_hard_swish_become_their_definitions_exactly():
    model = activation_net()
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32) * 8
    want = _run(model, x)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    done = rewrite_layers(rewritten)
    assert done == {"HardSigmoid": 1, "HardSwish": 1}
    ops = [n.op_type for n in rewritten.graph.node]
    assert "HardSigmoid" not in ops and "HardSwish" not in ops and ops.count("Clip") == 2
    onnx.checker.check_model(rewritten)
    # The same operations ONNX defines them with: equal to the last bit on this input (values in
    # both clipped ranges and in between).
    np.testing.assert_array_equal(_run(rewritten, x), want)


def test_clip_bounds_are_attributes_below_opset_11():
    model = activation_net(ops=("HardSigmoid",), opset=10)
    rewrite_layers(model)
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    assert len(clip.input) == 1 and {a.name for a in clip.attribute} == {"min", "max"}
    onnx.checker.check_model(model)


def test_opset_above_13_comes_down_where_every_node_means_the_same():
    model = activation_net(ops=("Relu",), opset=15)
    assert bring_down_opset(model) == {"from": 15, "to": 13, "axes_to_attribute": 0}
    assert model.opset_import[0].version == 13
    onnx.checker.check_model(model)
    assert bring_down_opset(model) is None  # at 13 already


def _single(op, inputs, inits, opset, **attrs):
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["y"], name="the_node", **attrs)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_reduce_axes_input_goes_back_to_an_attribute():
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    model = _single("ReduceMean", ["x", "axes"], [axes], 18, keepdims=1)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = _run(model, x)
    assert bring_down_opset(model)["axes_to_attribute"] == 1
    node = model.graph.node[0]
    assert list(node.input) == ["x"] and helper.get_attribute_value(node.attribute[-1]) == [1]
    np.testing.assert_array_equal(_run(model, x), want)


@pytest.mark.parametrize("op,inputs,attrs,why", [
    ("Reshape", ["x", "shape"], {"allowzero": 1}, "has no exact opset-13 form here"),
    ("Mish", ["x"], {}, "is new after opset 13"),
])
def test_a_node_with_no_opset_13_form_stops_naming_op_node_and_opset(op, inputs, attrs, why):
    inits = [numpy_helper.from_array(np.array([2, 12], np.int64), "shape")] if "shape" in inputs else []
    model = _single(op, inputs, inits, 18, **attrs)
    with pytest.raises(ConversionError) as exc:
        bring_down_opset(model)
    message = str(exc.value)
    assert message.startswith(f"{op} (node 'the_node', opset 18) {why}; OpenVINO 2021.4 reads ONNX up to opset 13")
    assert "opset_version=13" in message


def test_which_openvino_release_a_model_gets():
    assert rvc2.openvino_version(None, {}) == "2021.4"  # the built-in compiler
    assert rvc2.openvino_version(None, {"compile_tool": "/opt/ov/compile_tool"}) == "2022.3"
    assert rvc2.openvino_version(None, {"runtime": "docker", "image": "x"}) == "2022.3"
    assert rvc2.openvino_version(None, {"mo": "/opt/ov/mo"}) == "2022.3"  # the user's own mo: theirs
    assert rvc2.openvino_version("2021.4", {"compile_tool": "/opt/ov/compile_tool"}) == "2021.4"
    assert rvc2.openvino_version("2022.3", {}) == "2022.3"


def test_find_tool_looks_in_the_release_s_environment(tmp_path):
    from edgeconv.tools import find_tool

    with pytest.raises(ConversionError, match=r"`compile_tool` not found .*OpenVINO 2022.3 Linux archive"):
        find_tool({}, "rvc2", "compile_tool", tmp_path, "2022.3")  # not built in: the user's own
    env = tmp_path / ".venvs" / "openvino-2021.4" / "bin"
    env.mkdir(parents=True)
    (env / "myriad_compile").write_text("#!/bin/sh\n")
    (env / "myriad_compile").chmod(0o755)
    assert find_tool({}, "rvc2", "compile_tool", tmp_path, "2021.4") == str(env / "myriad_compile")


def test_unsupported_layers_in_one_line():
    exc = myriad.unsupported_error([{"type": "CumSum", "name": "cs"}, {"type": "NonZero", "name": "nz"}], 12)
    assert str(exc).startswith("the MYRIAD compiler (OpenVINO 2021.4) does not take 2 of 12 layer(s): "
                               "CumSum ('cs'); NonZero ('nz'); no exact rewrite exists")
    assert "\n" not in str(exc)


def test_a_blob_that_is_not_what_was_asked_is_named():
    want = myriad.Expected({"x": ([1, 3, 8, 8], "U8F")}, {"out": ([1, 4], "FP16")}, shaves=6)
    read = {"shaves": 6, "inputs": {"x": {"shape": [1, 3, 8, 8], "data_type": "U8F"}},
            "outputs": {"out": {"shape": [1, 4], "data_type": "FP16"}}}
    assert myriad.mismatches(read, want) == []
    read["shaves"] = 8
    read["inputs"]["x"]["data_type"] = "FP16"
    read["outputs"] = {"other": {"shape": [1, 4], "data_type": "FP16"}}
    assert myriad.mismatches(read, want) == [
        "8 shaves, asked 6", "input 'x' is FP16, asked U8F", "outputs ['other'], the IR has ['out']"]


def test_depthai_refuses_bytes_that_are_not_a_blob(tmp_path):
    junk = tmp_path / "m.blob"
    junk.write_bytes(np.random.default_rng(0).bytes(200_000))
    with pytest.raises(ConversionError, match=r"^m.blob is not a MyriadX blob DepthAI 3\.\d+\.\d+ can read"):
        myriad.read_blob(junk)


def test_a_split_with_its_sizes_as_an_input_becomes_slices_exactly():
    sizes = numpy_helper.from_array(np.array([1, 2], np.int64), "sizes")
    graph = helper.make_graph(
        [helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=1),
         helper.make_node("Concat", ["b", "a"], ["y"], axis=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])], [sizes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = _run(model, x)
    assert rewrite_layers(model) == {"Split": 1}
    assert [n.op_type for n in model.graph.node] == ["Slice", "Slice", "Concat"]
    np.testing.assert_array_equal(_run(model, x), want)


def test_attributes_newer_than_opset_13_at_their_defaults_are_dropped():
    shape = numpy_helper.from_array(np.array([2, 12], np.int64), "shape")
    model = _single("Reshape", ["x", "shape"], [shape], 18, allowzero=0)  # as exporters write it
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = _run(model, x)
    bring_down_opset(model)
    assert not model.graph.node[0].attribute and model.opset_import[0].version == 13
    np.testing.assert_array_equal(_run(model, x), want)


def test_a_softmax_over_an_inner_axis_gets_the_axis_last_exactly():
    """YOLOv8's DFL: softmax over axis 1 of [1, 16, 4, N]; mo 2021.4 would flatten the tail."""
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], name="dfl", axis=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.random.default_rng(0).standard_normal((1, 16, 4, 5)).astype(np.float32)
    want = _run(model, x)
    model = onnx.shape_inference.infer_shapes(model)
    assert rewrite_layers(model) == {"Softmax": 1}
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Softmax", "Transpose"]
    np.testing.assert_allclose(_run(model, x), want, rtol=0, atol=1e-7)


def test_names_mo_2021_4_would_read_as_regexes_are_made_plain():
    from edgeconv.steps.rewrite_for_myriad import plain_names

    shape = numpy_helper.from_array(np.array([2, 12], np.int64), "TFLITE2ONNX_Vector_int64_[_1_-1__1]")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", shape.name], ["mid(1)"], name="reshape[0]"),
         helper.make_node("Relu", ["mid(1)"], ["y"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = _run(model, x)
    assert plain_names(model) == 3
    names = [model.graph.initializer[0].name, *(n.name for n in model.graph.node), *(t for n in model.graph.node for t in n.output)]
    assert not any(c in name for name in names for c in "[]()")
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["y"]
    np.testing.assert_array_equal(_run(model, x), want)


def test_an_opset_13_unsqueeze_becomes_the_reshape_to_its_shape_exactly():
    """mo 2021.4 reads an Unsqueeze's axes only as the attribute of opset 1 to 12 and stops on the
    input (Google's Magika: "The ExpandDims node Unsqueeze__115 has more than 1 input")."""
    axes = numpy_helper.from_array(np.array([-1, 1], np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Unsqueeze", ["r", "axes"], ["y"], name="unsq")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1, 3, 4, 1])], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = _run(model, x)
    model = onnx.shape_inference.infer_shapes(model)
    assert rewrite_layers(model) == {"Unsqueeze": 1}
    reshape = model.graph.node[1]
    assert reshape.op_type == "Reshape" and reshape.output[0] == "y"
    assert numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == reshape.input[1])).tolist() == [2, 1, 3, 4, 1]
    onnx.checker.check_model(model)
    np.testing.assert_array_equal(_run(model, x), want)
    # Below opset 13 the axes are an attribute mo reads: left as it is.
    old = helper.make_model(helper.make_graph(
        [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3])]), opset_imports=[helper.make_opsetid("", 11)])
    assert rewrite_layers(onnx.shape_inference.infer_shapes(old)) == {}
