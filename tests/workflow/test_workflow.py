"""The workflow end to end through Snakemake: DAG, real artifacts, reruns of exactly what changed."""

import json
import os
import re
import time

import pytest

from edgeconv.lockinfo import environment
from edgeconv.records import file_sha256

from harness import new_project, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow

ONNX_CHAIN = {"attach_normalization", "optimize_onnx", "simplify", "verify_onnx_stages"}
OPENVINO = {"convert_ir", "quantize_ir", "verify_ir", "verify_ir_int8", "publish_ir", "publish_ir_int8"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = new_project(tmp_path_factory.mktemp("proj"), ["alpha", "beta"])
    # beta has no calibration data, so its INT8 IR is built only when asked for.
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha", "beta"], "targets": ["openvino"], "verify": {"max_images": 2},
        "overrides": {"beta": {"openvino.quantize": True}},
    })
    conv_net(root / "models" / "alpha.onnx", dynamic_hw=True, size=24)
    conv_net(root / "models" / "beta.onnx", seed=4, size=16)  # bare ONNX, no config
    write_images(root / "calibration_data" / "alpha", 6)
    write_yaml(
        root / "config" / "models" / "alpha.yaml",
        {
            "input_model": "models/alpha.onnx",
            "inputs": [{"name": "x", "shape": [1, 3, 24, 24], "mean_values": [120, 110, 100], "scale_values": 58}],
            "encoding": {"from": "RGB", "to": "BGR"},
            "calibration": {"path": "calibration_data/alpha", "max_images": 5, "resize_method": "CROP"},
            "rvc4": {"quantization_mode": "INT8_STANDARD"},
        },
    )
    return root


def test_dry_run_dag_holds_every_step_for_every_model(project):
    jobs = planned(project)
    for model in ("alpha", "beta"):
        assert rules_for(jobs, model) == ONNX_CHAIN | OPENVINO | {"prepare_calibration"}
    stats = snakemake(project, "-n").stdout
    # Three ONNX stages verified per model in one job; 11 jobs per model plus `all`.
    assert re.search(r"^verify_onnx_stages\s+2$", stats, re.M) and re.search(r"^total\s+23$", stats, re.M)
    assert not (project / "results").exists()  # a dry run writes nothing


def test_real_run_then_incremental_reruns(project):
    snakemake(project)
    res = project / "results"
    for model in ("alpha", "beta"):
        for name in (f"{model}.xml", f"{model}.bin", f"{model}.int8.xml", f"{model}.int8.bin"):
            assert (res / "openvino" / name).stat().st_size > 0
        for report in (
            res / "openvino" / f"{model}.verify.json",
            res / "openvino" / f"{model}.int8.verify.json",
            *(res / "intermediate" / model / f"{s}.verify.json" for s in ("normalized", "optimized", "simplified")),
        ):
            data = json.loads(report.read_text())
            assert data["passed"] and data["outputs"]["out"]["cosine"] > 0.95, report
    info = json.loads((res / "openvino" / "alpha.int8.buildinfo.json").read_text())
    steps = [s["step"] for s in info["steps"]]
    assert steps == ["attach_normalization", "optimize_onnx", "simplify", "prepare_calibration", "quantize_ir"]
    first = info["steps"][0]
    assert first["argv"][1:4] == ["-m", "edgeconv.steps", "attach_normalization"]
    assert len(first["inputs"]["model"]["sha256"]) == 64 and "onnxruntime" in first["tool_versions"]
    assert info["steps"][-1]["tool_calls"][0]["tool"] == "nncf"
    resolved = info["resolved_config"]["inputs"][0]
    assert resolved["mean"] == [120.0, 110.0, 100.0] and resolved["encoding_to"] == "BGR"
    # Each step's settings under their config names.
    assert info["resolved_config"]["quantize_ir"] == {
        "compress_to_fp16": True, "preset": "performance", "fast_bias_correction": True, "subset_size": 300,
    }
    assert info["resolved_config"]["simplify"] == {"onnx_simplification": "auto"}
    assert next(s for s in info["steps"] if s["step"] == "simplify")["tool_calls"][0]["tool"] == "onnxsim"
    assert info["verification"]["passed"]
    # Published copies of what was built and checked under results/intermediate, byte for byte.
    assert sorted(info["artifact"]) == ["results/openvino/alpha.int8.bin", "results/openvino/alpha.int8.xml"]
    built = res / "intermediate" / "alpha" / "openvino" / "alpha.int8.bin"
    assert info["artifact"]["results/openvino/alpha.int8.bin"] == file_sha256(built)
    # Every step ran in this environment: the build info names its lock and digest.
    assert info["environment"]["edgeconv"] == environment()
    assert (project / "logs" / "alpha" / "quantize_ir.log").exists()

    # A second run does no work.
    assert planned(project) == set()
    # rvc4 keys feed nothing of the openvino target.
    assert planned(project, "--config", "overrides={alpha: {rvc4.quantization_mode: FP16_STANDARD}}") == set()

    # One key of one model reruns only the steps that key feeds.
    jobs = planned(project, "--config", "overrides={alpha: {onnx_simplification: onnxslim}}")
    assert rules_for(jobs, "alpha") == {"simplify", "convert_ir", "quantize_ir", "verify_onnx_stages", "verify_ir",
                                        "verify_ir_int8", "publish_ir", "publish_ir_int8"}
    assert rules_for(jobs, "beta") == set()
    jobs = planned(project, "--config", "overrides={alpha: {openvino.preset: mixed}}")
    assert rules_for(jobs, "alpha") == {"quantize_ir", "verify_ir_int8", "publish_ir_int8"}
    jobs = planned(project, "--config", 'overrides={alpha: {inputs.0.mean_values: "[0,0,0]"}}')
    assert rules_for(jobs, "alpha") >= {"attach_normalization", "prepare_calibration", "convert_ir"}
    assert rules_for(jobs, "beta") == set()
    jobs = planned(project, "--config", "overrides={alpha: {calibration.max_images: 4}}")
    assert rules_for(jobs, "alpha") == {"prepare_calibration", "quantize_ir", "verify_onnx_stages", "verify_ir",
                                        "verify_ir_int8", "publish_ir", "publish_ir_int8"}
    # Overrides for every model at once.
    jobs = planned(project, "--config", "overrides={'*': {openvino.compress_to_fp16: false}}")
    assert {m for r, m in jobs if r == "convert_ir"} == {"alpha", "beta"}

    # Touching one model does not rebuild another; Snakemake checksums inputs, so a touch
    # without a change reruns nothing, and a changed model reruns its own chain only.
    future = time.time() + 5
    os.utime(project / "models" / "beta.onnx", (future, future))
    assert planned(project) == set()
    conv_net(project / "models" / "beta.onnx", seed=5, size=16)
    jobs = planned(project)
    assert rules_for(jobs, "alpha") == set() and "attach_normalization" in rules_for(jobs, "beta")

    # New calibration data re-quantizes without reconverting the FP16 IR.
    write_images(project / "calibration_data" / "alpha", 1, seed=9)  # overwrites img_00.png
    jobs = planned(project)
    assert "prepare_calibration" in rules_for(jobs, "alpha") and "quantize_ir" in rules_for(jobs, "alpha")
    assert "convert_ir" not in rules_for(jobs, "alpha")

    # Asking for one artifact by path builds only its chain.
    snakemake(project, "results/openvino/beta.xml")
    jobs = planned(project, "results/openvino/beta.xml")
    assert jobs == set()


def test_an_onnx_with_external_data_converts_and_its_data_is_an_input(tmp_path):
    """Weights in `<model>.onnx_data` (how models over 2 GB are stored) are read by the chain, and
    new weights rebuild it."""
    import onnx

    new_project(tmp_path, ["ext"])
    model = conv_net()
    (tmp_path / "models").mkdir()
    onnx.save_model(model, str(tmp_path / "models" / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.onnx_data", size_threshold=0)
    assert not onnx.load(str(tmp_path / "models" / "ext.onnx"), load_external_data=False).graph.initializer[0].raw_data
    snakemake(tmp_path)
    report = json.loads((tmp_path / "results" / "openvino" / "ext.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
    assert planned(tmp_path) == set()
    # Other weights, same graph file: only the data file changes.
    (tmp_path / "other").mkdir()
    onnx.save_model(conv_net(seed=5), str(tmp_path / "other" / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.onnx_data", size_threshold=0)
    assert (tmp_path / "other" / "ext.onnx").read_bytes() == (tmp_path / "models" / "ext.onnx").read_bytes()
    (tmp_path / "models" / "ext.onnx_data").write_bytes((tmp_path / "other" / "ext.onnx_data").read_bytes())
    assert "attach_normalization" in rules_for(planned(tmp_path), "ext")
