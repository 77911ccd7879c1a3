"""A vendor tool that hangs, crashes or lies, as `snakemake` users meet it: the rvc2 chain with
tests/doubles/misbehaving_tool as toolchains.rvc2.compile_tool (mo 2021.4 from make rvc2-env makes
the IR). Each fault ends the job with one line that names it, and nothing is published."""

import os
import time

import pytest

from harness import REPO, needs, snakemake, write_images, write_yaml
from models import conv_net

DOUBLE = REPO / "tests" / "doubles" / "misbehaving_tool"
MO = REPO / ".venvs" / "openvino-2021.4" / "bin" / "mo"

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    needs(None if MO.exists() else "no .venvs/openvino-2021.4 (run `make rvc2-env`)", "EDGECONV_REQUIRE_RVC2")
    root = tmp_path_factory.mktemp("faults")
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": ["rvc2"], "verify": {"max_images": 2},
        "toolchains": {"rvc2": {"compile_tool": str(DOUBLE), "timeout": 4}},
    })
    conv_net(root / "models" / "alpha.onnx")
    write_images(root / "calibration_data" / "alpha", 2)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx", "calibration": {"path": "calibration_data/alpha"},
        "rvc2": {"openvino_version": "2021.4", "superblob": False},
    })
    snakemake(root, "results/intermediate/alpha/rvc2/alpha.verify.json")  # the IR, before any fault
    return root


def _blob(project, fault, tmp_path):
    env = {**os.environ, "EDGECONV_TEST_FAULT": fault, "EDGECONV_TEST_PIDS": str(tmp_path / "pids")}
    proc = snakemake(project, "results/rvc2/alpha.blob", env=env, check=False)
    assert proc.returncode != 0
    assert not (project / "results" / "rvc2").exists()
    assert not list((project / "results" / "intermediate" / "alpha" / "rvc2").glob("*.blob"))
    return next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: compile_blob (alpha)"))


def test_a_hanging_tool_is_stopped_at_its_limit_and_nothing_is_left_running(project, tmp_path):
    started = time.monotonic()
    line = _blob(project, "hang", tmp_path)
    assert "compile_tool (MYRIAD) did not finish within 4 s (toolchains.rvc2.timeout) and was stopped" in line
    assert time.monotonic() - started < 120
    for pid in map(int, (tmp_path / "pids").read_text().split()):
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"


def test_a_crashing_tool_is_named_with_its_signal(project, tmp_path):
    line = _blob(project, "segv", tmp_path)
    assert "compile_tool (MYRIAD) was killed by SIGSEGV (signal 11)" in line


def test_a_tool_that_exits_0_with_random_bytes_publishes_nothing(project, tmp_path):
    line = _blob(project, "garbage", tmp_path)
    assert "alpha.blob is not a MyriadX blob DepthAI 3." in line


def test_a_tool_that_exits_0_and_writes_nothing(project, tmp_path):
    line = _blob(project, "nothing", tmp_path)
    assert "wrote no" in line or "did not write" in line or "no output" in line, line


# The same lies from the other vendors' tools (their doubles misbehave on EDGECONV_TEST_FAULT):
# a DLC that is not a DLC at any of SNPE's three steps, an empty one, and a HEF without its header.

@pytest.mark.parametrize("fault, output, culprit", [
    ("garbage:snpe-onnx-to-dlc", "alpha.dlc", "snpe-onnx-to-dlc finished but its alpha.dlc is not a DLC"),
    ("garbage:snpe-dlc-quant", "alpha.quantized.dlc", "snpe-dlc-quant finished but its alpha.quantized.dlc is not a DLC"),
    ("garbage:snpe-dlc-graph-prepare", "alpha.prepared.dlc",
     "snpe-dlc-graph-prepare finished but its alpha.prepared.dlc is not a DLC"),
    ("empty:snpe-dlc-graph-prepare", "alpha.prepared.dlc", "snpe-dlc-graph-prepare finished but wrote no alpha.prepared.dlc"),
])
def test_an_snpe_tool_that_exits_0_with_no_dlc_publishes_nothing(tmp_path, fault, output, culprit):
    from test_rvc4_workflow import _project as rvc4_project

    root = rvc4_project(tmp_path)
    proc = snakemake(root, "results/rvc4/alpha.dlc", env={**os.environ, "EDGECONV_TEST_FAULT": fault}, check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert errors and culprit in errors[0], proc.stderr[-3000:]
    assert not (root / "results" / "rvc4").exists()
    work = root / "results" / "intermediate" / "alpha" / "rvc4"
    assert not (work / output).exists()
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temporary directory left


def test_a_hailo_compiler_that_exits_0_without_a_hef_publishes_nothing(tmp_path):
    from test_hailo_workflow import _project as hailo_project

    root = hailo_project(tmp_path)
    proc = snakemake(root, "results/hailo/alpha.hef", env={**os.environ, "EDGECONV_TEST_FAULT": "garbage"}, check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert errors and "the Hailo compiler finished but alpha.hef is not a HEF" in errors[0], proc.stderr[-3000:]
    assert not (root / "results" / "hailo").exists()
    assert not list(root.rglob("alpha.hef"))
