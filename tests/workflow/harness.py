"""Run the real workflow with Snakemake in a temporary project directory."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from models import conv_net

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def needs(problem: str | None, required_by: str) -> None:
    """Skip when something the test needs is missing (``problem`` says what), unless the
    environment variable ``required_by`` is 1 (as in CI): then the test fails instead."""
    import os

    import pytest

    if problem:
        if os.environ.get(required_by) == "1":
            pytest.fail(f"{required_by}=1 but {problem}")
        pytest.skip(problem)


# Commands that run no job: Snakemake users type them without --cores, and so does the harness, so a
# workflow that needs --cores for them fails the tests as it fails the users.
RUNS_NO_JOB = {"-n", "--dry-run", "--dryrun", "--report", "--summary", "-S", "--detailed-summary", "-D", "--rulegraph",
               "--dag", "--filegraph", "--d3dag", "--lint", "--list-rules", "-l", "--list-target-rules", "--lt"}


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cores = [] if RUNS_NO_JOB & set(args) or "--cores" in args else ["--cores", "2"]
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *cores, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned(workdir: Path, *args: str, env: dict[str, str] | None = None) -> set[tuple[str, str]]:
    """(rule, model) of every job a dry run would execute."""
    out = snakemake(workdir, "-n", *args, env=env).stdout
    jobs: set[tuple[str, str]] = set()
    rule = None
    for line in out.splitlines():
        m = re.match(r"^\s*(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
            if rule == "all":
                rule = None
            continue
        m = re.match(r"^\s+wildcards: (.*)$", line)
        if m and rule:
            wc = dict(part.split("=", 1) for part in m.group(1).split(", "))
            jobs.add((rule, wc.get("model", wc.get("demo", wc.get("path", "")))))
            rule = None
    return jobs


def rules_for(jobs: set[tuple[str, str]], model: str) -> set[str]:
    return {r for r, m in jobs if m == model}


def write_images(directory: Path, count: int, size: tuple[int, int] = (40, 30), seed: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(directory / f"img_{i:02d}.png")


def write_yaml(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def new_project(root: Path, models: list[str], verify: dict | None = None) -> Path:
    write_yaml(
        root / "config" / "config.yaml",
        {"models": models, "targets": ["openvino"], "verify": verify or {"max_images": 2}},
    )
    return root


def zipped_images(count: int, seed: int) -> bytes:
    """A calibration set as users zip it: one folder, plus the __MACOSX folder macOS adds."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(count):
            img = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(img, format="PNG")
            z.writestr(f"calib/img_{i:02d}.png", img.getvalue())
        z.writestr("__MACOSX/calib/._img_00.png", b"junk")
    return buf.getvalue()


def conv_net_bytes(tmp_path: Path, seed: int = 0) -> bytes:
    """The bytes of the tests' small conv net (tests/models.py) for ``seed``."""
    conv_net(tmp_path / f"m{seed}.onnx", seed=seed)
    return (tmp_path / f"m{seed}.onnx").read_bytes()

