"""The Slurm profile on a real Slurm: a single node started by profiles/slurm/single-node.sh
(`make slurm`; CI does it and sets EDGECONV_REQUIRE_SLURM=1, which turns a missing Slurm from a
skip into a failure). Every job goes through sbatch and runs on the node."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess

import pytest

from harness import REPO, needs, new_project, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


def _slurm_up() -> str | None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed; `make slurm` installs it (make cluster-env) and starts Slurm"
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
    # The profile as users type it.
    return snakemake(root, "--profile", str(REPO / "profiles" / "slurm"), *args, check=check)


def test_a_batch_runs_in_one_cluster_job_and_a_failure_in_it_keeps_what_was_done(project):
    planned = snakemake(project, "-n", "--quiet", "rules").stdout
    jobs = int(re.search(r"^total\s+(\d+)\s*$", planned, flags=re.M).group(1))
    assert jobs > 20  # every step of three chains
    proc = _on_slurm(project)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "the bad model's verification should have failed"
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    # The three models are one batch (cluster_batch): one sbatch for every step of the plan, and
    # on the node one Snakemake that runs the three chains side by side (packed parts would each
    # get a Snakemake of their own, one after another).
    assert len(submitted) == 1, out[-3000:]
    job_log = next((project / ".snakemake" / "slurm_logs").glob(f"*/{submitted[0]}.log")).read_text()
    assert job_log.count("Provided cores:") == 1, job_log[-3000:]
    # One Snakemake on the node, which runs the steps itself (not the Slurm plugin's jobstep
    # executor, whose Snakemake would start a second one in srun).
    assert job_log.count("Building DAG of jobs") == 1 and "slurm-jobstep" not in job_log, job_log[:3000]
    assert "executor: edgeconv-slurm" in (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    assert "localrule" not in out.replace("localrule all", "")
    assert not (project / "results" / "openvino" / "bad.xml").exists()
    assert (project / "results" / "intermediate" / "bad" / "openvino" / "bad.verify.failed.json").is_file()
    # The failure summary: the step's own one-line error and its log, as in a local run, and the
    # cluster job's log.
    line = next(ln for ln in out.splitlines() if ln.startswith("  verify_ir: verify (bad): "))
    assert "max_abs_error" in line and "logs/bad/verify_ir.log" in line and "slurm_logs" in line
    assert "edgeconv: 1 job(s) failed:" in out
    # The steps' warnings, which the cluster job printed into its own log, at the end on this console.
    # Which models' calibration finished before the failure stopped the batch depends on timing:
    # the recap names exactly those (their step records), and bad's, which its verify read.
    assert "warning(s) from the steps of this run" in out
    calibrated = sorted(p.parts[-3] for p in (project / "results" / "intermediate").glob("*/records/prepare_calibration.json"))
    assert "bad" in calibrated
    assert re.search(rf"^  warning: prepare_calibration \({', '.join(calibrated)}\): input '\w+' has no calibration data",
                     out, flags=re.M), out[-3000:]
    # Snakemake counts the whole cluster job as failed; what its steps finished is kept
    # (keep-incomplete), and none of it is planned again.
    finished = {p.name for p in (project / "results" / "intermediate").glob("*/records/*.json")}
    assert "convert_ir.json" in finished
    again = snakemake(project, "-n", "--profile", str(REPO / "profiles" / "slurm")).stdout
    replanned = {(r, m) for r, m in re.findall(r"^\s*rule (\w+):\n(?:.*\n)*?\s+wildcards: model=(\w+)", again, flags=re.M)}
    for model in ("m1", "m2", "bad"):
        done = {p.stem for p in (project / "results" / "intermediate" / model / "records").glob("*.json")}
        assert not done & {r for r, m in replanned if m == model}, (model, done, replanned)
    # With the bad model's check relaxed, the same command finishes the batch.
    write_yaml(project / "config" / "models" / "bad.yaml", {"input_model": "models/bad.onnx"})
    proc = _on_slurm(project, check=True)
    for name in ("m1", "m2", "bad"):
        report = json.loads((project / "results" / "openvino" / f"{name}.verify.json").read_text())
        assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
        assert (project / "results" / "openvino" / f"{name}.buildinfo.json").is_file()


def test_a_second_run_submits_nothing(project):
    proc = _on_slurm(project, "results/openvino/m1.xml", "results/openvino/m2.xml", check=True)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert "submitted with SLURM jobid" not in proc.stdout + proc.stderr
