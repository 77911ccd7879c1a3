"""The RVC2 chain with the user's own OpenVINO 2022.3 compile_tool (toolchains.rvc2.compile_tool):
real mo (OpenVINO 2022.3, from `make mo-env`) with its IR verified on CPU, and compile_tool
replaced by the test double in tests/doubles/. Real blobs (the built-in 2021.4 compiler) are
tested in test_rvc2_blobs.py."""

import json
import re

import bsdiff4
import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import conv_net
from edgeconv.targets.rvc2 import parse_superblob

MO = REPO / ".venvs" / "openvino-2022.3" / "bin" / "mo"
COMPILE_TOOL = REPO / "tests" / "doubles" / "compile_tool"

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not MO.exists(), reason="needs OpenVINO 2022.3's mo: run `make mo-env` (make test does)"),
]


def _project(root, toolchains=None, rvc2=None):
    write_yaml(
        root / "config" / "config.yaml",
        {
            "models": ["alpha"],
            "targets": ["rvc2"],
            "verify": {"max_images": 2},
            "toolchains": toolchains if toolchains is not None else {"rvc2": {"mo": str(MO), "compile_tool": str(COMPILE_TOOL)}},
        },
    )
    conv_net(root / "models" / "alpha.onnx", dynamic_hw=True)
    write_images(root / "calibration_data" / "alpha", 3)
    write_yaml(
        root / "config" / "models" / "alpha.yaml",
        {
            "input_model": "models/alpha.onnx",
            "shape": [1, 3, 20, 20],
            "mean_values": [123.675, 116.28, 103.53],
            "scale_values": [58.395, 57.12, 57.375],
            "encoding": {"from": "RGB", "to": "BGR"},
            "calibration": {"path": "calibration_data/alpha"},
            "rvc2": rvc2 or {},
        },
    )
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("rvc2"))


def test_the_users_compile_tool_gets_mo_2022_3_ir_and_a_blob_depthai_cannot_read_is_not_kept(project):
    """With toolchains.rvc2.compile_tool set, the chain is OpenVINO 2022.3's (mo 2022.3, the user's
    compile_tool). The test double writes a stand-in, not a blob: DepthAI's read-back refuses it
    (a tool that exits 0 with something else in the file), so nothing is published."""
    jobs = snakemake(project, "-n").stdout
    assert re.search(r"^compile_blob_variant\s+16$", jobs, re.M) and re.search(r"^blob_patch\s+15$", jobs, re.M)
    assert "rewrite_for_myriad" not in jobs  # only the built-in 2021.4 toolchain needs it
    snakemake(project, "results/intermediate/alpha/rvc2/alpha.verify.json")
    inter = project / "results" / "intermediate" / "alpha"
    report = json.loads((inter / "rvc2" / "alpha.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999  # mo's IR, on CPU, vs the original
    record = json.loads((inter / "records" / "rvc2_convert_mo.json").read_text())
    call = record["tool_calls"][0]
    assert "2022.3.2" in call["version"]
    assert call["argv"][call["argv"].index("--mean_values") + 1] == "x[123.675, 116.28, 103.53]"
    assert "--reverse_input_channels" in call["argv"] and "--compress_to_fp16" in call["argv"]

    proc = snakemake(project, "results/rvc2/alpha.blob", "--config",
                     "overrides={alpha: {rvc2.superblob: false, rvc2.number_of_shaves: 6}}", check=False)
    assert proc.returncode != 0
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: compile_blob (alpha)"))
    assert "alpha.blob is not a MyriadX blob DepthAI 3." in line
    log = (project / "logs" / "alpha" / "compile_blob.log").read_text()
    assert " -d MYRIAD -ip U8 -m " in log and "compile_tool" in log  # the double ran, with compile_tool's argv
    assert not (inter / "rvc2" / "alpha.blob").exists() and not (project / "results" / "rvc2").exists()
    # Another OpenVINO version reruns mo and everything after it (2021.4: the built-in toolchain's own).
    jobs = planned(project, "--config", "overrides={alpha: {rvc2.openvino_version: '2021.4'}}")
    assert {"rewrite_for_myriad", "convert_mo", "compile_blob_variant", "assemble_superblob"} <= rules_for(jobs, "alpha")
    assert "attach_normalization_vendor" not in rules_for(jobs, "alpha")
    # A failing vendor tool: its own error line comes first, no traceback, no blob left behind.
    proc = snakemake(project, "results/rvc2/alpha.blob", "--config",
                     "overrides={alpha: {rvc2.compile_tool_args: '[-ip, FP16]'}}", check=False)
    assert proc.returncode != 0
    assert ("error: compile_blob (alpha): compile_tool (MYRIAD) failed (exit 1): [ ERROR ] -ip must be U8, got FP16"
            in proc.stderr)
    assert "Traceback" not in proc.stderr.split("error: compile_blob")[0]
    assert not (project / "results" / "intermediate" / "alpha" / "rvc2" / "alpha.blob").exists()


def test_missing_compile_tool_stops_before_any_job(tmp_path):
    root = _project(tmp_path, toolchains={"rvc2": {"mo": str(MO), "compile_tool": "/nowhere/compile_tool"}})
    proc = snakemake(root, check=False)
    assert proc.returncode != 0
    assert "error: target rvc2: `compile_tool` not found (looked at toolchains.rvc2.compile_tool=/nowhere/compile_tool" in proc.stderr
    assert "OpenVINO 2022.3 Linux archive" in proc.stderr
    assert not (root / "results").exists()
    # The IR alone needs only mo, so it can still be built and verified.
    snakemake(root, "results/intermediate/alpha/rvc2/alpha.verify.json")


def test_reserved_compile_tool_flags_are_refused(tmp_path):
    root = _project(tmp_path, rvc2={"compile_tool_args": ["-o", "elsewhere.blob"]})
    proc = snakemake(root, check=False)
    assert "rvc2.compile_tool_args may not set -o" in proc.stderr


def test_mo_runs_in_one_process_and_writes_the_ir_the_mo_launcher_writes(tmp_path):
    """mo of the locked environment is started as its Python on targets/mo_runner.py (no launcher
    processes); the IR is byte for byte the one the stock `mo` console script writes."""
    import shutil
    import subprocess

    from edgeconv.targets.rvc2 import mo_launcher

    launcher = mo_launcher(str(MO))
    assert launcher[0].endswith("/bin/python") and launcher[1].endswith("targets/mo_runner.py")
    assert mo_launcher(str(COMPILE_TOOL)) == [str(COMPILE_TOOL)]  # not a pip-installed mo: as it is
    model = tmp_path / "m.onnx"
    conv_net(model)
    args = ["--input_model", str(model), "--compress_to_fp16", "--mean_values", "x[1,2,3]", "--reverse_input_channels"]
    irs = {}
    for name, cmd in (("stock", [str(MO)]), ("runner", launcher)):
        # The same output directory for both (mo records its path in the IR), emptied in between.
        proc = subprocess.run([*cmd, "--output_dir", str(tmp_path / "out"), *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        irs[name] = [(tmp_path / "out" / f"m{s}").read_bytes() for s in (".xml", ".bin")]
        shutil.rmtree(tmp_path / "out")
    assert irs["runner"] == irs["stock"]
    # A broken installation still stops: the runtime bindings are imported up front.
    broken = subprocess.run([launcher[0], "-c", "import runpy, sys; sys.modules['openvino.runtime'] = None; "
                             f"sys.argv = ['x']; runpy.run_path({launcher[1]!r}, run_name='__main__')"],
                            capture_output=True, text=True)
    assert broken.returncode != 0 and "openvino.runtime" in broken.stderr
