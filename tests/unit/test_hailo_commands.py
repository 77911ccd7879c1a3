"""Golden Hailo parse spec and model script (.alls)."""

from onnx import TensorProto, helper

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info
from edgeconv.targets import hailo
from models import conv_net, two_input_net

OPTIONS = {"optimization_level": 2, "compression_level": 2, "batch_size": 8, "alls": []}


def _stage(data, model):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def test_model_script_reference_defaults():
    stage = _stage({"mean_values": "imagenet", "scale_values": "imagenet"}, conv_net())
    assert hailo.model_script(stage, {"x": "m/input_layer1"}, OPTIONS) == [
        "model_optimization_flavor(optimization_level=2, compression_level=2, batch_size=8)",
        "normalization_x = normalization([123.675, 116.28, 103.53],[58.395, 57.12, 57.375],m/input_layer1)",
        "bgr_to_rgb_x = input_conversion(m/input_layer1,bgr_to_rgb)",
    ]


def test_model_script_user_lines_no_reversal_and_dotted_names():
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input.1"], ["out"])],
        "g",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    stage = _stage({"encoding": "BGR"}, model)
    options = {**OPTIONS, "optimization_level": 0, "alls": ["performance_param(compiler_optimization_level=max)"]}
    assert hailo.model_script(stage, {"input.1": "m/input_layer1"}, options) == [
        "performance_param(compiler_optimization_level=max)",
        "model_optimization_flavor(optimization_level=0, compression_level=2, batch_size=8)",
        "normalization_input1 = normalization([0.0, 0.0, 0.0],[1.0, 1.0, 1.0],m/input_layer1)",
    ]


def test_parse_spec_and_graph_normalization_for_non_colour_inputs():
    stage = _stage({"inputs": [{"name": "image"}, {"name": "gain", "frozen_value": [1, 2, 3, 4]}]}, two_input_net())
    spec = hailo.parse_spec(stage, "in.onnx", "m.har", "m", "hailo8l", True)
    assert spec == {
        "hw_arch": "hailo8l", "model": "in.onnx", "har": "m.har", "net_name": "m",
        "start_node_names": ["image"], "net_input_shapes": {"image": [1, 3, 8, 8]},
        "end_node_names": ["out", "aux"], "force_onnx_names": True,
    }
    gray = _stage({"mean_values": 10}, conv_net(channels=1))
    assert hailo.needs_graph_normalization(gray) == {"x": (False, True)}
    assert hailo.model_script(gray, {"x": "m/input_layer1"}, OPTIONS) == [
        "model_optimization_flavor(optimization_level=2, compression_level=2, batch_size=8)"
    ]
