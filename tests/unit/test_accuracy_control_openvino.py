"""OpenVINO accuracy control on a model built with exactly one sensitive layer (`b`, the Conv that
reads the large-range activation `wide`): plain INT8 fails the gate; both methods return exactly
that layer to float; the ranking finds it first without a trial; a gate that cannot be met stops
with the best figure measured and where."""

import numpy as np
import pytest

from edgeconv import accuracy_control as ac
from edgeconv import accuracy_control_openvino as aco
from models import conv_net, sensitive_net


def _calibration(n=16, seed=1):
    return {"x": np.random.default_rng(seed).standard_normal((n, 1, 4, 8, 8)).astype(np.float32)}


def _model(tmp_path, build=sensitive_net):
    from edgeconv.targets.openvino import read_onnx

    return read_onnx(build(tmp_path / "s.onnx"))


@pytest.mark.parametrize("method", ["ranked", "nncf"])
def test_each_method_returns_exactly_the_sensitive_layer_to_float(tmp_path, method):
    lines = []
    quantized, record = aco.openvino_search(_model(tmp_path), _calibration(), {"min_cosine": 0.99},
                                            ac.Budget(max_trials=6), 4,
                                            {"preset": "performance", "accuracy_control": {"method": method}},
                                            progress=lines.append)
    assert record["method"] == method
    assert record["plain_int8_worst_cosine"] < 0.99 and record["final_worst_cosine"] >= 0.99
    assert record["kept_higher_precision"] == ["b"], record
    # Five layers are INT8 in plain INT8 (the four Convs and the pooling: each reads a quantizer or a
    # weight stored in 8 bits); four stay INT8.
    assert record["candidates"] == 5 and record["share_8bit"] == 0.8
    assert aco.quantized_layers(quantized) == {"a", "wide", "c", "g"}
    assert lines[0].startswith("trial 0: plain INT8 (5 layers in INT8): worst cosine ")
    if method == "ranked":
        # One trial is enough: the ranking put `b` first. A progress line for it, with the budget left.
        assert [t["kind"] for t in record["trials"]] == ["nncf.quantize", "top k of the ranking"]
        assert lines[-1].startswith("trial 1: the top 1 of 5 ranked layer(s) in float (4 of 5 layers still INT8): ")
        assert "(meets the gate)" in lines[-1] and "trial(s)" in lines[-1]


def test_the_ranking_puts_the_layer_reading_the_large_range_activation_first(tmp_path):
    import nncf

    model = _model(tmp_path)
    samples = [{"x": x} for x in _calibration()["x"]]
    plain = nncf.quantize(model, nncf.Dataset(samples), subset_size=16)
    ranked = aco.layer_noise(model, plain, samples)
    assert [name for name, _ in ranked][0] == "b" and {name for name, _ in ranked} == {"a", "wide", "b", "c", "g"}
    assert ranked[0][1] > 10 * ranked[1][1]  # by far: `wide`'s 8-bit steps are larger than b's whole signal
    # The caller's models are not touched by the rewiring the ranking does on its copies.
    assert aco.quantized_layers(plain) == {"a", "wide", "b", "c", "g"}
    assert {op.get_type_name() for op in model.get_ops()} >= {"Convolution"} and not any(
        op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def test_plain_int8_that_passes_searches_nothing(tmp_path):
    quantized, record = aco.openvino_search(_model(tmp_path, lambda p: conv_net(p, channels=4, size=8) and p), _calibration(),
                                            {"min_cosine": 0.98}, ac.Budget(), 4, {"accuracy_control": {}})
    assert record["method"] == "none needed" and len(record["trials"]) == 1 and record["kept_higher_precision"] == []
    assert record["share_8bit"] == 1.0


def test_a_gate_the_budget_cannot_reach_names_the_best_figure_and_where(tmp_path):
    # Cosine 1 - 1e-9 against the float model: not with the one trial the budget leaves.
    with pytest.raises(ac.GateNotMet) as err:
        aco.openvino_search(_model(tmp_path), _calibration(), {"min_cosine": 0.999999999}, ac.Budget(max_trials=2), 4,
                            {"accuracy_control": {"method": "ranked"}})
    message = str(err.value)
    assert message.startswith("accuracy control (openvino, ranked): the gate {'min_cosine': 0.999999999} was not met")
    assert "within the budget (2 trials" in message and "measured in OpenVINO CPU" in message
    assert "best worst cosine 0.99" in message and "try method: nncf" in message


def test_every_layer_reverted_gives_back_the_float_model_and_leaves_plain_as_it_was(tmp_path):
    import nncf
    import openvino as ov

    model = _model(tmp_path)
    samples = [{"x": x} for x in _calibration()["x"]]
    plain = nncf.quantize(model, nncf.Dataset(samples), subset_size=16)  # fast bias correction on: biases moved
    floats = model.clone()
    everything = aco.reverted(plain, {op.get_friendly_name(): op for op in floats.get_ops()},
                              sorted(aco.quantized_layers(plain)))
    assert aco.quantized_layers(everything) == set() and aco.quantized_layers(plain) == {"a", "wide", "b", "c", "g"}
    core = ov.Core()
    want = core.compile_model(model, "CPU")(samples[0])[0]
    got = core.compile_model(everything, "CPU")(samples[0])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # float weights, float biases, no quantizer
    assert not np.allclose(core.compile_model(plain, "CPU")(samples[0])[0], want, rtol=1e-3, atol=1e-3)


def test_the_gate_is_measured_against_the_reference_runtime(tmp_path):
    # A reference that disagrees with OpenVINO's float run (negated outputs, cosine 0 or below, read as
    # 0): every figure is measured against it, not against OpenVINO's own float run (0.99 and up).
    from edgeconv.runtime import onnx_runner

    path = sensitive_net(tmp_path / "r.onnx")
    run = onnx_runner(path)
    with pytest.raises(ac.GateNotMet, match=r"best worst cosine 0\.0+ on .out."):
        aco.openvino_search(_model(tmp_path), _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=1), 4,
                            {"accuracy_control": {"method": "ranked"}},
                            reference=lambda feeds: {k: -v for k, v in run(feeds).items()})


def test_pruning_returns_to_int8_each_chosen_layer_the_gate_holds_without():
    """The ranking's top 4 pass, but only `b` and `d` are needed: the others go back to INT8, tried
    from the last ranked; a trial the budget refuses (None) ends the pruning with what passed."""
    search = aco.RankedSearch.__new__(aco.RankedSearch)
    tried = []

    def measure(names, what, kind):
        tried.append(list(names))
        return {"passed": {"b", "d"} <= set(names), "in_float": len(names)}, tuple(names)

    search.measure = measure
    row, model = search.prune(["a", "b", "c", "d"], {"passed": True}, ("a", "b", "c", "d"))
    assert model == ("b", "d") and row["in_float"] == 2
    # Without d: fails (kept); without c: passes (gone); without b: fails (kept); without a: passes (gone).
    assert tried == [["a", "b", "c"], ["a", "b", "d"], ["a", "d"], ["b", "d"]]
    search.measure = lambda names, what, kind: None
    assert search.prune(["a", "b"], {"passed": True}, "m") == ({"passed": True}, "m")


def _pooled_net(path):
    """conv -> MaxPool -> Resize (x2) -> conv: the pooling and the resize are quantize-agnostic, and
    NNCF puts a quantizer in front of them."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32), "w1"),
             numpy_helper.from_array((rng.standard_normal((4, 8, 3, 3)) * 0.3).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c1"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Resize", ["p", "", "scales"], ["r"], name="resize", mode="linear"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_quantize_agnostic_layers_are_candidates_so_all_in_float_is_float(tmp_path):
    """A MaxPool or a Resize that reads a quantizer counts as INT8 (NNCF's quantizer in front of it
    is theirs to lift). They were left out of the ranking, so with every ranked layer in float their
    quantizers stayed (MediaPipe's pose landmarks: 0.64 with "all 124 ranked layers in float", 8
    of 132 layers still INT8)."""
    import nncf

    model = _model(tmp_path, _pooled_net)
    samples = [{"x": x} for x in _calibration()["x"]]
    plain = nncf.quantize(model, nncf.Dataset(samples), subset_size=16)
    agnostic = aco.quantized_layers(plain) - aco.owned_layers(plain)
    assert agnostic and {op.get_type_name() for op in plain.get_ops() if op.get_friendly_name() in agnostic} <= {
        "MaxPool", "Interpolate"}
    ranked = [name for name, _ in aco.layer_noise(model, plain, samples)]
    assert set(ranked) == aco.quantized_layers(plain)
    floats = model.clone()
    everything = aco.reverted(plain, {op.get_friendly_name(): op for op in floats.get_ops()}, ranked)
    assert aco.quantized_layers(everything) == set()
    assert not any(op.get_type_name() == "FakeQuantize" for op in everything.get_ops())


def test_trials_are_measured_in_f32_where_the_cpu_would_use_bf16(tmp_path):
    """OpenVINO's CPU plugin computes in bf16 on CPUs that have it (this machine's do), three
    significant digits: accuracy control measured that instead of the model (MediaPipe's pose
    landmarks: 0.76 with every layer in float). Its runs are f32 now, as verify's are."""
    from edgeconv.threads import measuring_config

    assert measuring_config()["INFERENCE_PRECISION_HINT"] == "f32"
    model = _model(tmp_path, _pooled_net)
    calibration = _calibration()
    gate = aco._Gate(model, calibration, {"min_cosine": 0.99}, ac.Budget(max_trials=2), 4, None, False)
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    for feeds, got in zip(gate.feeds, gate.run(model)):
        want = session.run(None, feeds)[0]
        np.testing.assert_allclose(got["y"], want, rtol=1e-4, atol=1e-4)  # bf16 misses this by ~1e-2
