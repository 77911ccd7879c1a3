"""Benchmarks, written to BENCHMARKS.md.

(a) no-op rerun time over a matrix of 30 small models (goal: under 3 s),
(b) each step's time on the PP-OCRv4 detection model (demo config),
(c) each step's peak memory (max RSS) on the same model.

Run: make bench   (or .venv/bin/python bench/run_benchmarks.py [--models 30] [--repeats 5])
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_figures import step_figures  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from models import conv_net  # noqa: E402  (the tests' tiny model builder)

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
DET_STEPS = [
    "attach_normalization",
    "optimize_onnx",
    "simplify",
    "prepare_calibration",
    "convert_ir",
    "quantize_ir",
    "quantize_qdq",
    "compile_htp",
]


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def noop_rerun(n_models: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-") as tmp:
        root = Path(tmp)
        names = [f"m{i:02d}" for i in range(n_models)]
        (root / "config").mkdir()
        (root / "config" / "config.yaml").write_text(
            "models: [" + ", ".join(names) + "]\ntargets: [openvino, qnn_htp]\nverify: {max_images: 1}\n"
        )
        for i, name in enumerate(names):
            conv_net(root / "models" / f"{name}.onnx", seed=i, size=16)
        first = run([*SNAKEMAKE, "-d", str(root), "--cores", "2", "-q"], root)
        times = [run([*SNAKEMAKE, "-d", str(root), "--cores", "2", "-q"], root) for _ in range(repeats)]
        dry = [run([*SNAKEMAKE, "-d", str(root), "--cores", "2", "-n", "-q"], root) for _ in range(repeats)]
        jobs = sum(1 for _ in (root / "results").rglob("*.verify.json"))
    return {
        "models": n_models,
        "first_build_s": first,
        "noop_median_s": statistics.median(times),
        "noop_min_s": min(times),
        "noop_max_s": max(times),
        "dryrun_median_s": statistics.median(dry),
        "verify_reports": jobs,
    }


def det_steps() -> list[dict[str, str]]:
    # One core so the step times are not disturbed by a parallel job.
    target = [
        "results/openvino/ppocr_det.buildinfo.json",
        "results/openvino/ppocr_det.int8.buildinfo.json",
        "results/qnn_htp/ppocr_det.buildinfo.json",
    ]
    run([*SNAKEMAKE, "--cores", "1", "-q", "--forcerun", "attach_normalization", "prepare_calibration", *target], REPO)
    rows = []
    for step in DET_STEPS:
        row = step_figures(REPO, "ppocr_det", step)
        rows.append({"step": step, "s": row["s"], "max_rss": row["max_rss"], "cpu_time": row["cpu_time"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args()
    noop = noop_rerun(args.models, args.repeats)
    steps = det_steps()
    peak_row = max(steps, key=lambda r: float(r["max_rss"]))
    peak = float(peak_row["max_rss"])
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/run_benchmarks.py` on {time.strftime('%Y-%m-%d')}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        f"## (a) No-op rerun over a matrix of {noop['models']} small models (goal: under 3 s)",
        "",
        "Each model is a tiny conv net given as a bare ONNX file; the full matrix (ONNX chain, FP16 and INT8 IR, qnn_htp, "
        f"verification, build info) was built first ({noop['first_build_s']:.0f} s), then `snakemake --cores 2` "
        f"was run {args.repeats} times with nothing to do.",
        "",
        "| measure | seconds |",
        "| --- | --- |",
        f"| no-op run, median | {noop['noop_median_s']:.2f} |",
        f"| no-op run, min / max | {noop['noop_min_s']:.2f} / {noop['noop_max_s']:.2f} |",
        f"| dry run (`-n`), median | {noop['dryrun_median_s']:.2f} |",
        "",
        f"Goal met: {'yes' if noop['noop_median_s'] < 3 else 'NO'}.",
        "",
        "## (b) Step times and (c) peak memory on PP-OCRv4 detection (`config/models/ppocr_det.yaml`, 1x3x480x640)",
        "",
        "From Snakemake's `benchmark:` files (`benchmarks/ppocr_det/<step>.tsv`), run with `--cores 1`. "
        "Times include starting Python and importing the step's libraries. Snakemake samples memory "
        "periodically, so max RSS of sub-second steps can be undersampled (a tiny number means that).",
        "",
        "| step | wall s | max RSS MiB |",
        "| --- | --- | --- |",
        *[f"| {r['step']} | {float(r['s']):.2f} | {float(r['max_rss']):.0f} |" for r in steps],
        "",
        f"Peak memory of any step: {peak:.0f} MiB ({peak_row['step']}).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
