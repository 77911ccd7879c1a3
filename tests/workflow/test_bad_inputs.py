"""Bad input stops the run before any job, with a one-line error naming file, key and fix,
and leaves no partial output behind."""

import json

import pytest

from harness import new_project, planned, rules_for, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


def _fails(root, *args):
    proc = snakemake(root, *args, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    results = root / "results"
    leftovers = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert leftovers == [], leftovers
    return text


def _project(tmp_path, config=None, model=True):
    root = new_project(tmp_path, ["m"])
    if model:
        conv_net(root / "models" / "m.onnx")
    if config is not None:
        write_yaml(root / "config" / "models" / "m.yaml", {"input_model": "models/m.onnx", **config})
    return root


def test_file_that_is_not_onnx(tmp_path):
    root = _project(tmp_path, model=False)
    (root / "models").mkdir()
    (root / "models" / "m.onnx").write_text("<html>404 Not Found</html>\n")
    text = _fails(root)
    assert "error: models/m.onnx: not a readable ONNX model" in text or "error: models/m.onnx: parsed as ONNX" in text


def test_truncated_onnx(tmp_path):
    root = _project(tmp_path)
    data = (root / "models" / "m.onnx").read_bytes()
    (root / "models" / "m.onnx").write_bytes(data[: len(data) // 3])
    assert "error: models/m.onnx: not a readable ONNX model" in _fails(root)


def test_unknown_key_with_suggestion(tmp_path):
    root = _project(tmp_path, {"rvc4": {"quantisation_mode": "INT8_STANDARD"}})
    text = _fails(root)
    assert "config/models/m.yaml: unknown key 'rvc4.quantisation_mode'; did you mean 'rvc4.quantization_mode'?" in text


def test_wrong_number_of_mean_values(tmp_path):
    root = _project(tmp_path, {"inputs": [{"name": "x", "mean_values": [1, 2]}]})
    text = _fails(root)
    assert "config/models/m.yaml: inputs.0.mean_values: 2 values given for an input with 3 channel(s); give one value or 3" in text


def test_missing_input_name(tmp_path):
    root = _project(tmp_path, {"inputs": [{"name": "images"}]})
    assert "inputs.0.name: the model models/m.onnx has no input 'images'; its inputs are: x" in _fails(root)


def test_dynamic_dimension_without_shape(tmp_path):
    root = _project(tmp_path, model=False)
    conv_net(root / "models" / "m.onnx", dynamic_hw=True)
    text = _fails(root)
    assert "models/m.onnx: inputs.0.shape: input 'x' has dynamic dimension(s) at index 2, 3" in text
    # ... and the command-line override fixes it without editing a file.
    snakemake(root, "-n", "--config", 'overrides={m: {inputs.0.shape: "[1,3,16,16]"}}')


def test_empty_and_unreadable_calibration_directories(tmp_path):
    root = _project(tmp_path / "a", {"calibration": {"path": "calibration_data/empty"}})
    (root / "calibration_data" / "empty").mkdir(parents=True)
    assert "config/models/m.yaml: calibration.path: " in (text := _fails(root)) and "holds no calibration files" in text
    root = _project(tmp_path / "b", {"inputs": [{"name": "x", "calibration": {"path": "calibration_data/file"}}]})
    (root / "calibration_data").mkdir()
    (root / "calibration_data" / "file").write_text("x")
    assert "inputs.0.calibration.path: " in (text := _fails(root)) and "is not a directory" in text
    root = _project(tmp_path / "c", {"calibration": {"path": "calibration_data/bad"}})
    (root / "calibration_data" / "bad").mkdir(parents=True)
    (root / "calibration_data" / "bad" / "0.png").write_bytes(b"\x89PNG broken")
    text = _fails(root)  # image headers are checked while the workflow is parsed
    assert "error: config/models/m.yaml: calibration file calibration_data/bad/0.png: not a readable image" in text


@pytest.mark.parametrize("name", ["my model", "m;rm -rf x", "m$(id)"])
def test_model_names_with_spaces_or_shell_metacharacters(tmp_path, name):
    root = new_project(tmp_path, [name])
    (root / "models").mkdir()
    conv_net(root / "models" / f"{name}.onnx")
    text = _fails(root)
    first = next(line for line in text.splitlines() if line.startswith("error: "))
    assert first == (f"error: config/config.yaml: models[0]: {name!r} is not a valid name: "
                     "use letters, digits, '_' and '-' (not '-' first)"), text[-2000:]


def test_bad_target_name_by_path(tmp_path):
    root = _project(tmp_path)
    text = _fails(root, "results/openvino/m x.xml")
    assert "MissingRuleException" in text or "No rule to produce" in text


def _published(root, target="openvino"):
    out = root / "results" / target
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("asked", ["results/openvino/m.xml", "results/openvino/m.verify.json", "results/openvino/m.tar.xz", None])
def test_failed_verification_publishes_nothing_and_keeps_its_report(tmp_path, asked):
    """Whichever path is asked for (the artifact, its report, its NN Archive, or the whole matrix),
    an artifact whose check fails stays under results/intermediate with its report and is not
    published."""
    root = new_project(tmp_path, ["m"], verify={"max_images": 2, "openvino_fp16": {"max_abs_error": 0.0}})
    conv_net(root / "models" / "m.onnx")
    proc = snakemake(root, *([asked] if asked else []), check=False)
    assert proc.returncode != 0
    report = "results/intermediate/m/openvino/m.verify.failed.json"
    line = next(x for x in (proc.stderr + proc.stdout).splitlines() if x.startswith("error: verify (m)"))
    assert line.startswith("error: verify (m): results/intermediate/m/openvino/m.xml differs from models/m.onnx: out: max_abs_error")
    assert f"Report: {report}" in line and "verify.openvino_fp16.max_abs_error" in line
    assert _published(root) == []
    kept = json.loads((root / report).read_text())
    assert kept["passed"] is False and kept["outputs"]["out"]["max_abs_error"] > 0 and kept["failures"]
    assert (root / "results" / "intermediate" / "m" / "openvino" / "m.xml").exists()
    # With the threshold changed, the same artifact passes and is published; the failed report goes.
    write_yaml(root / "config" / "config.yaml", {"models": ["m"], "targets": ["openvino"], "verify": {"max_images": 2}})
    snakemake(root, "results/openvino/m.xml")
    assert {"m.xml", "m.bin", "m.verify.json", "m.buildinfo.json"} <= set(_published(root))
    assert not (root / report).exists()


def test_int8_asked_by_path_enforces_its_gate(tmp_path):
    """An impossible INT8 gate: asking for the INT8 IR by path runs its check, which stops it."""
    root = new_project(tmp_path, ["m"], verify={"max_images": 2, "openvino_int8": {"min_cosine": 0.9999999}})
    conv_net(root / "models" / "m.onnx")
    proc = snakemake(root, "results/openvino/m.int8.xml", check=False)
    assert proc.returncode != 0
    assert "verify.openvino_int8.min_cosine" in proc.stderr
    assert _published(root) == []
    kept = json.loads((root / "results/intermediate/m/openvino/m.int8.verify.failed.json").read_text())
    assert kept["passed"] is False and kept["thresholds"] == {"min_cosine": 0.9999999}


def test_bare_model_without_calibration_builds_fp16_only(tmp_path):
    """No calibration data: the matrix builds and publishes the FP16 IR and says in one line why
    there is no INT8 IR; `openvino.quantize: true` asks for it on random data."""
    root = new_project(tmp_path, ["m"])
    conv_net(root / "models" / "m.onnx")
    proc = snakemake(root)
    assert "note: m: openvino INT8 IR not built: no calibration data" in proc.stderr
    assert _published(root) == ["m.bin", "m.buildinfo.json", "m.verify.json", "m.xml"]
    jobs = planned(root, "--config", "overrides={m: {openvino.quantize: true}}")
    assert {"quantize_ir", "verify_ir_int8", "publish_ir_int8"} <= set(rules_for(jobs, "m"))
    # A zoo of such models: one note for all of them, on every command (here a dry run), not a line each.
    for name in ("n", "o"):
        conv_net(root / "models" / f"{name}.onnx")
    proc = snakemake(root, "-n", "--config", "models=m,n,o")
    notes = [line for line in proc.stderr.splitlines() if "INT8 IR" in line]
    assert notes == ["note: 3 models get no openvino INT8 IR: no calibration data (set calibration.path; "
                     "openvino.quantize: true builds it on random data): m, n, o"]
