"""A batch of 50 small models, locally on 2 cores and through Slurm (profiles/slurm), from a clean
state: the whole command's time, the jobs it ran, and the scheduler overhead per job that Slurm
adds. Written to BENCHMARKS.md, section (h).

Each model is a small conv net given as a bare ONNX file, converted for the `openvino` target (ONNX
chain, FP16 IR, the checks, publish). Slurm is the one-node cluster of profiles/slurm/single-node.sh
(`sudo make slurm`) on the same machine, so both runs have the same 2 CPUs; the Slurm run uses the
profile as it is (first status check 10 s after a submission).

Run: .venv/bin/python bench/batch.py [--models 50] [--write]
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from speed import SNAKEMAKE, batch_project  # noqa: E402

MARK = "## (h) A batch of 50 small models: local vs Slurm (`bench/batch.py`)"


def run(root: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*SNAKEMAKE, "-d", str(root), *args], cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout + proc.stderr


def jobs_done(log: str) -> int:
    done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", log)
    return int(done[-1][0]) if done else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="write section (h) of BENCHMARKS.md")
    args = parser.parse_args()
    if not shutil.which("sbatch") or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no Slurm here: start the one-node cluster with `sudo make slurm` first")
    with tempfile.TemporaryDirectory(prefix="edgeconv-batch-") as tmp:
        local, slurm = Path(tmp) / "local", Path(tmp) / "slurm"
        for root in (local, slurm):
            batch_project(root, args.models)
        t_local, log_local = run(local, "--cores", "2")
        t_slurm, log_slurm = run(slurm, "--profile", str(REPO / "profiles" / "slurm"))
        submitted = len(set(re.findall(r"submitted with SLURM jobid (\d+)", log_slurm)))
        n_local, n_slurm = jobs_done(log_local), jobs_done(log_slurm)
        again, log_again = run(slurm, "--profile", str(REPO / "profiles" / "slurm"))
        assert "Nothing to be done" in log_again and "submitted with SLURM" not in log_again
    lines = [
        MARK, "",
        f"Written by `bench/batch.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, 2 cores, "
        f"Python {platform.python_version()}. {args.models} small conv nets (bare ONNX, 16x16) to the `openvino` "
        "target from a clean state; whole commands with start-up. Slurm: the one-node cluster of "
        "`profiles/slurm/single-node.sh` on the same machine, `--profile profiles/slurm` as it is.", "",
        "| run | jobs | wall s | s per job |",
        "| --- | --- | --- | --- |",
        f"| local, `snakemake --cores 2` | {n_local} | {t_local:.0f} | {t_local / max(n_local, 1):.2f} |",
        f"| Slurm, `snakemake --profile profiles/slurm` | {n_slurm} ({submitted} via sbatch) | {t_slurm:.0f} | "
        f"{t_slurm / max(n_slurm, 1):.2f} |",
        f"| Slurm, second run (nothing to do) | 0 | {again:.1f} | |",
        "",
        f"**Slurm / local: {t_slurm / t_local:.2f}x** (goal: at most 1.5x, measured in the same run). "
        f"Scheduler overhead that Slurm adds: {t_slurm - t_local:.0f} s over {submitted} cluster jobs "
        f"(each chain is in the group `chain`; `all` asks for batches of `cluster_batch` models, "
        "each one connected part of the DAG whose models run side by side in one job; "
        "`group-components` packs several parts into one job). It is sbatch, the job's own start of "
        "Snakemake on the node and one more per batch (`slurm-jobstep`'s srun step), and the wait for "
        "the last status check (squeue).", "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        bench = REPO / "BENCHMARKS.md"
        text = bench.read_text()
        before, _, rest = text.partition(MARK)
        after = rest[rest.index("\n## "):] if "\n## " in rest else ""
        bench.write_text(before.rstrip() + "\n\n" + section.rstrip() + "\n" + after)


if __name__ == "__main__":
    main()
