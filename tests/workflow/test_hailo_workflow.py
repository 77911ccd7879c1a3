"""The Hailo chain through Snakemake, with the DFC replaced by the test double in tests/doubles/hailo/."""

import json

import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net

DFC_PYTHON = REPO / "tests" / "doubles" / "hailo" / "python"
pytestmark = pytest.mark.workflow


def _project(root, python=DFC_PYTHON, hailo=None):
    write_yaml(root / "config" / "config.yaml",
               {"models": ["alpha"], "targets": ["hailo"], "toolchains": {"hailo": {"python": str(python)}}})
    conv_net(root / "models" / "alpha.onnx", size=16)
    write_images(root / "calibration_data" / "alpha", 4)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx",
        "mean_values": [127.5, 127.5, 127.5],
        "scale_values": [64, 64, 64],
        "calibration": {"path": "calibration_data/alpha"},
        "hailo": hailo or {"hw_arch": "hailo8l", "alls": ["performance_param(compiler_optimization_level=max)"]},
    })
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("hailo"))


def test_har_and_hef_end_to_end(project):
    snakemake(project)
    out = project / "results" / "hailo"
    har = json.loads((out / "alpha.har").read_text())
    assert har["quantized"] and har["calibration_samples"] == 4
    assert "alpha/out" in har["hn"]["layers"]  # force_onnx_names renamed the output layer
    assert (out / "alpha.hef").read_bytes().startswith(b"\x01HEFHEF-TESTDOUBLE")
    info = json.loads((out / "alpha.hef.buildinfo.json").read_text())
    optimize = next(s for s in info["steps"] if s["step"] == "hailo_optimize")["tool_calls"][0]
    assert optimize["model_script"] == [
        "performance_param(compiler_optimization_level=max)",
        "model_optimization_flavor(optimization_level=2, compression_level=2, batch_size=8)",
        "normalization_x = normalization([127.5, 127.5, 127.5],[64.0, 64.0, 64.0],alpha/input_layer1)",
        "bgr_to_rgb_x = input_conversion(alpha/input_layer1,bgr_to_rgb)",
    ]
    assert optimize["calibration_shapes"] == {"alpha/input_layer1": [4, 16, 16, 3]}
    assert planned(project) == set()
    jobs = planned(project, "--config", "overrides={alpha: {hailo.compression_level: 1}}")
    assert rules_for(jobs, "alpha") == {"hailo_optimize", "hailo_compile", "publish_hailo"}


def test_missing_dfc_stops_before_any_job(tmp_path):
    root = _project(tmp_path, python=tmp_path / "no-dfc" / "python")
    proc = snakemake(root, check=False)
    assert proc.returncode != 0
    assert "error: target hailo: `python` not found" in proc.stderr and "Developer Zone" in proc.stderr
    assert not (root / "results").exists()
