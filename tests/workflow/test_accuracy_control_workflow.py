"""Accuracy control through Snakemake on a model with one sensitive layer: plain INT8 misses the
gate; qnn_htp, rvc4 (its encodings reach SNPE's test double) and openvino meet it with that layer
kept at higher precision; nothing reruns when nothing changed, a changed threshold reruns the
search, and a gate that cannot be met publishes nothing."""

import json

import onnx
import pytest

from harness import REPO, planned, rules_for, snakemake, write_yaml
from models import sensitive_net

pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("accuracy")
    write_yaml(root / "config" / "config.yaml", {
        "models": ["sens"], "targets": ["openvino", "qnn_htp", "rvc4"],
        "verify": {"max_images": 4, "qnn_htp": {"min_cosine": 0.99}, "openvino_int8": {"min_cosine": 0.99}},
        "toolchains": {"rvc4": {"bin_dir": str(REPO / "tests" / "doubles")}},
    })
    sensitive_net(root / "models" / "sens.onnx")
    write_yaml(root / "config" / "models" / "sens.yaml", {
        "input_model": "models/sens.onnx", "encoding": "NONE",
        "calibration": {"max_images": 16, "mean": 0, "std": 1, "min_value": -4, "max_value": 4},
        "rvc4": {"accuracy_control": {"max_trials": 8}, "htp_socs": ["qcs8550"]},
        "openvino": {"accuracy_control": True, "quantize": True},
    })
    return root


def _step(buildinfo, name):
    info = json.loads(buildinfo.read_text())
    return next(s for s in info["steps"] if s["step"] == name)


def test_all_three_targets_meet_the_gate_with_the_sensitive_layer_kept(project):
    proc = snakemake(project)
    out = project / "results"
    search = _step(out / "qnn_htp" / "sens.buildinfo.json", "htp_accuracy_control")["accuracy_control"]
    # One progress line per trial, in the step's log and on the console, as the trials ran.
    log = (project / "logs" / "sens" / "htp_accuracy_control.log").read_text()
    for t in search["trials"]:
        line = f"trial {t['trial']} ({t['measured_in']}): {t['activations_16bit']} activation(s) and"
        assert line in log and f"htp_accuracy_control (sens): {line}" in proc.stderr
        assert f"worst cosine {t['worst_cosine']:.6f}" in log
    # The search runs on the CPU; what it chose is measured in the HTP simulator before it is kept.
    assert search["trials"][0]["measured_in"] == "cpu" and search["trials_by_runtime"]["simulator"] >= 1
    assert next(t for t in search["trials"] if t.get("chosen"))["measured_in"] == "simulator"
    assert search["plain_int8_worst_cosine"] < 0.99 <= search["final_worst_cosine"]
    assert search["kept_higher_precision"] == ["wide"] and search["gate"] == {"min_cosine": 0.993}
    assert search["gate_samples"] == 4 and search["statistics_samples"] == 12
    report = json.loads((out / "qnn_htp" / "sens.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] >= 0.99  # in the HTP simulator

    dlc = json.loads((out / "rvc4" / "sens.dlc").read_text())
    assert dlc["quantization_overrides"]["tensors"]["wide"] == {"group": "activation_encodings", "bitwidth": 16, "known": True}
    assert _step(out / "rvc4" / "sens.buildinfo.json", "htp_accuracy_control")["accuracy_control"]["kept_higher_precision"] == ["wide"]

    info = json.loads((out / "openvino" / "sens.int8.buildinfo.json").read_text())
    simplified = onnx.load(project / "results" / "intermediate" / "sens" / "simplified.onnx")
    reader = next(n.name for n in simplified.graph.node if "wide" in n.input)  # the Conv that reads `wide`
    assert info["accuracy_control"]["kept_higher_precision"] == [reader] and info["accuracy_control"]["target"] == "openvino"
    assert json.loads((out / "openvino" / "sens.int8.verify.json").read_text())["passed"]

    assert planned(project) == set()
    jobs = planned(project, "--config", "overrides={sens: {verify.qnn_htp.min_cosine: 0.995}}")
    assert "htp_accuracy_control" in rules_for(jobs, "sens") and "quantize_ir" not in rules_for(jobs, "sens")


def test_a_gate_that_cannot_be_met_publishes_nothing(tmp_path):
    write_yaml(tmp_path / "config" / "config.yaml", {
        "models": ["sens"], "targets": ["qnn_htp"], "verify": {"max_images": 4, "qnn_htp": {"min_cosine": 0.9999999}}})
    sensitive_net(tmp_path / "models" / "sens.onnx")
    write_yaml(tmp_path / "config" / "models" / "sens.yaml", {
        "input_model": "models/sens.onnx", "encoding": "NONE",
        "calibration": {"max_images": 16, "mean": 0, "std": 1, "min_value": -4, "max_value": 4},
        "rvc4": {"accuracy_control": {"max_trials": 4, "margin": 0}, "htp_socs": ["qcs8550"]},
    })
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    # Plain INT8, then the other end (every activation at 16 bits on the CPU, which misses, then in the
    # HTP simulator, then their weights too): the bound, measured, ends it.
    assert ("accuracy control (qnn_htp): the gate {'min_cosine': 0.9999999} cannot be met: measured in QNN HTP "
            "simulator") in proc.stderr
    assert "; with every candidate activation and weight at 16 bits" in proc.stderr
    assert not (tmp_path / "results" / "qnn_htp").exists()
