"""rvc4.encodings through Snakemake: the same pinned precision reaches SNPE (the test double checks the
--quantization_overrides file) and the qnn_htp QDQ model (real onnxruntime); editing the file reruns
exactly the steps that apply it; strict names stop with the tensor named."""

import json

import onnx
import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net

pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
pytestmark = pytest.mark.workflow

PINNED = {"activation_encodings": {"r1": [{"bitwidth": 16, "dtype": "int"}],
                                   "x": [{"bitwidth": 16, "dtype": "int", "scale": 0.01, "offset": -10}]},
          "param_encodings": {"w2": [{"bitwidth": 8, "is_symmetric": "True"}]}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("encodings")
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": ["rvc4", "qnn_htp"], "verify": {"max_images": 2},
        "toolchains": {"rvc4": {"bin_dir": str(REPO / "tests" / "doubles")}},
    })
    conv_net(root / "models" / "alpha.onnx", size=16)
    write_images(root / "calibration_data" / "alpha", 6)
    # The reference's rule: a relative path is resolved beside the config file.
    (root / "config" / "models" / "enc").mkdir(parents=True)
    (root / "config" / "models" / "enc" / "alpha.json").write_text(json.dumps(PINNED))
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx", "mean_values": 127.5, "scale_values": 64,
        "calibration": {"path": "calibration_data/alpha"},
        "rvc4": {"encodings": "enc/alpha.json", "strict_quantization_overrides": True, "htp_socs": ["qcs8550"]},
    })
    return root


def test_encodings_reach_snpe_and_the_qdq_model(project):
    snakemake(project)
    dlc = json.loads((project / "results" / "rvc4" / "alpha.dlc").read_text())
    tensors = dlc["quantization_overrides"]["tensors"]
    assert tensors["r1"] == {"group": "activation_encodings", "bitwidth": 16, "known": True}
    assert tensors["x"]["bitwidth"] == 8 and tensors["out"]["bitwidth"] == 8  # IO normalized to 8-bit
    info = json.loads((project / "results" / "rvc4" / "alpha.buildinfo.json").read_text())
    call = next(s for s in info["steps"] if s["step"] == "onnx_to_dlc")["tool_calls"][0]
    assert call["quantization_overrides"]["io_normalized"] == ["out", "x"]
    assert call["quantization_overrides"]["strict"] == "every name is in the model"
    assert "--quantization_overrides" in call["argv"]

    graph = onnx.load(project / "results" / "qnn_htp" / "alpha.quant.onnx").graph
    zps = {t.name: t.data_type for t in graph.initializer}
    q_r1 = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "r1")
    assert zps[q_r1.input[2]] == onnx.TensorProto.UINT16
    report = json.loads((project / "results" / "qnn_htp" / "alpha.verify.json").read_text())
    assert report["passed"]
    qinfo = json.loads((project / "results" / "qnn_htp" / "alpha.buildinfo.json").read_text())
    qcall = next(s for s in qinfo["steps"] if s["step"] == "quantize_qdq")["tool_calls"][0]
    assert qcall["tensor_quant_overrides"]["applied"] == ["out", "r1", "w2", "x"]

    assert planned(project) == set()
    pinned = json.loads(json.dumps(PINNED))
    pinned["activation_encodings"]["r1"][0]["bitwidth"] = 8
    (project / "config" / "models" / "enc" / "alpha.json").write_text(json.dumps(pinned))
    jobs = planned(project)
    assert {"onnx_to_dlc", "quantize_qdq"} <= rules_for(jobs, "alpha")
    assert not {"simplify", "prepare_calibration", "optimize_onnx"} & rules_for(jobs, "alpha")


def test_strict_names_stop_the_step_naming_the_tensor(project):
    bad = {"activation_encodings": {"w1": [{"bitwidth": 16}]}, "param_encodings": {}}
    (project / "config" / "models" / "enc" / "alpha.json").write_text(json.dumps(bad))
    proc = snakemake(project, "results/rvc4/alpha.dlc", check=False)
    assert proc.returncode != 0
    assert "'w1' is a parameter: move it to param_encodings" in proc.stderr
    (project / "config" / "models" / "enc" / "alpha.json").write_text("{broken")
    proc = snakemake(project, "-n", check=False)
    assert proc.returncode != 0 and "rvc4.encodings" in proc.stderr and "alpha.json is not JSON" in proc.stderr
