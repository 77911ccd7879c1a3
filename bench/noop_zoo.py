"""The no-op of a zoo: `snakemake --cores 2` with nothing to do over 300 small models (the FP16 IR
chain of each), against Snakemake's floor with one `touch` job per model and with as many `touch`
jobs as ours plans, timed in turn in the same run, and the parse profiled (cProfile): how much of
the no-op is this project's own code (the Snakefile's imports, its input and params functions) and
how much is Snakemake's work per job. Written to BENCHMARKS.md, section (t).

The first build of 300 models takes about 10 minutes; `--work DIR` keeps the project there so that
a second run measures at once.

Run: .venv/bin/python bench/noop_zoo.py [--models 300] [--runs 5] [--work DIR] [--write]
"""

from __future__ import annotations

import argparse
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from sections import emit  # noqa: E402
from speed import SNAKEMAKE, batch_project, sh, timed, touch_floor  # noqa: E402

MARK = "## (t) The no-op of a 300-model zoo against Snakemake's floor (`bench/noop_zoo.py`)"
GOAL = 2.5


def _profiled_shares(project: Path) -> dict[str, float]:
    """Shares of a profiled no-op: the Snakefile's own module code (imports, the Project), the
    Project's answers to input and params functions (`_checked`), and the rest (Snakemake)."""
    out = project / ".noop.prof"
    code = ("import sys, runpy; sys.argv = ['snakemake'] + sys.argv[1:]; "
            "runpy.run_module('snakemake', run_name='__main__')")
    cmd = [sys.executable, "-c", f"import cProfile; cProfile.run({code!r}, {str(out)!r})",
           *SNAKEMAKE[3:], "-d", str(project), "--cores", "2", "-q"]
    subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    stats = pstats.Stats(str(out)).stats
    out.unlink()
    total = max(v[3] for v in stats.values())

    def cum(pattern: str) -> float:
        return sum(v[3] for (file, _, name), v in stats.items() if re.search(pattern, f"{file}:{name}"))

    module = cum(r"workflow/rules/common\.smk:<module>$")
    answers = cum(r"workflow/rules/common\.smk:_checked$")
    return {"total": total, "module": module / total, "answers": answers / total}


def measure(models: int, runs: int, work: Path) -> dict:
    project = work / "zoo"
    if not (project / "config").exists():
        batch_project(project, models, "[openvino]")
    sh([*SNAKEMAKE, "-d", str(project), "--cores", "2", "-q"], cwd=project)  # the first build, or nothing
    rerun = sh([*SNAKEMAKE, "-d", str(project), "-n"], cwd=project)
    if "Nothing to be done" not in rerun.stdout + rerun.stderr:
        sys.exit("the rerun plans work: it is not a no-op")
    dry = sh([*SNAKEMAKE, "-d", str(project), "-n", "--forceall"], cwd=project).stdout
    jobs = int(re.search(r"^total\s+(\d+)", dry, re.M).group(1))
    per_model, per_job = touch_floor(work / "floor_models", models), touch_floor(work / "floor_jobs", jobs)
    ours, floor_m, floor_j = [], [], []
    for _ in range(runs):  # in turn, so that all three see the same machine
        ours.append(timed([*SNAKEMAKE, "-d", str(project), "--cores", "2", "-q"], project))
        floor_m.append(timed([sys.executable, "-m", "snakemake", "--cores", "2", "-q"], per_model))
        floor_j.append(timed([sys.executable, "-m", "snakemake", "--cores", "2", "-q"], per_job))
    return {"models": models, "jobs": jobs, "runs": runs, "ours": statistics.median(ours),
            "floor_models": statistics.median(floor_m), "floor_jobs": statistics.median(floor_j),
            "ratio_models": statistics.median([a / b for a, b in zip(ours, floor_m)]),
            "ratio_jobs": statistics.median([a / b for a, b in zip(ours, floor_j)]),
            "profile": _profiled_shares(project)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, help="keep the built project here (reused when it exists)")
    parser.add_argument("--write", action="store_true", help="write section (t) of BENCHMARKS.md")
    args = parser.parse_args()
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        r = measure(args.models, args.runs, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="edgeconv-noop-") as tmp:
            r = measure(args.models, args.runs, Path(tmp))
    p = r["profile"]
    met = "met" if r["ratio_models"] <= GOAL else "**not met**"
    lines = [
        MARK, "",
        f"Written by `bench/noop_zoo.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.machine()}, 2 cores, Python {platform.python_version()}. {r['models']} small models (bare ONNX) "
        f"to the `openvino` target, built once; then `snakemake --cores 2` with nothing to do ({r['jobs']} jobs in "
        f"the DAG) and two one-rule Snakefiles of `touch` jobs, in turn, {r['runs']} runs each, medians; whole "
        "commands with start-up.", "",
        "| measure | ours | floor | ours / floor (paired) | goal |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| against one `touch` job per model ({r['models']}) | {r['ours']:.2f} s | {r['floor_models']:.2f} s | "
        f"**{r['ratio_models']:.2f}** | <= {GOAL} {met} |",
        f"| against as many `touch` jobs as ours ({r['jobs']}) | {r['ours']:.2f} s | {r['floor_jobs']:.2f} s | "
        f"{r['ratio_jobs']:.2f} | |",
        "",
        f"The parse profiled (cProfile, {p['total']:.1f} s under the profiler): the Snakefile's own module code "
        f"(imports, reading the configs, the Project) {p['module']:.0%}; the Project's answers to input and params "
        f"functions during the DAG {p['answers']:.0%}; the rest is Snakemake's work per job (matching each input "
        "to the rules that make it, a job per step, each output's metadata record read and compared for the "
        f"rerun triggers), for {(r['jobs'] - 1) / r['models']:.0f} jobs per model: one per step of the chain, each "
        "step a rule of its own.",
    ]
    emit(MARK, lines, args.write)


if __name__ == "__main__":
    main()
