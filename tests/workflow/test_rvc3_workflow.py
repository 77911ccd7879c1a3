"""The RVC3 chain through Snakemake: real mo and real POT (OpenVINO 2022.3, `make mo-env`), the
INT8 IR verified on CPU, compile_tool for VPUX replaced by the test double in tests/doubles/."""

import json

import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net

MO_ENV = REPO / ".venvs" / "openvino-2022.3" / "bin"
pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MO_ENV / "pot").exists(), reason="needs OpenVINO 2022.3's mo and pot: run `make mo-env`"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("rvc3")
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": ["rvc3"], "verify": {"max_images": 2},
        "toolchains": {"rvc3": {"compile_tool": str(REPO / "tests" / "doubles" / "compile_tool")}},
    })
    conv_net(root / "models" / "alpha.onnx", size=24)
    write_images(root / "calibration_data" / "alpha", 6)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx",
        "mean_values": [127.5, 127.5, 127.5],
        "scale_values": [64, 64, 64],
        "calibration": {"path": "calibration_data/alpha"},
    })
    return root


def test_pot_int8_blob_end_to_end(project):
    snakemake(project)
    inter = project / "results" / "intermediate" / "alpha" / "rvc3"
    assert "FakeQuantize" in (inter / "alpha.int8.xml").read_text()
    report = json.loads((inter / "alpha.int8.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] >= 0.98
    assert (project / "results" / "rvc3" / "alpha.blob").read_bytes().startswith(b"VPUXBLOB-TESTDOUBLE\0INT8")
    info = json.loads((project / "results" / "rvc3" / "alpha.buildinfo.json").read_text())
    pot = next(s for s in info["steps"] if s["step"] == "pot_quantize")["tool_calls"][0]
    assert pot["argv"][1:3] == ["--config", pot["argv"][2]] and pot["argv"][3] == "-d"
    assert pot["pot_config"]["compression"]["target_device"] == "VPU" and pot["calibration_images"] == 6
    compile_call = info["steps"][-1]["tool_calls"][0]
    assert compile_call["argv"][1:5] == ["-d", "VPUX.3400", "-ip", "U8"] and "-c" not in compile_call["argv"]
    assert planned(project) == set()
    jobs = planned(project, "--config", "overrides={alpha: {rvc3.pot_target_device: ANY}}")
    assert rules_for(jobs, "alpha") == {"pot_quantize", "verify_pot_ir", "compile_vpux_blob", "buildinfo_rvc3"}
    jobs = planned(project, "--config", "overrides={alpha: {rvc2.number_of_shaves: 4}}")
    assert jobs == set()  # rvc2 keys feed nothing of rvc3
