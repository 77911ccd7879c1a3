"""config.json of the NN Archive for inputs of every kind, validated with luxonis-ml."""

from luxonis_ml.nn_archive import Config

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.nn_archive import config_json, dai_type
from edgeconv.onnx_io import model_info
from models import conv_net, two_input_net


def _stage(data, model):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def test_rgb_nhwc_gray_and_raw_inputs():
    nhwc = _stage({"encoding": {"from": "BGR", "to": "RGB"}}, conv_net(nhwc=True))
    assert dai_type(nhwc.inputs[0]) == "RGB888i"
    config = config_json("m", "m.xml", "float16", nhwc, model_info(conv_net(nhwc=True)))
    Config.model_validate(config)
    pre = config["model"]["inputs"][0]["preprocessing"]
    assert pre == {"mean": None, "scale": None, "reverse_channels": True, "interleaved_to_planar": True, "dai_type": "RGB888i"}
    gray = _stage({"mean_values": 10}, conv_net(channels=1))
    assert dai_type(gray.inputs[0]) == "GRAY8"
    two = two_input_net()
    stage = _stage({"inputs": [{"name": "image", "scale_values": 255}, {"name": "gain", "encoding": "NONE"}]}, two)
    config = config_json("m", "m.dlc", "int8", stage, model_info(two))
    Config.model_validate(config)
    gain = config["model"]["inputs"][1]
    assert gain["input_type"] == "raw" and gain["preprocessing"]["dai_type"] is None
    assert [o["name"] for o in config["model"]["outputs"]] == ["out", "aux"]


def test_heads_follow_outputs_the_artifact_renamed(tmp_path):
    import onnx

    from edgeconv.nn_archive import artifact_output_names, map_head_outputs
    from models import conv_net

    model = conv_net()
    model.graph.output[0].name = "renamed_out"
    model.graph.node[-1].output[0] = "renamed_out"
    onnx.save(model, str(tmp_path / "m.ctx.onnx"))
    assert artifact_output_names(tmp_path / "m.ctx.onnx", ["out"]) == ["renamed_out"]
    assert artifact_output_names(tmp_path / "m.dlc", ["out"]) is None
    heads = [{"parser": "YOLO", "outputs": {"yolo_outputs": ["out", "other"]}}, {"parser": "Cls", "outputs": ["out"]}]
    assert map_head_outputs(heads, {"out": "renamed_out"}) == [
        {"parser": "YOLO", "outputs": {"yolo_outputs": ["renamed_out", "other"]}},
        {"parser": "Cls", "outputs": ["renamed_out"]},
    ]
