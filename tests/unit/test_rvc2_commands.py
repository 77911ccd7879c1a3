"""Golden command lines and files of the RVC2 chain (mo, MYRIAD config, compile_tool, superblob)."""

import bsdiff4
import numpy as np
import pytest
from onnx import TensorProto, helper

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info
from edgeconv.targets import rvc2
from models import conv_net, two_input_net


def _two_images():
    graph = helper.make_graph(
        [helper.make_node("Add", ["left", "right"], ["out"])],
        "pair",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("left", "right")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _stage(data, model):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def _argv(stage, version="2022.3", user=(), compress=True):
    plan = rvc2.mo_plan(stage)
    return rvc2.mo_argv("mo", plan, stage.outputs, "in.onnx", "out", compress, version, list(user)), plan


def test_single_input_reference_defaults():
    stage = _stage({"shape": [1, 3, 32, 32], "mean_values": [123.675, 116.28, 103.53], "scale_values": 58.4},
                   conv_net(dynamic_hw=True))
    argv, plan = _argv(stage)
    assert argv == [
        "mo", "--output_dir", "out", "--output", "out", "--compress_to_fp16",
        "--input", "x", "--input_shape", "[1,3,32,32]",
        "--mean_values", "x[123.675, 116.28, 103.53]", "--scale_values", "x[58.4, 58.4, 58.4]",
        "--reverse_input_channels", "--input_model", "in.onnx",
    ]
    assert plan.onnx["x"] == rvc2.InputPlan(reverse=False, normalize=False)


def test_openvino_2021_4_uses_data_type_and_no_mx_boot():
    stage = _stage({"encoding": "BGR"}, conv_net())
    argv, _ = _argv(stage, "2021.4")
    assert argv[5:7] == ["--data_type", "FP16"] and "--reverse_input_channels" not in argv
    assert rvc2.myriad_config(6, "2021.4") == (
        "MYRIAD_NUMBER_OF_SHAVES 6\nMYRIAD_NUMBER_OF_CMX_SLICES 6\nMYRIAD_THROUGHPUT_STREAMS 1\n"
    )
    assert rvc2.myriad_config(8, "2022.3") == (
        "MYRIAD_ENABLE_MX_BOOT NO\nMYRIAD_NUMBER_OF_SHAVES 8\nMYRIAD_NUMBER_OF_CMX_SLICES 8\n"
        "MYRIAD_THROUGHPUT_STREAMS 1\n"
    )


def test_partial_reversal_goes_into_the_graph_with_reversed_values():
    stage = _stage(
        {"inputs": [
            {"name": "left", "encoding": {"from": "RGB", "to": "BGR"}, "mean_values": [1, 2, 3]},
            {"name": "right", "encoding": "BGR", "mean_values": [4, 5, 6]},
        ]},
        _two_images(),
    )
    argv, plan = _argv(stage)
    assert "--reverse_input_channels" not in argv
    assert plan.onnx["left"].reverse and not plan.onnx["right"].reverse
    assert argv[argv.index("--mean_values") + 1] == "left[3.0, 2.0, 1.0],right[4.0, 5.0, 6.0]"
    assert argv[argv.index("--input") + 1] == "left,right"
    assert argv[argv.index("--input_shape") + 1] == "[1,3,8,8],[1,3,8,8]"


def test_frozen_and_non_image_inputs_are_handled_in_the_graph():
    stage = _stage(
        {"inputs": [{"name": "image", "encoding": "RGB", "scale_values": 255},
                    {"name": "gain", "frozen_value": [1, 2, 3, 4]}]},
        two_input_net(),
    )
    argv, plan = _argv(stage)
    assert argv[argv.index("--input") + 1] == "image" and argv[argv.index("--input_shape") + 1] == "[1,3,8,8]"
    assert argv[argv.index("--output") + 1] == "out,aux"
    assert "--mean_values" not in argv and argv[argv.index("--scale_values") + 1] == "image[255.0, 255.0, 255.0]"
    gray = _stage({"mean_values": 127}, conv_net(channels=1))
    argv, plan = _argv(gray)
    assert "--mean_values" not in argv and plan.onnx["x"].normalize  # GRAY normalization in the graph


def test_user_flags_replace_defaults():
    stage = _stage({"mean_values": 1}, conv_net())
    argv, _ = _argv(stage, user=["--input_shape", "[1,3,16,16]", "--output", "r1", "--mean_values", "x[9,9,9]"])
    assert argv.count("--input_shape") == 1 and argv[1:3] == ["--input_shape", "[1,3,16,16]"]
    assert argv.count("--output") == 1 and argv[argv.index("--output") + 1] == "r1"
    assert argv.count("--mean_values") == 1 and argv[argv.index("--mean_values") + 1] == "x[9,9,9]"
    argv, _ = _argv(stage, user=["--compress_to_fp16=False"])
    assert "--compress_to_fp16" not in argv and argv[1] == "--compress_to_fp16=False"


def test_compile_tool_argv_and_reserved_flags():
    assert rvc2.compile_tool_argv("ct", "m.xml", "m.blob", "m.conf", []) == [
        "ct", "-d", "MYRIAD", "-ip", "U8", "-m", "m.xml", "-o", "m.blob", "-c", "m.conf"
    ]
    assert rvc2.compile_tool_argv("ct", "m.xml", "m.blob", "m.conf", ["-ip", "FP16", "-c", "my.conf"]) == [
        "ct", "-ip", "FP16", "-c", "my.conf", "-d", "MYRIAD", "-m", "m.xml", "-o", "m.blob"
    ]
    assert "may not set -o" in rvc2.check_compile_tool_args(["-o", "x.blob"])
    assert rvc2.check_compile_tool_args(["-ip", "FP16"]) is None


def test_superblob_layout_with_real_patches():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    variants = {s: base[:100] + bytes([s]) * 10 + base[110:] for s in range(1, 17) if s != 8}
    patches = {s: bsdiff4.diff(base, v) for s, v in variants.items()}
    data = rvc2.superblob(base, patches)
    assert int.from_bytes(data[:8], "big") == len(base)
    sizes = [int.from_bytes(data[8 + 8 * i: 16 + 8 * i], "big") for i in range(16)]
    assert sizes[7] == 0 and all(sizes[i] == len(patches[i + 1]) for i in range(16) if i != 7)
    assert data[136:136 + len(base)] == base
    parsed_base, parsed = rvc2.parse_superblob(data)
    assert parsed_base == base and sorted(parsed) == sorted(patches)
    for s, patch in parsed.items():
        assert bsdiff4.patch(base, patch) == variants[s]
    with pytest.raises(ValueError):
        rvc2.superblob(base, {})


def test_rvc3_pot_config_and_argv_and_vpux_compile_line():
    from edgeconv.targets import rvc3

    assert rvc3.pot_config("d/m.xml", "m.int8", "imgs", "VPU", 16) == {
        "model": {"model_name": "m.int8", "model": "d/m.xml", "weights": "d/m.bin"},
        "engine": {"type": "simplified", "data_source": "imgs"},
        "compression": {
            "target_device": "VPU",
            "algorithms": [{"name": "DefaultQuantization", "params": {"preset": "performance", "stat_subset_size": 16}}],
        },
    }
    assert rvc3.pot_argv("pot", "c.json", "out") == ["pot", "--config", "c.json", "-d", "--output-dir", "out"]
    assert rvc2.compile_tool_argv("ct", "m.xml", "m.blob", None, [], rvc3.DEVICE) == [
        "ct", "-d", "VPUX.3400", "-ip", "U8", "-m", "m.xml", "-o", "m.blob"
    ]
