"""rvc4.encodings (modelconv 0.6.x): parsing, strict names, IO normalization, the SNPE command line
and onnxruntime TensorQuantOverrides that really change the QDQ model."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeconv import encodings
from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.errors import ConfigError
from edgeconv.onnx_io import model_info
from edgeconv.targets import rvc4
from models import conv_net


def _rvc4(section):
    return validate_model_config({"input_model": "m.onnx", "rvc4": section}, "m", "m.yaml").stages["m"].rvc4


def test_inline_json_text_and_path_forms():
    payload = {"activation_encodings": {"r1": [{"bitwidth": 16, "dtype": "int"}]}, "param_encodings": {}}
    assert _rvc4({"encodings": payload}).encodings == payload
    assert _rvc4({"encodings": json.dumps(payload)}).encodings == payload
    assert _rvc4({"encodings": "enc/overrides.json"}).encodings == "enc/overrides.json"
    moved = _rvc4({"snpe_onnx_to_dlc_args": ["--foo", "--quantization_overrides=o.json"]})
    assert moved.encodings == "o.json" and moved.snpe_onnx_to_dlc_args == ["--foo"]
    assert _rvc4({}).normalize_io_encodings is True and _rvc4({}).strict_quantization_overrides is False


@pytest.mark.parametrize(
    "section, message",
    [
        ({"encodings": {"activation_encodings": {"r1": [{"bitwidth": 12}]}}}, "activation_encodings.r1[0].bitwidth: 12"),
        ({"encodings": {"activation_encodings": {"r1": [{"bits": 8}]}}}, "unknown field(s) ['bits']"),
        ({"encodings": {"param_encodings": [{"bitwidth": 8}]}}, "param_encodings[0]: a list entry must be a mapping with a tensor `name`"),
        ({"encodings": {"param_encodings": {"w1": [{"scale": [1, 2], "offset": [0]}]}}}, "different lengths [1, 2]"),
        ({"encodings": {"param_encodings": {"w1": [{"scale": 0.1}]}}}, "`scale` needs `offset`"),
        ({"encodings": {"activation_encodings": {"r1": [{"is_symmetric": "maybe"}]}}}, "is_symmetric: 'maybe'"),
        ({"encodings": {"layers": {}}}, "unknown key(s) ['layers']"),
        ({"encodings": "{not json"}, "the inline JSON does not parse"),
        ({"encodings": "a.json", "snpe_onnx_to_dlc_args": ["--quantization_overrides", "b.json"]}, "not both"),
        ({"snpe_onnx_to_dlc_args": ["--quantization_overrides"]}, "needs a path after it"),
    ],
)
def test_bad_encodings_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        _rvc4(section)
    first = str(err.value).splitlines()[0]
    assert first.startswith("m.yaml: rvc4") and message in first


def test_io_normalization_as_the_reference():
    payload = {
        "activation_encodings": {"x": [{"bitwidth": 16, "dtype": "int", "scale": 0.1, "offset": -3}],
                                 "r1": [{"bitwidth": 16}]},
        "param_encodings": {"w1": [{"bitwidth": 8}]},
    }
    out = encodings.normalize_io(payload, ["x", "out"])
    assert out["activation_encodings"]["x"] == [{"bitwidth": 8, "dtype": "int"}]
    assert out["activation_encodings"]["out"] == [{"bitwidth": 8, "dtype": "int"}]
    assert out["activation_encodings"]["r1"] == [{"bitwidth": 16}]  # internal tensors kept
    assert payload["activation_encodings"]["x"][0]["bitwidth"] == 16  # the input is not changed
    listed = encodings.normalize_io({"activation_encodings": [{"name": "x", "bw": 16}]}, ["x", "out"])
    assert listed["activation_encodings"] == [{"name": "x", "bitwidth": 8, "dtype": "int"},
                                              {"name": "out", "bitwidth": 8, "dtype": "int"}]


def test_strict_names_are_checked_against_the_model(tmp_path):
    model = tmp_path / "m.onnx"
    conv_net(model)
    good = {"activation_encodings": {"r1": [{"bitwidth": 16}]}, "param_encodings": {"w1": [{"bitwidth": 8}]}}
    encodings.check_names(good, model)
    wrong = {"activation_encodings": {"w1": [{"bitwidth": 16}], "nope": [{"bitwidth": 8}]}, "param_encodings": {"r1": [{"bitwidth": 8}]}}
    with pytest.raises(encodings.EncodingsError) as err:
        encodings.check_names(wrong, model)
    text = str(err.value)
    assert "'w1' is a parameter: move it to param_encodings" in text
    assert "no activation 'nope'" in text and "'r1' is an activation: move it to activation_encodings" in text
    with pytest.raises(encodings.EncodingsError, match="not one"):
        encodings.for_model(good, None, tmp_path / "m.tflite", [], strict=True, normalize=True)


def test_snpe_gets_the_overrides_file_except_for_fp16(tmp_path):
    model = tmp_path / "m.onnx"
    conv_net(model)
    cfg = validate_model_config({"input_model": str(model)}, "m", "m.yaml")
    stage = resolve_stage(cfg.stages["m"], model_info(onnx.load(model), str(model)), "m.yaml")
    argv = rvc4.onnx_to_dlc_argv("snpe-onnx-to-dlc", "in.onnx", "o.dlc", stage, False, [], "ov.json")
    assert argv[-4:] == ["--quantization_overrides", "ov.json", "-o", "o.dlc"]
    assert "--quantization_overrides" not in rvc4.onnx_to_dlc_argv("t", "in.onnx", "o.dlc", stage, True, [], "ov.json")
    user = rvc4.onnx_to_dlc_argv("t", "in.onnx", "o.dlc", stage, False, ["--quantization_overrides", "mine.json"], "ov.json")
    assert user.count("--quantization_overrides") == 1


def test_tensor_quant_overrides_mapping(tmp_path):
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import QuantType

    model = tmp_path / "m.onnx"
    conv_net(model)
    w1 = numpy_helper.to_array(next(t for t in onnx.load(model).graph.initializer if t.name == "w1"))
    scales = [0.01 * (i + 1) for i in range(w1.shape[0])]
    payload = {
        "activation_encodings": {
            "r1": [{"bitwidth": 16, "dtype": "int", "is_symmetric": "False", "scale": 0.001, "offset": -100}],
            "c1": [{"bitwidth": 8, "min": -2.0, "max": 6.0}],
            "missing": [{"bitwidth": 8}],
        },
        "param_encodings": {
            "w1": [{"bitwidth": 8, "is_symmetric": "True", "scale": scales, "offset": [-128] * len(scales)}],
            "b1": [{"bitwidth": 32}],
        },
    }
    overrides, note = encodings.to_tensor_quant_overrides(payload, model)
    assert note == {"applied": ["c1", "r1", "w1"], "skipped": {
        "b1": "32-bit (onnxruntime quantizes biases to int32 by itself)", "missing": "not an activation of the model"}}
    r1 = overrides["r1"][0]
    assert r1["quant_type"] == QuantType.QUInt16 and r1["zero_point"] == 100 and r1["zero_point"].dtype == np.uint16
    assert overrides["c1"][0]["rmin"] == -2.0 and overrides["c1"][0]["rmax"] == 6.0
    w = overrides["w1"]
    assert len(w) == w1.shape[0] and w[0]["axis"] == 0 and w[0]["quant_type"] == QuantType.QInt8
    assert [float(e["scale"]) for e in w] == pytest.approx(scales) and all(int(e["zero_point"]) == 0 for e in w)
    with pytest.raises(encodings.EncodingsError, match="dtype float cannot be simulated"):
        encodings.to_tensor_quant_overrides({"activation_encodings": {"r1": [{"bitwidth": 16, "dtype": "float"}]}}, model)


def test_qdq_quantization_follows_the_encodings(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    from edgeconv.targets.qnn_htp import quantize_qdq

    model = tmp_path / "m.onnx"
    conv_net(model, size=16)
    rng = np.random.default_rng(0)
    calibration = {"x": rng.standard_normal((8, 1, 3, 16, 16)).astype(np.float32)}
    payload = encodings.normalize_io({"activation_encodings": {"r1": [{"bitwidth": 16, "dtype": "int"}]}}, ["x", "out"])
    plain, pinned = tmp_path / "plain.onnx", tmp_path / "pinned.onnx"
    quantize_qdq(model, calibration, plain, "INT8_STANDARD", True)
    call = quantize_qdq(model, calibration, pinned, "INT8_STANDARD", True, payload)
    assert "r1" in call["tensor_quant_overrides"]["applied"]

    def zero_point_type(path, tensor):
        graph = onnx.load(path).graph
        q = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor)
        zp = next(t for t in graph.initializer if t.name == q.input[2])
        return zp.data_type

    assert zero_point_type(plain, "r1") == onnx.TensorProto.UINT8
    assert zero_point_type(pinned, "r1") == onnx.TensorProto.UINT16
    assert zero_point_type(pinned, "x") == onnx.TensorProto.UINT8  # exposed tensors stay 8-bit


def test_a_qdq_model_becomes_its_float_form_and_its_own_encodings(tmp_path):
    """from_qdq: no Q/DQ node is left; each activation pair is a Clip to its range (onnxruntime's
    quantizer drops a Relu after a Conv and leaves the clamp to the quantization), so the float form
    computes what the QDQ model does up to rounding; weights keep per-channel encodings, int32
    biases none; the grid's numbers follow AIMET's convention (real = (q + offset) * scale)."""
    import numpy as np
    import onnx

    from edgeconv.encodings import from_qdq
    from edgeconv.onnx_graph import quantization_nodes
    from edgeconv.runtime import onnx_runner
    from edgeconv.targets.qnn_htp import quantize_qdq
    from models import conv_net

    conv_net(tmp_path / "f.onnx", size=16)
    rng = np.random.default_rng(0)
    quantize_qdq(tmp_path / "f.onnx", {"x": rng.uniform(-2, 2, (8, 1, 3, 16, 16)).astype(np.float32)},
                 tmp_path / "q.onnx", "INT8_STANDARD", True)
    qdq = onnx.load(str(tmp_path / "q.onnx"))
    float_model, payload = from_qdq(qdq)
    onnx.checker.check_model(float_model)
    assert quantization_nodes(float_model) == {} and quantization_nodes(qdq)["QuantizeLinear"] >= 4
    assert [o.name for o in float_model.graph.output] == [o.name for o in qdq.graph.output]
    x = {"x": rng.uniform(-2, 2, (1, 3, 16, 16)).astype(np.float32)}
    a, b = onnx_runner(qdq)(x)["out"].ravel(), onnx_runner(float_model)(x)["out"].ravel()
    assert float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9999
    params = payload["param_encodings"]
    assert len(params) == 2 and all(len(v) > 1 for v in params.values())  # per channel, the two convs' weights
    enc = payload["activation_encodings"]["x"][0]
    assert enc["bitwidth"] == 8 and enc["is_symmetric"] in ("True", "False")
    assert enc["max"] - enc["min"] == pytest.approx(255 * enc["scale"], rel=1e-6)
    assert enc["min"] == pytest.approx(enc["offset"] * enc["scale"], rel=1e-6)  # q = 0 on AIMET's grid
