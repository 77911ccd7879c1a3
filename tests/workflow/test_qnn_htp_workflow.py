"""The qnn_htp target through Snakemake, for real: QDQ model, context binary, simulator verification, reruns."""

import json

import pytest

from harness import planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net

pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("qnn")
    write_yaml(root / "config" / "config.yaml", {"models": ["alpha"], "targets": ["qnn_htp"], "verify": {"max_images": 3}})
    conv_net(root / "models" / "alpha.onnx", size=24)
    write_images(root / "calibration_data" / "alpha", 8)
    write_yaml(
        root / "config" / "models" / "alpha.yaml",
        {
            "input_model": "models/alpha.onnx",
            "mean_values": 127.5,
            "scale_values": 64,
            "calibration": {"path": "calibration_data/alpha"},
            "rvc4": {"quantization_mode": "INT8_STANDARD", "htp_socs": ["qcs8550"]},
        },
    )
    return root


def test_qnn_htp_end_to_end_and_incremental(project):
    snakemake(project)
    out = project / "results" / "qnn_htp"
    assert (out / "alpha.quant.onnx").exists() and (out / "alpha.ctx_qnn.bin").stat().st_size > 0
    report = json.loads((out / "alpha.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] >= 0.98
    assert report["runtime"] == {"simulator": "QNN HTP (onnxruntime-qnn, x86-64)", "soc": "qcs8550", "fp16": False}
    info = json.loads((out / "alpha.buildinfo.json").read_text())
    assert [s["step"] for s in info["steps"]] == [
        "attach_normalization", "optimize_onnx", "simplify", "prepare_calibration", "quantize_qdq", "compile_htp"
    ]
    compile_call = info["steps"][-1]["tool_calls"][0]
    assert compile_call["onnxruntime-qnn"] and compile_call["provider_options"] == {
        "htp_arch": "73", "soc_model": "66", "backend_path": "libQnnHtp.so"
    }
    assert "onnxruntime-qnn" in info["steps"][-2]["tool_calls"][0]
    assert not (project / "results" / "openvino").exists()  # only the requested target

    assert planned(project) == set()
    # Another SoC recompiles the context binary but does not re-quantize.
    jobs = planned(project, "--config", "overrides={alpha: {rvc4.htp_socs: '[sm8650]'}}")
    assert rules_for(jobs, "alpha") == {"compile_htp", "verify_htp", "publish_htp"}
    # Other calibration data re-quantizes.
    jobs = planned(project, "--config", "overrides={alpha: {calibration.max_images: 4}}")
    assert {"prepare_calibration", "quantize_qdq", "compile_htp"} <= rules_for(jobs, "alpha")
    # Another mode re-quantizes; FP16 needs no calibration data at all.
    jobs = planned(project, "--config", "overrides={alpha: {rvc4.quantization_mode: FP16_STANDARD}}")
    assert rules_for(jobs, "alpha") == {"quantize_qdq", "compile_htp", "verify_htp", "publish_htp"}
    snakemake(project, "--config", "overrides={alpha: {rvc4.quantization_mode: FP16_STANDARD}}")
    report = json.loads((out / "alpha.verify.json").read_text())
    assert report["runtime"]["fp16"] is True and report["outputs"]["out"]["cosine"] >= 0.999


def test_unmappable_mode_stops_before_any_job(tmp_path):
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["m"], "targets": ["qnn_htp"]})
    conv_net(tmp_path / "models" / "m.onnx")
    write_yaml(tmp_path / "config" / "models" / "m.yaml", {"input_model": "models/m.onnx", "rvc4": {"quantization_mode": "CUSTOM"}})
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert "error: config/models/m.yaml: rvc4.quantization_mode CUSTOM cannot be used for the qnn_htp target" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_a_model_that_comes_quantized_keeps_its_own_quantization(tmp_path):
    """A QDQ model (here: onnxruntime's own QDQ export of a conv net) goes to the HTP with its own
    scales, not quantized a second time (onnxruntime once refused that: two nodes with the same
    name), with no calibration data, and checked in the simulator against itself as given. The run
    says so on the console; accuracy control has nothing to search."""
    import numpy as np

    from edgeconv.targets.qnn_htp import quantize_qdq

    float_model = tmp_path / "float.onnx"
    conv_net(float_model, size=24)
    samples = {"x": np.random.default_rng(0).uniform(-2, 2, (8, 1, 3, 24, 24)).astype(np.float32)}
    quantize_qdq(float_model, samples, tmp_path / "qdq.onnx", "INT8_STANDARD", True)
    root = tmp_path / "p"
    write_yaml(root / "config" / "config.yaml", {"models": ["q"], "targets": ["qnn_htp"], "verify": {"max_images": 2}})
    (root / "models").mkdir(parents=True)
    (root / "models" / "q.onnx").write_bytes((tmp_path / "qdq.onnx").read_bytes())
    write_yaml(root / "config" / "models" / "q.yaml", {
        "input_model": "models/q.onnx",
        "rvc4": {"quantization_mode": "INT8_STANDARD", "htp_socs": ["qcs8550"], "accuracy_control": True},
    })
    proc = snakemake(root)
    assert "the model comes quantized" in proc.stderr and "its own quantization is kept" in proc.stderr
    out = root / "results" / "qnn_htp"
    report = json.loads((out / "q.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] >= 0.99
    info = json.loads((out / "q.buildinfo.json").read_text())
    qdq = next(s for s in info["steps"] if s["step"] == "quantize_qdq")["tool_calls"][0]
    assert qdq["tool"] == "none" and qdq["kept_quantization"]["QuantizeLinear"] > 0
    import onnx

    from edgeconv.onnx_graph import quantization_nodes

    counts = quantization_nodes(onnx.load(str(out / "q.quant.onnx")))
    assert counts == quantization_nodes(onnx.load(str(root / "models" / "q.onnx")))  # not quantized twice
