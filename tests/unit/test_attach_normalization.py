"""The normalization inserted into the graph computes exactly what numpy computes."""

import numpy as np
import onnx
import pytest

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info
from edgeconv.runtime import run_onnx
from edgeconv.steps.attach_normalization import attach_normalization, normalize_numpy
from models import conv_net, identity_net, two_input_net


def _stage(data, model):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def _image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.float32)


@pytest.mark.parametrize(
    "shape, data, opset",
    [
        ([1, 3, 4, 5], {"mean_values": [10, 20, 30], "scale_values": [2, 4, 8], "encoding": {"from": "RGB", "to": "BGR"}}, 13),
        ([1, 3, 4, 5], {"mean_values": [10, 20, 30], "scale_values": [2, 4, 8], "encoding": {"from": "RGB", "to": "BGR"}}, 11),
        ([1, 4, 5, 3], {"layout": "NHWC", "mean_values": [1, 2, 3], "scale_values": 255, "encoding": {"from": "BGR", "to": "RGB"}}, 17),
        ([1, 1, 6, 6], {"mean_values": 127.5, "scale_values": 127.5}, 13),
        ([1, 3, 4, 4], {"encoding": "RGB", "mean_values": "imagenet", "scale_values": "imagenet"}, 18),
    ],
)
def test_inserted_normalization_matches_numpy(shape, data, opset):
    model = identity_net(shape, opset=opset)
    stage = _stage(data, model)
    spec = stage.inputs[0]
    out = attach_normalization(model, stage)
    x = _image(shape)
    got = run_onnx(out, {"x": x})["out"]
    expected = normalize_numpy(x, spec)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    # And against an independent formula, not only our own numpy helper.
    axis = spec.layout.index("C")
    manual = x.copy()
    if spec.reverse_channels:
        manual = np.flip(manual, axis=axis)
    bshape = [1] * 4
    bshape[axis] = shape[axis]
    manual = (manual - np.array(spec.mean, np.float32).reshape(bshape)) / np.array(spec.scale, np.float32).reshape(bshape)
    np.testing.assert_allclose(got, manual, rtol=1e-6, atol=1e-5)


def test_channel_reversal_really_swaps_first_and_last_channel():
    model = identity_net([1, 3, 2, 2])
    out = attach_normalization(model, _stage({"encoding": {"from": "RGB", "to": "BGR"}}, model))
    x = np.stack([np.full((2, 2), v, np.float32) for v in (1, 2, 3)])[None]
    got = run_onnx(out, {"x": x})["out"]
    assert got[0, :, 0, 0].tolist() == [3, 2, 1]


def test_no_reversal_when_encodings_match_and_no_nodes_without_normalization():
    model = identity_net([1, 3, 2, 2])
    out = attach_normalization(model, _stage({"encoding": "BGR"}, model))
    assert [n.op_type for n in out.graph.node] == ["Identity"]


def test_uint8_input_gets_a_cast_and_shape_is_fixed():
    model = conv_net(dynamic_hw=True, dynamic_batch=True)
    stage = _stage({"inputs": [{"name": "x", "shape": [1, 3, 12, 12], "data_type": "uint8", "encoding": "BGR"}]}, model)
    out = attach_normalization(model, stage)
    x_in = out.graph.input[0]
    assert x_in.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in x_in.type.tensor_type.shape.dim] == [1, 3, 12, 12]
    img = np.random.default_rng(0).integers(0, 256, size=(1, 3, 12, 12)).astype(np.uint8)
    ref = run_onnx(model, {"x": img.astype(np.float32)})["out"]
    np.testing.assert_allclose(run_onnx(out, {"x": img})["out"], ref, rtol=1e-5, atol=1e-6)


def test_frozen_input_becomes_a_constant_and_only_listed_inputs_are_normalized():
    model = two_input_net()
    stage = _stage(
        {"inputs": [{"name": "image", "mean_values": 5, "encoding": "RGB"}, {"name": "gain", "frozen_value": [1, 2, 3, 4]}]},
        model,
    )
    out = attach_normalization(model, stage)
    assert [i.name for i in out.graph.input] == ["image"]
    img = _image([1, 3, 8, 8])
    got = run_onnx(out, {"image": img})
    ref = run_onnx(model, {"image": img - 5, "gain": np.array([[1, 2, 3, 4]], np.float32)})
    np.testing.assert_allclose(got["out"], ref["out"], rtol=1e-5, atol=1e-5)


def test_outputs_select_graph_outputs_and_intermediate_tensors():
    model = two_input_net()
    out = attach_normalization(model, _stage({"outputs": [{"name": "aux"}]}, model))
    assert [o.name for o in out.graph.output] == ["aux"]
    assert all(n.op_type != "Mul" for n in out.graph.node)  # the branch to `out` was pruned
    model = conv_net()
    out = attach_normalization(model, _stage({"outputs": [{"name": "r1"}]}, model))
    assert [o.name for o in out.graph.output] == ["r1"]
    assert len(out.graph.output[0].type.tensor_type.shape.dim) == 4


def test_a_graph_out_of_topological_order_is_put_in_order(caplog):
    """onnxruntime runs a graph whose nodes are out of order (imgly's ISNet export is one); the ONNX
    checker, and so the step, refused it with "Nodes in a graph must be topologically sorted". The
    step now orders the nodes, says so on the console, and computes the same."""
    import logging

    from edgeconv.onnx_graph import sort_nodes

    model = conv_net(channels=4, size=8)
    expected = run_onnx(model, {"x": _image([1, 4, 8, 8]) / 255})
    shuffled = onnx.ModelProto()
    shuffled.CopyFrom(model)
    nodes = list(shuffled.graph.node)
    del shuffled.graph.node[:]
    shuffled.graph.node.extend(reversed(nodes))
    with pytest.raises(onnx.checker.ValidationError, match="topologically sorted"):
        onnx.checker.check_model(shuffled)
    stage = _stage({"mean_values": 0, "scale_values": 255}, shuffled)
    with caplog.at_level(logging.WARNING, logger="edgeconv.progress"):
        out = attach_normalization(shuffled, stage)
    assert "were not in topological order" in caplog.text
    onnx.checker.check_model(out)
    got = run_onnx(out, {"x": _image([1, 4, 8, 8])})
    np.testing.assert_allclose(got["out"], expected["out"], rtol=1e-5, atol=1e-5)
    assert not sort_nodes(out.graph)  # in order now: nothing moves


def test_a_graph_with_a_cycle_is_refused_by_name():
    from edgeconv.errors import ConversionError
    from edgeconv.onnx_graph import sort_nodes

    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["b"], ["a"], name="first"), onnx.helper.make_node("Relu", ["a"], ["b"], name="second")],
        "cycle", [], [onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])])
    with pytest.raises(ConversionError, match="the graph has a cycle through node 'first'"):
        sort_nodes(graph)
