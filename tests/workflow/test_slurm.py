"""The Slurm profile on a real Slurm: a single node started by profiles/slurm/single-node.sh
(`make slurm`; CI does it and sets EDGECONV_REQUIRE_SLURM=1, which turns a missing Slurm from a
skip into a failure). Every job goes through sbatch and runs on the node."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from harness import REPO, needs, new_project, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


def _slurm_up() -> str | None:
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return "no Slurm here (sbatch, sinfo); start one with `sudo make slurm`"
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if state.returncode != 0 or not re.search(r"idle|mixed|allocated", state.stdout):
        return f"no Slurm node is up (sinfo: {(state.stdout + state.stderr).strip()[:200]}); start one with `sudo make slurm`"
    return None


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    needs(_slurm_up(), "EDGECONV_REQUIRE_SLURM")
    root = new_project(tmp_path_factory.mktemp("slurm"), ["m1", "m2", "bad"])
    for i, name in enumerate(["m1", "m2", "bad"]):
        conv_net(root / "models" / f"{name}.onnx", seed=i)
    # Fails on the node, in its verify step: an FP16 IR cannot be exact.
    write_yaml(root / "config" / "models" / "bad.yaml",
               {"input_model": "models/bad.onnx", "verify": {"openvino_fp16": {"max_abs_error": 0.0}}})
    return root


def _on_slurm(root, *args, check=False):
    # The profile's own settings, with status checks every 2 s instead of 10 for a short test.
    return snakemake(root, "--profile", str(REPO / "profiles" / "slurm"),
                     "--slurm-init-seconds-before-status-checks", "2", *args, check=check)


def test_a_batch_runs_through_sbatch_verifies_and_reports_the_failure_of_one_model(project):
    planned = snakemake(project, "-n", "--quiet", "rules").stdout
    jobs = int(re.search(r"^total\s+(\d+)\s*$", planned, flags=re.M).group(1))
    proc = _on_slurm(project)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "the bad model's verification should have failed"
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    # Every job of the plan went through sbatch, once, but two: the default target `all`, and the
    # bad model's publish_ir, which never runs because its verification failed.
    assert len(submitted) == len(set(submitted)) == jobs - 2, out[-3000:]
    assert "localrule" not in out.replace("localrule all", "")
    for name in ("m1", "m2"):  # the others did not stop for the failure (keep-going)
        report = json.loads((project / "results" / "openvino" / f"{name}.verify.json").read_text())
        assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
        assert (project / "results" / "openvino" / f"{name}.buildinfo.json").is_file()
    assert not (project / "results" / "openvino" / "bad.xml").exists()
    # The failure summary: the step's own one-line error and its log, as in a local run.
    line = next(ln for ln in out.splitlines() if ln.startswith("  verify_ir: verify (bad): "))
    assert "max_abs_error" in line and "logs/bad/verify_ir.log" in line and "slurm_logs" in line
    assert "edgeconv: 1 job(s) failed:" in out


def test_a_second_run_submits_nothing(project):
    proc = _on_slurm(project, "results/openvino/m1.xml", "results/openvino/m2.xml", check=True)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert "submitted with SLURM jobid" not in proc.stdout + proc.stderr
