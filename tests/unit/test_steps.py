"""The step registry: one module per step, each with one declaration; every rule calls a declared
step; parameters are typed, keep their config names, and survive the trip through the rule."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from edgeconv.project import Project
from edgeconv.steps.base import NoParams, Params, StageParams, Step, all_steps, step, step_names
from edgeconv.tools import CHECKOUT
from models import conv_net

RULES = sorted((CHECKOUT / "workflow" / "rules").glob("*.smk"))
DOUBLES = CHECKOUT / "tests" / "doubles"
# What the rules' wildcards choose for a step with variants.
VARIANTS = {
    "convert_mo": {"target": "rvc3"},
    "attach_normalization": {"plan": "hailo"},
    "verify": {"kind": "qnn_htp"},
    "compile_blob": {"shaves": "5"},
    "nn_archive": {"target": "rvc4", "archive_name": "m", "precision": "int8", "heads": [], "stages": {}},
    "upload_remote": {"target": "openvino"},
}


def _called_steps() -> dict[str, list[str]]:
    """step -> the rules that run it: whose shell calls `edgeconv-step <step>` (or names it in
    ``params: step=``), and the rules made from those with `use rule ... as ...`."""
    called: dict[str, list[str]] = {}
    derived: dict[str, str] = {}
    for smk in RULES:
        rule = None
        for line in smk.read_text().splitlines():
            if m := re.match(r"rule (\w+)", line):
                rule = m.group(1)
            elif m := re.match(r"use rule (\w+) as (\w+)", line):
                rule = m.group(2)
                derived[rule] = m.group(1)
            names = re.findall(r"edgeconv-step (\w+)", line)
            if m := re.match(r"\s+step=\"(\w+)\"", line):
                names.append(m.group(1))
            for name in names:
                if rule not in called.setdefault(name, []):
                    called[name].append(rule)
    changed = True
    while changed:  # a derived rule may derive from a derived rule
        changed = False
        for rule, parent in derived.items():
            for rules in called.values():
                if parent in rules and not any(rule in r for r in called.values()):
                    rules.append(rule)
                    changed = True
    return called


def test_every_step_module_declares_exactly_itself():
    steps = all_steps()
    assert sorted(steps) == step_names() and len(steps) >= 30
    for name, declared in steps.items():
        assert isinstance(declared, Step) and declared.name == name
        assert issubclass(declared.params, (Params, NoParams)) or dataclasses.is_dataclass(declared.params)
        assert (declared.target is None) or not declared.targets
    with pytest.raises(KeyError):
        step("registry")
    with pytest.raises(KeyError):
        step("base")


def test_every_rule_calls_a_declared_step_and_every_step_has_a_rule():
    called = _called_steps()
    assert set(called) <= set(step_names()), set(called) - set(step_names())
    assert set(step_names()) <= set(called), set(step_names()) - set(called)


@pytest.fixture
def project(tmp_path):
    conv_net(tmp_path / "models" / "m.onnx")
    config = {
        "models": ["m"],
        "targets": ["openvino", "qnn_htp", "rvc2", "rvc3", "rvc4", "hailo"],
        "toolchains": {
            "rvc2": {"mo": str(DOUBLES / "compile_tool"), "compile_tool": str(DOUBLES / "compile_tool")},
            "rvc3": {"mo": str(DOUBLES / "compile_tool"), "pot": str(DOUBLES / "compile_tool"),
                     "compile_tool": str(DOUBLES / "compile_tool")},
            "rvc4": {"bin_dir": str(DOUBLES)},
            "hailo": {"python": str(DOUBLES / "hailo" / "python")},
        },
        # The accuracy-control steps' parameters exist only with it on.
        "overrides": {"m": {"rvc4.accuracy_control": True, "openvino.accuracy_control": True}},
    }
    return Project(config, root=tmp_path)


def test_steps_without_parameters_take_none():
    for name in ("publish", "blob_patch", "assemble_superblob", "extract_archive", "extract_postprocessor",
                 "extract_calibration"):
        declared = step(name)
        assert declared.params is NoParams and declared.load_params({}) == NoParams()
        with pytest.raises(TypeError, match="has no parameters"):
            declared.load_params({"model": "m"})


# Every step the project configures (tflite_to_dlc needs a TFLite model: test_tflite_workflow;
# fetch_demo and fetch_remote are given a file to fetch, not a unit: test_remote.py).
CONFIGURED = [n for n in step_names() if step(n).params not in (NoParams,)
              and n not in ("fetch_demo", "fetch_remote", "export_ldf", "tflite_to_dlc")]


@pytest.mark.parametrize("name", CONFIGURED)
def test_parameters_are_typed_and_survive_the_rule(project, name):
    declared = step(name)
    text = project.params("m", name, **VARIANTS.get(name, {}))
    data = json.loads(text)
    params = declared.load_params(data)
    assert isinstance(params, declared.params)
    assert params.to_json() == text  # what the step process gets is what the rule passed
    assert data["model"] == "m" and "edgeconv" in data
    # A step that reads the model's interface gets it; the others do not rerun when it changes.
    assert ("io" in data) == issubclass(declared.params, StageParams)
    # The toolchain of a vendor step is a parameter (its pin and image rebuild what it made).
    target = VARIANTS.get(name, {}).get("target") if declared.targets else declared.target
    assert (data.get("toolchain", {}).get("target")) == target
    with pytest.raises(TypeError, match="has no parameters"):
        declared.load_params({**data, "per_channel": True})


def test_parameters_keep_their_config_names(project):
    quant = json.loads(project.params("m", "quantize_dlc"))
    assert quant["use_per_channel_quantization"] is True and quant["use_per_row_quantization"] is False
    assert quant["quantization_mode"] == "INT8_STANDARD" and quant["snpe_dlc_quant_args"] == []
    qdq = json.loads(project.params("m", "quantize_qdq"))
    assert qdq["use_per_channel_quantization"] is True
    blob = json.loads(project.params("m", "compile_blob", shaves="5"))
    assert blob["number_of_shaves"] == 5 and blob["compile_tool_args"] == []


def test_readme_layout_table_names_each_steps_rule_module_and_tests():
    """Every step has a row in the layout table (docs/development.md); its module, rules and tests exist."""
    text = (CHECKOUT / "docs" / "development.md").read_text()
    table = text[text.index("| step (`src/edgeconv/steps/<step>.py`)"):]
    table = table[: table.index("\n\n")]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.match(r"`(\w+)`", cells[0]).group(1)] = [cells[0], cells[1], cells[3]]
    assert set(rows) == set(step_names()), set(step_names()) ^ set(rows)
    called = _called_steps()
    for name, (_, rules, tests) in rows.items():
        assert (CHECKOUT / "src" / "edgeconv" / "steps" / f"{name}.py").exists()
        for ref in re.findall(r"`([\w.]+): ([\w, ]+)`", rules):
            smk, rule_names = ref
            body = (CHECKOUT / "workflow" / "rules" / smk).read_text()
            for rule in rule_names.split(", "):
                assert re.search(rf"^(rule|use rule \w+ as) {rule}\b", body, re.M), (name, smk, rule)
                assert rule in called[name], (name, rule)
        for test in re.findall(r"`(tests/[\w/]+\.py)`", tests):
            assert Path(CHECKOUT / test).exists(), test
        assert re.findall(r"`(tests/[\w/]+\.py)`", tests), f"{name}: no test named"
