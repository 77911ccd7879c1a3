"""Accuracy control on a model built with exactly one sensitive layer: plain INT8 fails the gate,
the search passes it by promoting exactly that layer (HTP: to 16 bits; OpenVINO: NNCF returns it to
float), and a gate that cannot be met stops with the best figure reached."""


import numpy as np
import pytest

from edgeconv import accuracy_control as ac
from models import conv_net, sensitive_net


def _calibration(n=16, seed=1):
    return {"x": np.random.default_rng(seed).standard_normal((n, 1, 4, 8, 8)).astype(np.float32)}


def test_split_holds_back_the_verify_samples():
    stats, held = ac.split(_calibration(16), 0.25, min_validation=6)
    assert len(held["x"]) == 6 and len(stats["x"]) == 10
    np.testing.assert_array_equal(held["x"], _calibration(16)["x"][:6])  # verify reads the first samples
    assert len(ac.split(_calibration(3), 0.9, 8)[0]["x"]) == 1
    with pytest.raises(Exception, match="at least 2 calibration samples"):
        ac.split(_calibration(1), 0.25, 1)


def test_ranking_puts_the_large_range_activation_first(tmp_path):
    model = sensitive_net(tmp_path / "s.onnx")
    candidates = ac.activation_candidates(model, {"x", "out"})
    assert set(candidates) == {"a", "r", "wide", "b", "rb", "c", "g"}
    ranked = ac.rank_by_sensitivity(model, _calibration(), candidates)
    assert ranked[0][0] == "wide"


def _htp_quantize(model):
    from edgeconv.targets.qnn_htp import quantize_qdq

    def quantize(statistics, encodings, out):
        quantize_qdq(model, statistics, out, "INT8_STANDARD", True, encodings)

    return quantize


def test_htp_search_promotes_exactly_the_sensitive_layer(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = sensitive_net(tmp_path / "s.onnx")
    gate = {"min_cosine": 0.99}
    budget = ac.Budget(max_trials=8)
    encodings, record = ac.htp_search(model, _calibration(), gate, budget, 4, _htp_quantize(model), tmp_path,
                                      keep_8bit={"x", "out"})
    assert record["plain_int8_worst_cosine"] < 0.99  # plain INT8 fails the gate ...
    assert record["kept_higher_precision"] == ["wide"]  # ... promoting exactly `wide` passes it
    assert record["final_worst_cosine"] >= 0.99 and record["trials"][0]["passed"] is False
    assert encodings["activation_encodings"] == {"wide": [{"bitwidth": 16, "dtype": "int"}]}
    assert record["share_8bit"] == round(1 - 1 / 10, 4) and record["gate_samples"] == 4  # 7 activations, 3 weights


def test_htp_search_that_cannot_meet_the_gate_stops_with_the_best_figure(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = sensitive_net(tmp_path / "s.onnx")
    with pytest.raises(ac.GateNotMet) as err:
        ac.htp_search(model, _calibration(), {"min_cosine": 0.999999999}, ac.Budget(max_trials=3), 4,
                      _htp_quantize(model), tmp_path, keep_8bit={"x", "out"})
    text = str(err.value)
    assert text.startswith("accuracy control (qnn_htp): the gate {'min_cosine': 0.999999999} was not met within the budget (3 trials")
    assert "activations and 0 of 3 weights at 16 bits" in text
    assert "best worst-output cosine" in text and "on 'out'" in text


def test_plain_int8_that_passes_promotes_nothing(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = tmp_path / "plain.onnx"
    conv_net(model, channels=4, size=8)  # no sensitive layer: INT8 is within cosine 0.98
    encodings, record = ac.htp_search(model, _calibration(), {"min_cosine": 0.98}, ac.Budget(), 4,
                                      _htp_quantize(model), tmp_path, keep_8bit={"x", "out"})
    assert encodings is None and record["kept_higher_precision"] == [] and len(record["trials"]) == 1


def test_openvino_search_returns_the_sensitive_layer_to_float(tmp_path):
    from edgeconv.targets.openvino import read_onnx

    model = read_onnx(sensitive_net(tmp_path / "s.onnx"))
    quantized, record = ac.openvino_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=6), 4,
                                           {"preset": "performance"})
    assert record["plain_int8_worst_cosine"] < 0.99 and record["final_worst_cosine"] >= 0.99
    # NNCF returns exactly the layer that reads the large-range activation (Conv `b`) to float.
    assert record["kept_higher_precision"] == ["b"], record
    assert record["share_8bit"] < 1.0 and record["trials"][-1]["quantizers_removed"] == 1
