"""Model config: the reference's YAML format, overrides, and errors that name file, key and fix."""

from pathlib import Path

import pytest
import yaml

from edgeconv.config.loader import apply_overrides, load_model_config, validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.errors import ConfigError
from edgeconv.onnx_io import model_info
from models import conv_net, two_input_net


def _write(tmp_path: Path, data: dict, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_reference_shorthand_with_defaults_and_named_values(tmp_path):
    cfg = validate_model_config(
        {
            "input_model": "models/m.onnx",
            "mean_values": "imagenet",
            "scale_values": "imagenet",
            "encoding": "BGR",
            "calibration": {"path": "cal", "max_images": 5, "resize_method": "PAD"},
            "disable_onnx_simplification": True,
            "rvc4": {"quantization_mode": "FP16_STANDARD", "htp_socs": ["sm8550", "qcs8550"]},
            "rvc2": {"number_of_shaves": 6, "superblob": False, "mo_args": ["--foo"]},
            "hailo": {"hw_arch": "hailo8l", "alls": ["x=1"]},
        },
        "m",
        "m.yaml",
    )
    stage = cfg.stages["m"]
    assert stage.mean_values == [123.675, 116.28, 103.53]
    assert stage.scale_values == [58.395, 57.12, 57.375]
    assert (stage.encoding.from_, stage.encoding.to) == ("BGR", "BGR")
    assert stage.onnx_simplification is False
    assert stage.calibration.path == "cal" and stage.calibration.resize_method == "PAD"
    # FP16_STANDARD disables calibration like the reference.
    assert stage.rvc4.disable_calibration is True
    assert stage.rvc2.number_of_shaves == 6 and stage.hailo.hw_arch == "hailo8l"
    # Reference defaults.
    assert stage.rvc4.htp_socs == ["sm8550", "qcs8550"] and stage.rvc4.optimization_level == 2
    assert stage.hailo.optimization_level == 2 and stage.rvc3.pot_target_device == "VPU"


def test_superblob_forces_eight_shaves():
    cfg = validate_model_config({"input_model": "m.onnx", "rvc2": {"number_of_shaves": 4}}, "m", "m.yaml")
    assert cfg.stages["m"].rvc2.number_of_shaves == 8


def test_stages_get_top_level_defaults():
    cfg = validate_model_config(
        {
            "name": "two",
            "mean_values": [1, 2, 3],
            "stages": {"backbone": {"input_model": "a.onnx"}, "head": {"input_model": "b.onnx", "mean_values": 0}},
        },
        "x",
        "two.yaml",
    )
    assert cfg.name == "two"
    assert cfg.stages["backbone"].mean_values == [1, 2, 3]
    assert cfg.stages["head"].mean_values == [0.0]


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"input_model": "m.onnx", "rvc4": {"quantization_mod": "X"}}, "unknown key 'rvc4.quantization_mod'; did you mean 'rvc4.quantization_mode'?"),
        ({"input_model": "m.onnx", "inputs": [{"name": "x", "mean_value": [1]}]}, "unknown key 'inputs.0.mean_value'; did you mean 'inputs.0.mean_values'?"),
        ({"input_model": "m.onnx", "calibraton": "random"}, "unknown key 'calibraton'; did you mean 'calibration'?"),
        ({"input_model": "m.onnx", "calibration": {"path": "d", "max_imags": 3}}, "unknown key 'calibration.max_imags'; did you mean 'calibration.max_images'?"),
        ({"input_model": "m.onnx", "rvc4": {"quantization_mode": "INT4"}}, "rvc4.quantization_mode: Input should be"),
        ({"input_model": "m.onnx", "hailo": {"optimization_level": 7}}, "hailo.optimization_level"),
        ({"input_model": "m.onnx", "onnx_simplification": "fast"}, "onnx_simplification"),
        ({"input_model": "m.onnx", "inputs": [{"name": "x", "scale_values": [1, 0, 1]}]}, "inputs.0.scale_values: scale values must be non-zero"),
        ({"input_model": "m.onnx", "inputs": [{"name": "x", "shape": "big"}]}, "inputs.0.shape"),
        ({"input_model": "m.onnx", "mean_values": "coco"}, "mean_values: unknown named mean values 'coco'"),
        ({"inputs": []}, "input_model: missing"),
    ],
)
def test_invalid_configs_name_file_and_key(data, expected):
    with pytest.raises(ConfigError) as err:
        validate_model_config(data, "m", "config/models/m.yaml")
    message = str(err.value)
    assert message.startswith("config/models/m.yaml: ")
    assert expected in message


def test_stage_key_paths_are_prefixed():
    with pytest.raises(ConfigError, match=r"unknown key 'stages\.head\.rvc2\.shaves'"):
        validate_model_config({"stages": {"head": {"input_model": "a.onnx", "rvc2": {"shaves": 3}}}}, "m", "m.yaml")


def test_overrides_dotted_keys_with_yaml_values(tmp_path):
    raw = {"input_model": "m.onnx", "inputs": [{"name": "x"}]}
    out = apply_overrides(
        raw,
        {"inputs.0.shape": "[1,3,320,320]", "rvc4.quantization_mode": "FP16_STANDARD", "calibration.max_images": "7"},
        "m.yaml",
    )
    assert out["inputs"][0]["shape"] == [1, 3, 320, 320]
    assert out["rvc4"]["quantization_mode"] == "FP16_STANDARD"
    assert out["calibration"]["max_images"] == 7
    assert raw == {"input_model": "m.onnx", "inputs": [{"name": "x"}]}  # not mutated


def test_override_of_bare_model_inputs_uses_model_input_names(tmp_path):
    model = tmp_path / "m.onnx"
    conv_net(model, dynamic_hw=True)
    cfg = load_model_config("m", None, model, {"inputs.0.shape": "[1,3,20,20]"}, ["x"])
    assert cfg.stages["m"].inputs[0].name == "x" and cfg.stages["m"].inputs[0].shape == [1, 3, 20, 20]


def test_an_override_inside_a_setting_given_as_true_keeps_it_on():
    """`openvino.accuracy_control: true` in the model's config, `openvino.accuracy_control.method:
    nncf` on the command line: a TypeError ('bool' object does not support item assignment) before."""
    from edgeconv.config.loader import validate_model_config

    raw = {"input_model": "m.onnx", "openvino": {"accuracy_control": True}}
    out = apply_overrides(raw, {"openvino.accuracy_control.method": "nncf"}, "m.yaml")
    assert out["openvino"]["accuracy_control"] == {"method": "nncf"}
    stage = validate_model_config(out, "m", "m.yaml").stages["m"]
    assert stage.openvino.accuracy_control.method == "nncf" and stage.openvino.accuracy_control.max_trials == 64
    # A setting given as something else (false, a number) is not a mapping to set keys in: said so.
    with pytest.raises(ConfigError, match=r"override 'openvino.accuracy_control.method': openvino.accuracy_control "
                                          r"is False in the config, not a mapping of settings"):
        apply_overrides({"openvino": {"accuracy_control": False}}, {"openvino.accuracy_control.method": "nncf"}, "m.yaml")


def test_override_errors():
    with pytest.raises(ConfigError, match="index 3 is out of range"):
        apply_overrides({"inputs": [{"name": "x"}]}, {"inputs.3.shape": "[1]"}, "m.yaml")
    with pytest.raises(ConfigError, match="must be a list index"):
        apply_overrides({"inputs": [{"name": "x"}]}, {"inputs.first.shape": "[1]"}, "m.yaml")


def test_yaml_errors_name_the_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("input_model: a.onnx\ninputs: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: is not valid YAML at line"):
        load_model_config("bad", p, None)
    p.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_model_config("bad", p, None)


# --------------------------------------------------------------------------- resolution against the model


def _resolve(data, model):
    cfg = validate_model_config(data, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def test_bare_model_defaults_follow_the_reference():
    stage = _resolve({"input_model": "m.onnx"}, conv_net(dynamic_batch=True))
    x = stage.inputs[0]
    assert x.shape == [1, 3, 16, 16] and x.layout == "NCHW" and x.data_type == "float32"
    assert (x.encoding_from, x.encoding_to) == ("RGB", "BGR") and x.reverse_channels
    assert x.calibration["kind"] == "random"
    assert stage.outputs == ["out"]


def test_gray_and_non_image_inputs():
    gray = _resolve({"input_model": "m.onnx"}, conv_net(channels=1)).inputs[0]
    assert (gray.encoding_from, gray.encoding_to) == ("GRAY", "GRAY") and not gray.reverse_channels
    two = _resolve({"input_model": "m.onnx"}, two_input_net())
    assert two.input("gain").encoding_from == "NONE" and two.input("image").encoding_from == "RGB"


def test_nhwc_layout_is_detected_and_values_broadcast():
    x = _resolve({"input_model": "m.onnx", "scale_values": 255}, conv_net(nhwc=True)).inputs[0]
    assert x.layout == "NHWC" and x.channels == 3 and x.scale == [255.0] * 3


@pytest.mark.parametrize(
    "data, model, expected",
    [
        ({"inputs": [{"name": "x", "mean_values": [1, 2, 3]}]}, conv_net(channels=1), "inputs.0.mean_values: 3 values given for an input with 1 channel(s)"),
        ({"inputs": [{"name": "images"}]}, conv_net(), "inputs.0.name: the model m.onnx has no input 'images'; its inputs are: x"),
        ({}, conv_net(dynamic_hw=True), "inputs.0.shape: input 'x' has dynamic dimension(s) at index 2, 3"),
        ({"inputs": [{"name": "x", "shape": [1, 3, 32, 32]}]}, conv_net(), "dimension 2 is 32 but the model fixes it to 16"),
        ({"inputs": [{"name": "x", "shape": [1, 3, 16]}]}, conv_net(dynamic_hw=True), "has 3 dimensions but input 'x' has 4"),
        ({"inputs": [{"name": "x", "layout": "NCH"}]}, conv_net(), "inputs.0.layout: 'NCH' has 3 letters"),
        ({"inputs": [{"name": "x", "encoding": {"from": "RGB", "to": "BGR"}}]}, conv_net(channels=4), "needs 3 channels"),
        ({"inputs": [{"name": "x", "frozen_value": [1, 2]}]}, conv_net(), "inputs.0.frozen_value: 2 value(s) given"),
        ({"outputs": [{"name": "logits"}]}, conv_net(), "outputs.0.name: the model m.onnx has no tensor 'logits'"),
    ],
)
def test_resolution_errors(data, model, expected):
    with pytest.raises(ConfigError) as err:
        _resolve({"input_model": "m.onnx", **data}, model)
    assert str(err.value).startswith("m.yaml: ")
    assert expected in str(err.value)


def test_dynamic_dims_resolved_by_shape_and_intermediate_outputs_allowed():
    stage = _resolve(
        {"input_model": "m.onnx", "shape": [1, 3, 24, 24], "outputs": [{"name": "r1"}]}, conv_net(dynamic_hw=True)
    )
    assert stage.inputs[0].shape == [1, 3, 24, 24] and stage.outputs == ["r1"]


@pytest.mark.parametrize(
    "shape, layout, encoding, expected",
    [
        ([1, 3, 16, 16], None, None, ("RGB", "BGR")),  # NCHW colour image
        ([1, 16, 16, 3], None, None, ("RGB", "BGR")),  # NHWC colour image
        ([1, 1, 28, 28], None, None, ("GRAY", "GRAY")),  # one channel: grayscale
        ([3, 16, 16], None, None, ("NONE", "NONE")),  # batchless CHW: a raw tensor (0.6.2)
        ([16, 16, 3], "HWC", None, ("NONE", "NONE")),  # batchless HWC, even with the layout given
        ([3, 16, 16], "CHW", "RGB", ("RGB", "RGB")),  # an explicit encoding makes it an image
        ([1, 5, 16, 16], None, None, ("NONE", "NONE")),  # 5 channels: not an image
    ],
)
def test_default_encoding_follows_modelconv_062(shape, layout, encoding, expected):
    from models import identity_net

    model = identity_net(shape)
    data = {"input_model": "m.onnx", **({"layout": layout} if layout else {}), **({"encoding": encoding} if encoding else {})}
    cfg = validate_model_config(data, "m", "m.yaml")
    stage = resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")
    assert (stage.inputs[0].encoding_from, stage.inputs[0].encoding_to) == expected


def _vad_like():
    """Silero VAD's interface: audio [batch, sequence], state [2, batch, 128], sample rate (scalar)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["audio"], ["s"], keepdims=0),
         helper.make_node("Identity", ["state"], ["state_out"]),
         helper.make_node("Cast", ["sr"], ["srf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["s", "srf"], ["out"])], "vad",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "sequence"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 128]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch"]),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "batch", 128])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_named_dimension_given_for_one_input_is_set_for_every_input_that_has_it():
    stage = _resolve({"input_model": "m.onnx", "inputs": [{"name": "audio", "shape": [1, 512]}]}, _vad_like())
    assert stage.input("state").shape == [2, 1, 128]  # `batch`, given as 1 for audio
    assert stage.input("sr").shape == []
    # Not given anywhere: still named as dynamic, with every input that has one in the same error.
    with pytest.raises(ConfigError) as err:
        _resolve({"input_model": "m.onnx"}, _vad_like())
    assert "inputs.0.shape: input 'audio' has dynamic dimension(s) at index 1" in str(err.value)
    assert "inputs.1.shape: input 'state' has dynamic dimension(s) at index 1" in str(err.value)
