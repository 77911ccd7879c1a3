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
    assert rules_for(jobs, "alpha") == {"pot_quantize", "verify_pot_ir", "compile_vpux_blob", "publish_rvc3"}
    jobs = planned(project, "--config", "overrides={alpha: {rvc2.number_of_shaves: 4}}")
    assert jobs == set()  # rvc2 keys feed nothing of rvc3


def test_an_openvino_ir_input_is_compiled_as_it_is_for_rvc3_and_refused_by_rvc2_s_built_in_compiler(project):
    """mo's IR from the test above becomes the model `beta`: no ONNX steps, real POT on it, the
    INT8 IR verified on CPU against the float IR, compile_tool (double) for rvc3. For rvc2, the
    built-in compiler (OpenVINO 2021.4) cannot read this IR v11: that stops the run before any job."""
    import shutil

    snakemake(project)
    inter = project / "results" / "intermediate" / "alpha" / "rvc3"
    for suffix in (".xml", ".bin"):
        shutil.copy(inter / f"alpha{suffix}", project / "models" / f"beta{suffix}")
    write_yaml(project / "config" / "models" / "beta.yaml", {
        "input_model": "models/beta.xml", "calibration": {"path": "calibration_data/alpha"},
    })
    toolchains = {"rvc3": {"compile_tool": str(REPO / "tests" / "doubles" / "compile_tool")}}
    config = f"toolchains={json.dumps(toolchains)}"
    jobs = planned(project, "results/rvc3/beta.buildinfo.json", "--config", config)
    assert rules_for(jobs, "beta") == {
        "prepare_calibration", "pot_quantize", "verify_pot_ir", "compile_vpux_blob", "publish_rvc3",
    }
    snakemake(project, "results/rvc3/beta.buildinfo.json", "--config", config)
    report = json.loads((project / "results" / "intermediate" / "beta" / "rvc3" / "beta.int8.verify.json").read_text())
    assert report["original"] == "models/beta.xml" and report["passed"]
    assert report["outputs"]["out"]["cosine"] >= 0.98
    if (REPO / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile").exists():
        proc = snakemake(project, "results/rvc2/beta.blob", "--config", config, check=False)
        assert proc.returncode != 0 and "Nothing to be done" not in proc.stdout
        line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: "))
        assert "models/beta.xml is IR v11" in line and "the built-in compiler (OpenVINO 2021.4) reads IR v10" in line
        assert not (project / "results" / "intermediate" / "beta" / "rvc2").exists()


@pytest.mark.parametrize(
    "settings, targets, message",
    [
        ({"mean_values": [127.5]}, ["rvc3"], "mean/scale cannot be added to an OpenVINO IR"),
        ({}, ["openvino"], "is an OpenVINO IR, which converts for rvc2 and rvc3"),
    ],
)
def test_ir_input_errors_stop_before_any_job(project, settings, targets, message):
    snakemake(project)
    write_yaml(project / "config" / "models" / "gamma.yaml", {"input_model": "results/intermediate/alpha/rvc3/alpha.xml", **settings})
    proc = snakemake(project, "--config", "models=[gamma]", f"targets={json.dumps(targets)}", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (project / "results" / "intermediate" / "gamma").exists()
