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


def test_a_batch_runs_in_one_cluster_job_per_five_chains_and_one_failure_spares_the_rest(project):
    planned = snakemake(project, "-n", "--quiet", "rules").stdout
    jobs = int(re.search(r"^total\s+(\d+)\s*$", planned, flags=re.M).group(1))
    assert jobs > 20  # every step of three chains
    proc = _on_slurm(project)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "the bad model's verification should have failed"
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    # The three models' chains (group: chain, group-components chain=5): one sbatch for all steps.
    assert len(submitted) == 1, out[-3000:]
    assert "localrule" not in out.replace("localrule all", "")
    # The bad model failed in the same cluster job as the others: they are published all the same.
    for name in ("m1", "m2"):
        report = json.loads((project / "results" / "openvino" / f"{name}.verify.json").read_text())
        assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
        assert (project / "results" / "openvino" / f"{name}.buildinfo.json").is_file()
    assert not (project / "results" / "openvino" / "bad.xml").exists()
    assert (project / "results" / "intermediate" / "bad" / "openvino" / "bad.verify.failed.json").is_file()
    # The failure summary: the step's own one-line error and its log, as in a local run, and the
    # cluster job's log.
    line = next(ln for ln in out.splitlines() if ln.startswith("  verify_ir: verify (bad): "))
    assert "max_abs_error" in line and "logs/bad/verify_ir.log" in line and "slurm_logs" in line
    assert "edgeconv: 1 job(s) failed:" in out
    # What the failed job spared is not redone: the next run plans the bad model's check only.
    again = snakemake(project, "-n", "--profile", str(REPO / "profiles" / "slurm")).stdout
    assert set(re.findall(r"^\s*rule (\w+):", again, flags=re.M)) == {"verify_ir", "publish_ir", "all"}, again[-3000:]


def test_a_second_run_submits_nothing(project):
    proc = _on_slurm(project, "results/openvino/m1.xml", "results/openvino/m2.xml", check=True)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert "submitted with SLURM jobid" not in proc.stdout + proc.stderr
