"""A full disk stops the run with one line that names the file system, leaves nothing published,
and once space is freed the same command completes and verifies. On a real, small tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from harness import needs, new_project, snakemake
from models import heavy_net

pytestmark = pytest.mark.workflow


@pytest.fixture
def small_fs(tmp_path):
    problem = None if os.geteuid() == 0 else "mounting a tmpfs needs root"
    needs(problem, "EDGECONV_REQUIRE_TMPFS")
    mount = tmp_path / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_naming_the_file_system_then_the_rerun_completes(small_fs):
    root = new_project(small_fs / "project", ["m"])
    heavy_net(root / "models" / "m.onnx", hidden=2500)  # 7.7 MB; every ONNX stage is as large
    filler = small_fs / "filler"
    left = 12 * 2**20  # room for the normalized ONNX and its check, not for the optimized one too
    with filler.open("wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_fs).free - left))

    failed = snakemake(root, check=False)
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert errors, failed.stderr[-3000:]
    first = errors[0]
    assert "No space left on device on the file system of" in first, first
    assert f"(mounted at {small_fs}," in first and "free space there, then run the same command again" in first
    assert "Traceback" not in failed.stderr
    assert not (root / "results" / "openvino").exists() or not any((root / "results" / "openvino").iterdir())

    filler.unlink()
    again = snakemake(root)
    assert again.returncode == 0
    report = json.loads((root / "results" / "openvino" / "m.verify.json").read_text())
    assert report["passed"] is True
