"""A run killed hard (SIGKILL to its whole process group, as when a node dies or a job hits its
time limit) in the middle of a step: the same command run again finishes the work, for plain
`snakemake` and for `edgeconv convert`, with no --unlock or --rerun-incomplete. A run that is
really still going on is never broken into."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import REPO, SNAKEMAKE, new_project, snakemake
from models import heavy_net

pytestmark = pytest.mark.workflow
CLI = [sys.executable, "-m", "edgeconv.cli"]
PLAIN = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--cores", "2"]


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for_step(proc: subprocess.Popen, log: Path, step: str, timeout: float = 120) -> None:
    """Until ``step`` has started its work (its log says so) and is still running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and f"step {step} for" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {step} started:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"{step} did not start within {timeout} s")


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def _killed_in(root: Path, cmd: list[str], model: str, step: str, record: str) -> None:
    proc = _start(cmd, root)
    _wait_for_step(proc, root / "logs" / model / f"{step}.log", step)
    _kill_group(proc)
    # Killed mid-step: the step never finished, and the dead run's Snakemake locks are still there.
    assert not (root / "results" / "intermediate" / model / "records" / record).exists(), f"{step} had finished"
    assert list((root / ".snakemake" / "locks").glob("*.lock")), "the killed run left no lock: nothing was tested"
    assert list((root / ".snakemake" / "incomplete").iterdir()), "no output of the killed step is marked incomplete"


def _verified(root: Path, model: str) -> None:
    report = json.loads((root / "results" / "openvino" / f"{model}.verify.json").read_text())
    assert report["passed"] is True
    assert (root / "results" / "openvino" / f"{model}.xml").stat().st_size > 0


@pytest.mark.parametrize("step,record", [("simplify", "simplify.json"), ("convert_ir", "convert_ir.json")])
def test_plain_snakemake_finishes_after_a_kill(tmp_path, step, record):
    root = new_project(tmp_path, ["h"])
    heavy_net(root / "models" / "h.onnx")
    _killed_in(root, PLAIN, "h", step, record)
    again = subprocess.run(PLAIN, cwd=root, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cleared" in again.stderr and "left by a run that was killed or crashed" in again.stderr
    _verified(root, "h")
    assert "Nothing to be done" in snakemake(root).stdout + snakemake(root).stderr


def test_edgeconv_convert_finishes_after_a_kill(tmp_path):
    heavy_net(tmp_path / "src" / "lay.onnx")
    cmd = [*CLI, "convert", "openvino", "--path", "src/lay.onnx", "openvino.quantize", "false"]
    _killed_in(tmp_path, cmd, "lay", "optimize_onnx", "optimize_onnx.json")
    again = subprocess.run([*cmd, "--output-dir", "out"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert "left by a run that was killed or crashed" in again.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lay.bin", "lay.buildinfo.json", "lay.xml"]
    _verified(tmp_path, "lay")


def test_a_live_run_is_never_broken_into(tmp_path):
    heavy_net(tmp_path / "src" / "lay.onnx")
    cmd = [*CLI, "convert", "openvino", "--path", "src/lay.onnx", "openvino.quantize", "false"]
    first = _start(cmd, tmp_path)
    try:
        _wait_for_step(first, tmp_path / "logs" / "lay" / "optimize_onnx.log", "optimize_onnx")
        # Held still (SIGSTOP to its whole group) while the others try: a live run, however fast the
        # machine (on a quiet one it used to finish before the plain run below had parsed).
        os.killpg(first.pid, signal.SIGSTOP)
        second = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert second.returncode == 3, second.stdout + second.stderr
        line = second.stderr.strip().splitlines()
        assert len(line) == 1 and line[0].startswith("edgeconv convert: error: another run is converting in")
        assert f"pid {first.pid}" in line[0]
        empty = tmp_path / "matrix.yaml"
        empty.write_text("models: []\n")
        # Plain Snakemake on the same outputs stops at its own lock check: nothing is deleted.
        plain = subprocess.run([*PLAIN, "--config", "models=[lay]", "targets=[openvino]",
                                f"models_dir={tmp_path / 'src'}",
                                'overrides={"lay": {"openvino.quantize": "false"}}', "--configfile", str(empty)],
                               cwd=tmp_path, capture_output=True, text=True)
        assert plain.returncode != 0 and "LockException" in plain.stderr + plain.stdout, plain.stderr[-3000:]
        os.killpg(first.pid, signal.SIGCONT)
        out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            _kill_group(first)
    assert first.returncode == 0, out[-3000:]
    _verified(tmp_path, "lay")
