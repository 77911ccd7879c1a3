"""Golden SNPE command lines for every quantization mode, multi-input models and user overrides."""

import pytest

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info
from edgeconv.targets import rvc4
from models import two_input_net


def _stage(data, model):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def test_onnx_to_dlc_defaults_multi_input_and_fp16():
    stage = _stage({"inputs": [{"name": "image"}, {"name": "gain", "encoding": "NONE", "layout": "NC"}]}, two_input_net())
    assert rvc4.onnx_to_dlc_argv("snpe-onnx-to-dlc", "in.onnx", "out.dlc", stage, False, []) == [
        "snpe-onnx-to-dlc", "-i", "in.onnx",
        "--input_dim", "image", "1,3,8,8", "--input_dim", "gain", "1,4",
        "--input_dtype", "image", "float32", "--input_dtype", "gain", "float32",
        "--out_name", "out", "--out_name", "aux",
        "--input_layout", "image", "NCHW", "--input_layout", "gain", "NC",
        "-o", "out.dlc",
    ]
    fp16 = rvc4.onnx_to_dlc_argv("t", "in.onnx", "out.dlc", stage, True, [])
    assert fp16[-4:] == ["--float_bitwidth", "16", "-o", "out.dlc"]


def test_frozen_inputs_are_not_declared_and_user_flags_replace_defaults():
    stage = _stage({"inputs": [{"name": "image"}, {"name": "gain", "frozen_value": [1, 1, 1, 1]}]}, two_input_net())
    argv = rvc4.onnx_to_dlc_argv("t", "in.onnx", "o.dlc", stage, False,
                                 ["--input_layout", "image", "NHWC", "--out_name", "aux"])
    assert "gain" not in argv
    assert argv.count("--input_layout") == 1 and argv.count("--out_name") == 1
    assert argv[1:6] == ["--input_layout", "image", "NHWC", "--out_name", "aux"]


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("INT8_STANDARD", ["--use_per_channel_quantization"]),
        ("INT8_ACCURACY_FOCUSED", ["--use_per_channel_quantization", "--param_quantizer", "enhanced", "--act_quantizer", "enhanced"]),
        ("INT8_INT16_MIXED", ["--use_per_channel_quantization", "--act_bitwidth", "16"]),
        ("INT8_INT16_MIXED_ACCURACY_FOCUSED", ["--use_per_channel_quantization", "--param_quantizer", "enhanced",
                                               "--act_quantizer", "enhanced", "--act_bitwidth", "16"]),
        ("INT16_STANDARD", ["--use_per_channel_quantization", "--act_bitwidth", "16", "--weights_bitwidth", "16"]),
        ("CUSTOM", []),
    ],
)
def test_dlc_quant_per_mode(mode, expected):
    argv = rvc4.dlc_quant_argv("snpe-dlc-quant", "in.dlc", "q.dlc", "list.txt", mode, True, False, [])
    assert argv == ["snpe-dlc-quant", "--input_list", "list.txt", "--input_dlc", "in.dlc", "--output_dlc", "q.dlc", *expected]


def test_dlc_quant_user_args_and_per_row():
    argv = rvc4.dlc_quant_argv("q", "in.dlc", "q.dlc", "list.txt", "INT8_INT16_MIXED", False, True,
                               ["--act_bitwidth", "8", "--bias_bitwidth", "32"])
    assert argv == ["q", "--act_bitwidth", "8", "--bias_bitwidth", "32", "--input_list", "list.txt",
                    "--input_dlc", "in.dlc", "--output_dlc", "q.dlc", "--use_per_row_quantization"]
    custom = rvc4.dlc_quant_argv("q", "in.dlc", "q.dlc", "list.txt", "CUSTOM", True, True, ["--act_bitwidth", "16"])
    assert "--use_per_channel_quantization" not in custom and custom[1:3] == ["--act_bitwidth", "16"]


def test_graph_prepare_and_info():
    assert rvc4.graph_prepare_argv("gp", "q.dlc", "out.dlc", ["a", "b"], 2, ["sm8550", "qcs8550"], "INT8_STANDARD", []) == [
        "gp", "--input_dlc", "q.dlc", "--output_dlc", "out.dlc", "--set_output_tensors", "a,b",
        "--optimization_level", "2", "--htp_socs", "sm8550,qcs8550",
    ]
    fp16 = rvc4.graph_prepare_argv("gp", "f.dlc", "out.dlc", ["a"], 3, ["sm8550"], "FP16_STANDARD", ["--htp_socs", "qcs6490"])
    assert fp16[1:3] == ["--htp_socs", "qcs6490"] and fp16.count("--htp_socs") == 1 and fp16[-1] == "--use_float_io"
    assert rvc4.dlc_info_argv("info", "m.dlc", "m.csv") == ["info", "-i", "m.dlc", "-s", "m.csv"]


def test_input_list_format():
    lines = rvc4.input_list_lines(["image", "gain"], [{"image": "r/0_0.raw", "gain": "r/0_1.raw"}])
    assert lines == ["image:=r/0_0.raw gain:=r/0_1.raw"]
    assert rvc4.snpe_layout("NCD") == "NCF" and rvc4.snpe_layout("CHW") is None
