"""FP16 gates at the model's floor: what FP16 arithmetic itself costs the original (its weights, or
every tensor, rounded to FP16 and run in float32) bounds what an FP16 artifact can reach, and the
gate sits a small margin under it when the configured min_cosine is above it."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeconv.comparison import _fp16_model, compare, floor_gate, fp16_floor, reference
from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info


def _cancelling_net(path, eps=2e-4):
    """y = x @ W1 - x @ W2 with W2 = W1 + eps-sized changes below FP16's resolution at |W| ~ 8:
    the difference the model computes is mostly lost when its weights are rounded to FP16."""
    rng = np.random.default_rng(0)
    w1 = (8 + rng.standard_normal((16, 8))).astype(np.float32)
    w2 = (w1 + eps * rng.standard_normal((16, 8))).astype(np.float32)
    w3 = rng.standard_normal((16, 8)).astype(np.float32) * 2e-3  # a path FP16 keeps
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("MatMul", ["x", "w2"], ["b"]),
         helper.make_node("MatMul", ["x", "w3"], ["c"]), helper.make_node("Sub", ["a", "b"], ["d"]),
         helper.make_node("Add", ["d", "c"], ["y"])],
        "cancel", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(w3, "w3")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return model


@pytest.fixture
def case(tmp_path):
    original = tmp_path / "m.onnx"
    model = _cancelling_net(original)
    cfg = validate_model_config({"input_model": str(original)}, "m", "m.yaml")
    stage = resolve_stage(cfg.stages["m"], model_info(model, str(original)), "m.yaml")
    rng = np.random.default_rng(1)
    calibration = {"x": rng.standard_normal((4, 1, 16)).astype(np.float32)}
    samples, expected = reference(original, stage, calibration, 4)
    return tmp_path, original, model, stage, samples, expected


def test_the_floor_is_what_fp16_weights_cost_and_an_artifact_at_the_floor_passes(case):
    tmp_path, original, model, stage, samples, expected = case
    floors = fp16_floor(original, stage, samples, expected)
    assert floors is not None and 0.5 < floors["y"] < 0.999  # FP16 itself costs this model a lot
    # The artifact: the same model with FP16 weights (what an FP16 IR computes on the CPU).
    artifact = tmp_path / "fp16.onnx"
    onnx.save(_fp16_model(onnx.load(original), activations=False), artifact)
    gated = compare(original, artifact, stage, samples, expected, {"min_cosine": 0.999}, floors=floors)
    assert gated["passed"], gated["failures"]
    out = gated["outputs"]["y"]
    assert out["cosine"] == pytest.approx(floors["y"], abs=1e-6)
    assert out["fp16_floor_cosine"] == floors["y"] and out["min_cosine_used"] == floor_gate(0.999, floors["y"])
    # Without the floor the same artifact is refused at 0.999: the old behaviour, and the reason for this.
    assert not compare(original, artifact, stage, samples, expected, {"min_cosine": 0.999})["passed"]


def test_an_artifact_worse_than_the_floor_allows_fails_and_says_so(case):
    tmp_path, original, model, stage, samples, expected = case
    floors = fp16_floor(original, stage, samples, expected)
    worse = onnx.load(original)
    w3 = next(i for i in worse.graph.initializer if i.name == "w3")
    w3.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(w3), "w3"))  # a path the conversion broke
    artifact = tmp_path / "broken.onnx"
    onnx.save(_fp16_model(worse, activations=False), artifact)
    report = compare(original, artifact, stage, samples, expected, {"min_cosine": 0.999}, floors=floors)
    assert not report["passed"]
    assert f"the gate under the model's FP16 floor {floors['y']:.6f}" in report["failures"][0]


def test_the_gate_is_the_configured_one_when_the_floor_is_above_it():
    assert floor_gate(0.999, 0.999999) == 0.999
    assert floor_gate(0.999, 0.998723) == pytest.approx(0.998723 - max(0.0002, 0.25 * (1 - 0.998723)))
    assert floor_gate(0.98, 0.9) < 0.9


def test_activations_in_fp16_lower_the_floor_further_and_a_non_onnx_original_has_none(case, tmp_path):
    _, original, model, stage, samples, expected = case
    weights = fp16_floor(original, stage, samples, expected)
    both = fp16_floor(original, stage, samples, expected, activations=True)
    assert both["y"] <= weights["y"] + 1e-9
    casts = [n for n in _fp16_model(onnx.load(original), activations=True).graph.node if n.op_type == "Cast"]
    assert len(casts) == 2 * 5  # every float tensor a node makes, to FP16 and back
    assert fp16_floor(tmp_path / "m.xml", stage, samples, expected) is None
