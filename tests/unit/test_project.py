"""What the Snakefile asks the project: matrix units, and per-step parameters that hold exactly the keys a step reads."""

import json

import pytest
import yaml

from edgeconv.errors import ConfigError
from edgeconv.project import Project, int8_skipped_note
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


# --------------------------------------------------------------------------- multi-stage links


def _two_stage(tmp_path, head_inputs, **top):
    from models import backbone_net, head_net

    backbone_net(tmp_path / "models" / "bb.onnx")
    head_net(tmp_path / "models" / "hd.onnx")
    cfg = {
        "name": "two",
        **top,
        "stages": {
            "backbone": {"input_model": "models/bb.onnx"},
            "head": {"input_model": "models/hd.onnx", "inputs": head_inputs},
        },
    }
    (tmp_path / "config" / "models").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "models" / "two.yaml").write_text(yaml.safe_dump(cfg))
    return Project({"models": ["two"]}, root=tmp_path)


SCRIPT = "def run_script(outputs):\n    return outputs['feat'].mean(axis=(2, 3))\n"


def test_linked_calibration_reads_the_upstream_stage_outputs(tmp_path):
    project = _two_stage(
        tmp_path,
        [
            {"name": "feat", "calibration": {"stage": "backbone", "output": "feat"}},
            {"name": "pooled", "calibration": {"stage": "backbone", "script": SCRIPT}},
        ],
    )
    assert project.matrix_units() == ["two-backbone", "two-head"]
    assert project.linked_inputs("two-head") == {"linked_backbone": "results/intermediate/two-backbone/stage_outputs.npz"}
    assert project.linked_inputs("two-backbone") == {}
    cal = json.loads(project.params("two-head", "prepare_calibration"))["io"]["inputs"]
    assert cal[0]["calibration"] == {"stage": "backbone", "output": "feat"}


def test_a_script_file_is_an_input_of_the_calibration(tmp_path):
    (tmp_path / "scripts").mkdir(parents=True)
    (tmp_path / "scripts" / "pool.py").write_text(SCRIPT)
    project = _two_stage(tmp_path, [{"name": "pooled", "calibration": {"stage": "backbone", "script": "scripts/pool.py"}}])
    assert project.linked_inputs("two-head")["script_1"] == "scripts/pool.py"


@pytest.mark.parametrize(
    "link, message",
    [
        ({"stage": "neck", "output": "feat"}, r"calibration \(input 'feat'\)\.stage: no stage 'neck'; stages are backbone, head"),
        ({"stage": "head", "output": "out"}, "stage 'head' cannot calibrate from its own outputs"),
        ({"stage": "backbone", "output": "logits"}, "output: stage 'backbone' has no output 'logits'; its outputs are: feat"),
        ({"stage": "backbone", "script": "def run_script(o):\n  return o[\n"}, r"script: <calibration script> line \d+"),
        ({"stage": "backbone", "script": "def other(o):\n  return o\n"}, "defines no function `run_script"),
        ({"stage": "backbone", "script": "scripts/missing.py"}, "cannot read the script file .*missing.py"),
    ],
)
def test_bad_links_stop_at_parse_time(tmp_path, link, message):
    project = _two_stage(tmp_path, [{"name": "feat", "calibration": link}])
    with pytest.raises(ConfigError, match=message):
        project.matrix_units()
        project.unit("two-head")


def test_link_cycles_and_links_without_stages_are_refused(tmp_path):
    from models import backbone_net

    backbone_net(tmp_path / "models" / "bb.onnx")
    cfg = {
        "stages": {
            "a": {"input_model": "models/bb.onnx", "calibration": {"stage": "b", "output": "feat"}},
            "b": {"input_model": "models/bb.onnx", "calibration": {"stage": "a", "output": "feat"}},
        }
    }
    (tmp_path / "config" / "models").mkdir(parents=True)
    (tmp_path / "config" / "models" / "cyc.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"calibration links form a cycle \(cyc-a -> cyc-b -> cyc-a\)"):
        Project({"models": ["cyc"]}, root=tmp_path).matrix_units()
        Project({"models": ["cyc"]}, root=tmp_path).unit("cyc-a")
    single = {"input_model": "models/bb.onnx", "calibration": {"stage": "a", "output": "feat"}}
    (tmp_path / "config" / "models" / "one.yaml").write_text(yaml.safe_dump(single))
    with pytest.raises(ConfigError, match="needs a multi-stage config"):
        Project({"models": ["one"]}, root=tmp_path).unit("one")


def test_two_stage_archives_need_a_main_stage_and_a_head(tmp_path):
    project = _two_stage(tmp_path, [])
    with pytest.raises(ConfigError, match="say which one is the main model .*--main-stage"):
        project.archive_inputs("two", "openvino")
    project = Project({"models": ["two"], "main_stages": {"two": "backbone"}}, root=tmp_path)
    with pytest.raises(ConfigError, match="heads: a two-stage NN Archive links its post-processing stage"):
        project.archive_inputs("two", "openvino")
    project = _two_stage(tmp_path, [], main_stage="backbone", heads=[{"parser": "ClassificationParser", "metadata": {}}])
    inputs = project.archive_inputs("two", "openvino")
    assert inputs["main_artifact_0"] == "results/openvino/two-backbone.xml"
    assert inputs["post_artifact_0"] == "results/openvino/two-head.xml"
    options = json.loads(project.archive_params("two", "openvino"))
    assert options["stages"] == {"main": "backbone", "post": "head"}
    with pytest.raises(ConfigError, match="main_stage: no stage 'neck'"):
        _two_stage(tmp_path, [], main_stage="neck").matrix_units()


def test_archive_preprocess_is_a_parameter_of_the_model_steps_only_when_set(tmp_path):
    before = _params(_project(tmp_path, BASE))
    project = _project(tmp_path, BASE)
    project.config["archive_preprocess"] = ["m"]
    after = _params(project)
    # It changes what a step sees only where the step reads the model's interface (the stage's
    # inputs and normalization); simplify and the IR steps do not rerun for it.
    from edgeconv.steps.base import step

    readers = {s for s in STEPS if step(s).reads_stage}
    assert readers == {"attach_normalization", "optimize_onnx", "prepare_calibration", "verify"}
    assert {s for s in STEPS if json.loads(after[s]).get("archive_preprocess")} == readers
    assert all("archive_preprocess" not in json.loads(before[s]) for s in STEPS)
    project.config["archive_preprocess"] = ["other"]
    assert "archive_preprocess" not in json.loads(project.params("m", "simplify"))


def test_a_model_made_by_a_rule_gets_the_same_parameters_before_and_after_it_exists(tmp_path):
    """The demo fetch (like an s3:// download) makes the model file: its steps' parameters must not
    depend on whether it exists yet, or the second run would redo them."""
    before = Project({"models": ["ppocr_cls"]}, root=tmp_path).params("ppocr_cls", "attach_normalization")
    conv_net(tmp_path / "models" / "ppocr_cls.onnx")
    after = Project({"models": ["ppocr_cls"]}, root=tmp_path).params("ppocr_cls", "attach_normalization")
    assert before == after and "resolved" not in json.loads(after)
    # A model of the user's own: its parse-time interface goes along, so the step starts without pydantic.
    conv_net(tmp_path / "models" / "own.onnx")
    own = json.loads(Project({"models": ["own"]}, root=tmp_path).params("own", "attach_normalization"))
    assert own["resolved"]["model"] == str(tmp_path / "models" / "own.onnx") or own["resolved"]["model"].endswith("models/own.onnx")
    assert all(i["calibration"] == {} for i in own["resolved"]["inputs"])


def test_models_without_an_int8_ir_are_noted_once_for_the_whole_matrix(tmp_path):
    """A zoo of bare models gets one note, not one line per model on every command."""
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        conv_net(tmp_path / "models" / f"{name}.onnx")
    names = ["a", "b", "c", "d", "e", "f", "g"]
    project = Project({"models": names, "targets": ["openvino"]}, root=tmp_path)
    note = int8_skipped_note(project, names)
    assert note.startswith("note: 7 models get no openvino INT8 IR: no calibration data (set calibration.path;")
    assert note.endswith(": a, b, c, d, e, ... (2 more)") and "\n" not in note
    assert int8_skipped_note(project, ["a"]) == (
        "note: a: openvino INT8 IR not built: no calibration data (set calibration.path; openvino.quantize: true "
        "builds it on random data)")
    assert int8_skipped_note(Project({"models": names, "targets": ["rvc4"]}, root=tmp_path), names) is None
    quantized = Project({"models": names, "targets": ["openvino"], "overrides": {"*": {"openvino.quantize": True}}},
                        root=tmp_path)
    assert int8_skipped_note(quantized, names) is None
