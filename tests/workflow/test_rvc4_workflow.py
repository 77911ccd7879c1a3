"""The RVC4 (SNPE) chain through Snakemake, with SNPE replaced by the test doubles in tests/doubles/."""

import json
import re

import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net, two_input_net

DOUBLES = REPO / "tests" / "doubles"
pytestmark = pytest.mark.workflow


def _project(root, bin_dir=DOUBLES):
    write_yaml(
        root / "config" / "config.yaml",
        {"models": ["alpha", "beta"], "targets": ["rvc4"], "toolchains": {"rvc4": {"bin_dir": str(bin_dir)}}},
    )
    conv_net(root / "models" / "alpha.onnx", size=16)
    two_input_net(root / "models" / "beta.onnx")  # an image and a non-image input, random calibration
    write_images(root / "calibration_data" / "alpha", 5)
    write_yaml(
        root / "config" / "models" / "alpha.yaml",
        {
            "input_model": "models/alpha.onnx",
            "mean_values": "imagenet",
            "scale_values": "imagenet",
            "calibration": {"path": "calibration_data/alpha", "max_images": 4},
            "rvc4": {"htp_socs": ["sm8550", "qcs8550"]},
        },
    )
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("rvc4"))


def test_dlc_chain_end_to_end_and_reruns(project):
    snakemake(project)
    out = project / "results" / "rvc4"
    dlc = json.loads((out / "alpha.dlc").read_text())
    assert dlc["quantized"] and dlc["prepared_for"] == ["sm8550", "qcs8550"] and dlc["calibration_samples"] == 4
    assert dlc["inputs"] == {"x": {"dims": [1, 3, 16, 16], "dtype": "float32", "layout": "NCHW"}}
    beta = json.loads((out / "beta.dlc").read_text())
    assert set(beta["inputs"]) == {"image", "gain"} and beta["calibration_samples"] == 20
    lines = (project / "results" / "intermediate" / "beta" / "rvc4" / "input_list.txt").read_text().splitlines()
    assert len(lines) == 20 and lines[0].startswith("image:=") and " gain:=" in lines[0]
    assert "output,out" in (out / "alpha.info.csv").read_text()
    info = json.loads((out / "alpha.buildinfo.json").read_text())
    assert [s["step"] for s in info["steps"]] == [
        "attach_normalization", "optimize_onnx", "simplify", "onnx_to_dlc",
        "prepare_calibration", "prepare_snpe_inputs", "quantize_dlc", "graph_prepare_dlc",
    ]
    quant = info["steps"][6]["tool_calls"][0]
    assert quant["argv"][-1] == "--use_per_channel_quantization" and "test double" in quant["version"]

    assert planned(project) == set()
    jobs = planned(project, "--config", "overrides={alpha: {rvc4.htp_socs: '[qcs8550]'}}")
    assert rules_for(jobs, "alpha") == {"graph_prepare_dlc", "publish_dlc"} and rules_for(jobs, "beta") == set()
    jobs = planned(project, "--config", "overrides={alpha: {rvc4.quantization_mode: INT8_INT16_MIXED}}")
    assert rules_for(jobs, "alpha") == {"quantize_dlc", "graph_prepare_dlc", "publish_dlc"}
    snakemake(project, "--config", "overrides={alpha: {rvc4.quantization_mode: FP16_STANDARD}}")
    dlc = json.loads((out / "alpha.dlc").read_text())
    assert not dlc["quantized"] and dlc["float_bitwidth"] == 16 and dlc["float_io"]


def test_missing_snpe_stops_before_any_job(tmp_path):
    root = _project(tmp_path, bin_dir=tmp_path / "no-sdk")
    proc = snakemake(root, check=False)
    assert proc.returncode != 0
    assert "error: target rvc4: `snpe-onnx-to-dlc` not found (looked at toolchains.rvc4.bin_dir:" in proc.stderr
    assert "Qualcomm's SDK archive" in proc.stderr
    assert not (root / "results").exists()


def test_apptainer_runtime_runs_the_tool_steps_in_the_image(tmp_path):
    """toolchains.rvc4.runtime apptainer: Snakemake's own `container:` (--sdm apptainer) wraps the
    SNPE steps and nothing else. Apptainer is replaced by the double in tests/doubles/apptainer-bin,
    which checks its arguments and runs the command here (as an image with edgeconv and SNPE would)."""
    import os

    root = _project(tmp_path)
    (root / "rvc4.sif").write_bytes(b"SIF test image of the double")
    write_yaml(
        root / "config" / "config.yaml",
        {"models": ["alpha"], "targets": ["rvc4"],
         "toolchains": {"rvc4": {"runtime": "apptainer", "image": "rvc4.sif", "bin_dir": str(DOUBLES)}}},
    )
    env_path = f"{DOUBLES / 'apptainer-bin'}{os.pathsep}{os.environ['PATH']}"
    log = tmp_path / "apptainer.jsonl"
    # Without --sdm apptainer the steps would run on the host: stopped before any job.
    proc = snakemake(root, "results/rvc4/alpha.dlc", check=False)
    assert proc.returncode != 0
    assert "error: target rvc4: toolchains.rvc4.runtime is apptainer, so run snakemake with `--sdm apptainer`" in proc.stderr
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2",
           "results/rvc4/alpha.dlc", "--sdm", "apptainer"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PATH": env_path, "APPTAINER_DOUBLE_LOG": str(log)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    steps = sorted(re.search(r"edgeconv-step (\w+)", c["cmd"]).group(1) for c in calls)
    assert steps == ["graph_prepare_dlc", "onnx_to_dlc", "quantize_dlc"]  # only the SNPE steps
    assert all(c["image"] == "rvc4.sif" and c["home"] == str(root) for c in calls)
    dlc = json.loads((root / "results" / "rvc4" / "alpha.dlc").read_text())
    assert dlc["quantized"] and dlc["prepared_for"] == ["sm8550", "qcs8550"]
    record = json.loads((root / "results" / "intermediate" / "alpha" / "records" / "quantize_dlc.json").read_text())
    assert record["toolchain"] == {"runtime": "apptainer", "image": "rvc4.sif", "target": "rvc4"}


def test_a_model_that_comes_quantized_gives_snpe_its_own_encodings(tmp_path):
    """A QDQ model (onnxruntime's export of a conv net) goes to snpe-onnx-to-dlc as its float form
    with its own scales as --quantization_overrides (the SNPE double checks every name against the
    model it is given), and the run says so. What SNPE then does with them is not run here."""
    import numpy as np

    from edgeconv.targets.qnn_htp import quantize_qdq

    conv_net(tmp_path / "float.onnx", size=16)
    samples = {"x": np.random.default_rng(0).uniform(-2, 2, (8, 1, 3, 16, 16)).astype(np.float32)}
    quantize_qdq(tmp_path / "float.onnx", samples, tmp_path / "qdq.onnx", "INT8_STANDARD", True)
    root = tmp_path / "p"
    write_yaml(root / "config" / "config.yaml", {"models": ["q"], "targets": ["rvc4"],
                                                 "toolchains": {"rvc4": {"bin_dir": str(DOUBLES)}}})
    (root / "models").mkdir(parents=True)
    (root / "models" / "q.onnx").write_bytes((tmp_path / "qdq.onnx").read_bytes())
    proc = snakemake(root)
    assert "the model comes quantized" in proc.stderr and "quantization overrides" in proc.stderr
    dlc = json.loads((root / "results" / "rvc4" / "q.dlc").read_text())
    pinned = dlc["quantization_overrides"]["tensors"]
    assert pinned["r1"]["bitwidth"] == 8 and pinned["r1"]["group"] == "activation_encodings"
    assert any(v["group"] == "param_encodings" for v in pinned.values())
    assert all(v["known"] for v in pinned.values())
    info = json.loads((root / "results" / "rvc4" / "q.buildinfo.json").read_text())
    call = next(s for s in info["steps"] if s["step"] == "onnx_to_dlc")["tool_calls"][0]
    kept = call["quantization_overrides"]["kept_quantization"]
    assert kept["nodes"]["QuantizeLinear"] > 0 and kept["parameters"] == 2 and kept["activations"] >= 5
    assert any(a.endswith("simplified.float.onnx") for a in call["argv"])  # its float form, written for SNPE
