"""RVC2 blobs with the built-in compiler (OpenVINO 2021.4 from PyPI, myriad_compile): compile time
and peak memory per blob and per superblob, on this machine's cores.

For each demo model (PP-OCRv4 det, cls, rec) in a copy of the project: the IR is built first (not
timed); then one blob (6 shaves) is compiled by ``myriad_compile`` alone, three times (wall time
and peak RSS from ``/usr/bin/time``); then the superblob (16 compiles, 15 patches, assembly) is
rebuilt from the IR with ``snakemake --cores N``, its whole process tree's RSS sampled every 0.1 s.
The reference (modelconv) cannot compile a blob on this machine at all (it needs Docker and Intel's
2022.3 archive), so there is no side-by-side ratio. Written to BENCHMARKS.md, (o).

Run: .venv/bin/python bench/rvc2_blobs.py [--cores 2] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from sections import write_section

REPO = Path(__file__).resolve().parents[1]
COMPILER = REPO / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile"
MODELS = ("ppocr_det", "ppocr_cls", "ppocr_rec")
MARK = "## (o) RVC2 blobs with the built-in compiler: time and peak memory (`bench/rvc2_blobs.py`)"


def snakemake(root: Path, cores: int, *targets: str) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", str(cores), *targets]
    subprocess.run(cmd, check=True, capture_output=True, cwd=root)


def project(tmp: Path) -> Path:
    root = tmp / "project"
    for part in ("config", "models", "calibration_data"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns(".downloads"))
    (root / "config" / "config.yaml").write_text(f"models: {list(MODELS)}\ntargets: [rvc2]\n")
    return root


def one_blob(root: Path, model: str, runs: int = 3) -> tuple[list[float], list[float]]:
    xml = root / "results" / "intermediate" / model / "rvc2" / f"{model}.xml"
    conf = root / "myriad.conf"
    conf.write_text("MYRIAD_NUMBER_OF_SHAVES 6\nMYRIAD_NUMBER_OF_CMX_SLICES 6\nMYRIAD_THROUGHPUT_STREAMS 1\n")
    seconds, mb = [], []
    for _ in range(runs):
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", str(COMPILER), "-m", str(xml), "-o", str(root / "b.blob"),
                               "-ip", "U8", "-c", str(conf)], capture_output=True, text=True, check=True)
        wall, kb = proc.stderr.strip().splitlines()[-1].split()
        seconds.append(float(wall))
        mb.append(int(kb) / 1024)
    return seconds, mb


def tree_peak_mb(proc: subprocess.Popen) -> float:
    """Sample the RSS of a process and all its descendants until it ends; the largest sum, in MB."""
    peak = 0.0
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [parent, *parent.children(recursive=True)]
            total = sum(p.memory_info().rss for p in procs if p.is_running())
        except psutil.Error:
            total = 0
        peak = max(peak, total / 2**20)
        time.sleep(0.1)
    return peak


def superblob(root: Path, model: str, cores: int) -> tuple[float, float]:
    inter = root / "results" / "intermediate" / model / "rvc2"
    shutil.rmtree(inter / "blobs", ignore_errors=True)
    (inter / f"{model}.superblob").unlink(missing_ok=True)
    (root / "results" / "rvc2" / f"{model}.superblob").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", str(cores),
           f"results/rvc2/{model}.superblob"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
    peak = tree_peak_mb(proc)
    if proc.wait() != 0:
        raise SystemExit(f"superblob of {model} failed")
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    if not COMPILER.exists():
        subprocess.run(["make", "--no-print-directory", "rvc2-env"], cwd=REPO, check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp))
        # The IRs and a first superblob (not timed): every step before the compiles is done.
        snakemake(root, args.cores, *[f"results/rvc2/{m}.superblob" for m in MODELS])
        for model in MODELS:
            seconds, mb = one_blob(root, model)
            wall, peak = superblob(root, model, args.cores)
            size = (root / "results" / "rvc2" / f"{model}.superblob").stat().st_size / 1e6
            rows.append(f"| {model} | {statistics.median(seconds):.1f} (min {min(seconds):.1f}, max {max(seconds):.1f}) | "
                        f"{max(mb):.0f} | {wall:.0f} | {peak:.0f} | {size:.2f} |")
            print(rows[-1], flush=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = f"""{MARK}

Written by `bench/rvc2_blobs.py` on {when}: {platform.machine()}, {os.cpu_count()} cores, `--cores {args.cores}`;
OpenVINO 2021.4.2's MYRIAD plugin through `myriad_compile`, no device attached. One blob: 6 shaves, three runs of
`myriad_compile` alone (about 5 s of each is the plugin probing USB for a device, once per process). Superblob:
16 compiles (parallel jobs), 15 bsdiff4 patches and the assembly, rebuilt from the IR by `snakemake`, with the RSS
of its whole process tree (Snakemake, the step processes, the compilers) sampled every 0.1 s.

| model | one blob: seconds, median | one blob: peak RSS, MB | superblob: seconds | superblob: peak RSS of the tree, MB | superblob, MB |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

- The reference (modelconv) cannot compile a blob on this machine (it needs Docker and Intel's 2022.3 archive), so
  these figures have no side-by-side ratio.
- Memory: each compile job declares `mem_mb = 400 + 6 x its IR's size in MB`, so `--resources mem_mb=N` (or a
  cluster's memory limit) bounds how many run at once.
"""
    print(section)
    if args.write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
