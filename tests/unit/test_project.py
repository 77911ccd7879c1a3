"""What the Snakefile asks the project: matrix units, and per-step parameters that hold exactly the keys a step reads."""

import json

import pytest
import yaml

from edgeconv.errors import ConfigError
from edgeconv.project import Project
from models import conv_net

STEPS = ["attach_normalization", "optimize_onnx", "simplify", "prepare_calibration", "convert_ir", "quantize_ir", "verify"]


def _project(tmp_path, model_config=None, overrides=None, models=("m",)):
    conv_net(tmp_path / "models" / "m.onnx")
    if model_config is not None:
        (tmp_path / "config" / "models").mkdir(parents=True, exist_ok=True)
        (tmp_path / "config" / "models" / "m.yaml").write_text(yaml.safe_dump(model_config))
    return Project({"models": list(models), "overrides": overrides or {}}, root=tmp_path)


def _params(project):
    return {step: project.params("m", step) for step in STEPS}


def _changed(tmp_path, base_cfg, override):
    before = _params(_project(tmp_path, base_cfg))
    after = _params(_project(tmp_path, base_cfg, {"m": override}))
    return {s for s in STEPS if before[s] != after[s]}


BASE = {"input_model": "models/m.onnx", "mean_values": 1}


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"rvc4.quantization_mode": "FP16_STANDARD"}, set()),
        ({"rvc2.number_of_shaves": 6, "hailo.hw_arch": "hailo8l", "rvc3.pot_target_device": "ANY"}, set()),
        ({"onnx_simplification": "onnxslim"}, {"simplify"}),
        ({"onnx_optimizations.fuse_add_mul_to_bn": False}, {"optimize_onnx"}),
        ({"calibration.max_images": 3}, {"prepare_calibration"}),
        ({"openvino.compress_to_fp16": False}, {"convert_ir", "quantize_ir"}),
        ({"openvino.preset": "mixed"}, {"quantize_ir"}),
        ({"mean_values": 2}, {"attach_normalization", "optimize_onnx", "prepare_calibration", "verify"}),
    ],
)
def test_each_key_feeds_only_its_steps(tmp_path, override, expected):
    assert _changed(tmp_path, BASE, override) == expected


def test_wildcard_and_model_overrides_and_bare_models(tmp_path):
    project = _project(tmp_path, None, {"*": {"inputs.0.mean_values": "[5,5,5]"}, "m": {"inputs.0.scale_values": 2}})
    io = json.loads(project.params("m", "attach_normalization"))["io"]
    assert io["inputs"] == [{"name": "x", "mean_values": [5.0, 5.0, 5.0], "scale_values": [2.0]}]
    assert project.unit("m").resolved.inputs[0].scale == [2.0, 2.0, 2.0]
    assert project.matrix_units() == ["m"]


def test_multi_stage_models_become_one_unit_per_stage(tmp_path):
    conv_net(tmp_path / "models" / "head.onnx", channels=8)
    project = _project(
        tmp_path,
        {"name": "two", "stages": {"backbone": {"input_model": "models/m.onnx"}, "head": {"input_model": "models/head.onnx"}}},
    )
    assert project.units_of("m") == ["m-backbone", "m-head"]
    assert project.unit("m-head").resolved.inputs[0].shape == [1, 8, 16, 16]
    with pytest.raises(ConfigError, match="ask for m-backbone, m-head"):
        project.unit("m")


def test_unknown_models_and_bad_names(tmp_path):
    project = _project(tmp_path, models=("nothing",))
    with pytest.raises(ConfigError, match="no config .*nothing.yaml and no model .*nothing.onnx"):
        project.matrix_units()
    with pytest.raises(ConfigError, match="is not allowed"):
        Project({"models": ["a b"]}, root=tmp_path).matrix_units()
    with pytest.raises(ConfigError, match="input_model: .*missing.onnx does not exist"):
        _project(tmp_path, {"input_model": "models/missing.onnx"}).unit("m")
