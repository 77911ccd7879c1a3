"""Speed against the reference and with cores, measured side by side in one run (issue goals P1-P3).

P1  The RVC2 prefix (normalize -> optimize -> simplify -> mo IR) of PP-OCRv4 detection at 640x640,
    ImageNet mean/scale, RGB->BGR, from a clean state, whole command with start-up:
      ours:      snakemake --cores 2 results/intermediate/det640/rvc2/det640.xml
      reference: Luxonis ModelConverter 0.6.2 `convert rvc2` called in-process (its CLI would start
                 its Docker image); with no compile_tool on this machine it stops right after mo has
                 written the IR, which is the same point.
    Both use mo of openvino-dev 2022.3.2 installed from envs/locks/openvino-2022.3.txt: ours the
    stock one (`make mo-env`); the reference a copy with the one-line patch of mo's convert_impl.py
    that its Docker image applies (docker/patches/mo-2022.3.patch in its repository), since stock mo
    rejects its argument style. The two commands run in turn, A B A B ..., and the ratio is taken
    pair by pair; the median is reported.
P2  A no-op run over a matrix of 30 small models against Snakemake's own no-op floor: a Snakefile
    with the same number of jobs, each a `touch`, run with nothing to do.
P2_300  The same at zoo scale: 300 small models to the FP16 IR (its first build takes about 10 minutes),
    against two floors: one rule with as many `touch` jobs, and one rule with one job per model.
P3_real  P3 on ten real 224x224 classifiers (torchvision architectures, bench/classifiers.py) to
    verified FP16 IRs. sched: 50 small models from clean with the greedy and the ILP scheduler.
    These three write section (j) of BENCHMARKS.md.
P3  A batch of 10 small classifiers to the FP16 IR (ONNX chain, IR, checks, publish) from a clean
    state on --cores 1 and --cores 2.
Overhead: one step process on a trivial model, start to exit (`edgeconv-step simplify` with
    simplification off, `attach_normalization`, `optimize_onnx`, `publish`), against `python -c pass`.

Run: .venv/bin/python bench/speed.py [--runs 5] [--write]   (--write appends to BENCHMARKS.md)
The reference's environment (.venvs/bench-modelconv, Python 3.10) is installed from
bench/locks/modelconv-0.6.2.txt, with hashes, on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from models import conv_net  # noqa: E402  (the tests' tiny model builder)

VENVS = REPO / ".venvs"
REF_ENV = VENVS / "bench-modelconv"
REF_MO = VENVS / "bench-reference-mo"
OUR_MO = VENVS / "openvino-2022.3"
REF_LOCK = REPO / "bench" / "locks" / "modelconv-0.6.2.txt"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
DET640 = """\
input_model: models/det640.onnx
inputs:
  - name: x
    shape: [1, 3, 640, 640]
    layout: NCHW
    encoding: {from: RGB, to: BGR}
    mean_values: [123.675, 116.28, 103.53]
    scale_values: [58.395, 57.12, 57.375]
"""
REFERENCE_CALL = """
from modelconverter.__main__ import convert
from modelconverter.utils.types import Platform
convert(Platform.RVC2, path="det640.yaml", output_dir="out", to="native")
"""


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def python310() -> str:
    return sh(["make", "-s", "print-python310"], cwd=REPO).stdout.strip()


def venv(path: Path, lock: Path) -> Path:
    if not (path / "bin" / "python").exists():
        sh([python310(), "-m", "venv", str(path)])
        sh([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--require-hashes", "-r", str(lock)])
    return path / "bin" / "python"


def reference_env() -> tuple[Path, Path]:
    """The reference's Python with modelconv, and its patched mo."""
    python = venv(REF_ENV, REF_LOCK)
    venv(REF_MO, REPO / "envs" / "locks" / "openvino-2022.3.txt")
    impl = next(REF_MO.glob("lib/python3*/site-packages/openvino/tools/mo/convert_impl.py"))
    text = impl.read_text()
    stock = "mean_scale = get_mean_scale_dictionary(mean_values, scale_values, argv.input)"
    patched = "mean_scale = get_mean_scale_dictionary(mean_values, scale_values, ','.join(argv.inputs_list))"
    if stock in text:
        impl.write_text(text.replace(stock, patched))
    elif patched not in text:
        raise SystemExit(f"{impl}: the line the reference patches is not there; is this mo 2022.3.2?")
    return python, REF_MO / "bin"


def det_model() -> Path:
    model = REPO / "models" / "ppocr_det.onnx"
    if not model.exists():
        from edgeconv.demo import fetch_demo_model

        fetch_demo_model("ppocr_det", model, REPO / "models" / ".downloads")
    return model


def paired(a: list[str], b: list[str], runs: int, a_kw: dict, b_kw: dict, reset) -> dict[str, float]:
    """A and B in turn, each from a clean state (``reset(side)`` before each), one warm-up pair first."""
    ta, tb = [], []
    for i in range(runs + 1):
        for side, cmd, kw, out in (("a", a, a_kw, ta), ("b", b, b_kw, tb)):
            kw = dict(kw)
            ok_codes = kw.pop("ok_codes", (0,))
            reset(side)
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
            elapsed = time.perf_counter() - start
            if i:
                out.append(elapsed)
            if proc.returncode not in ok_codes:
                raise SystemExit(f"failed: {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    ratios = [x / y for x, y in zip(ta, tb)]
    return {"a": statistics.median(ta), "b": statistics.median(tb), "ratio": statistics.median(ratios),
            "a_all": ta, "b_all": tb}


def p1(runs: int, work: Path) -> dict[str, float]:
    ref_python, ref_mo_bin = reference_env()
    if not (OUR_MO / "bin" / "mo").exists():
        sh(["make", "mo-env"], cwd=REPO)
    model = det_model()
    ours = work / "ours"
    (ours / "config" / "models").mkdir(parents=True)
    (ours / "models").mkdir()
    shutil.copy(model, ours / "models" / "det640.onnx")
    (ours / "config" / "models" / "det640.yaml").write_text(DET640)
    (ours / "config" / "config.yaml").write_text("models: [det640]\ntargets: [rvc2]\n")
    ref = work / "reference"
    (ref / "models").mkdir(parents=True)
    shutil.copy(model, ref / "models" / "det640.onnx")
    (ref / "det640.yaml").write_text("name: det640\n" + DET640)
    target = "results/intermediate/det640/rvc2/det640.xml"

    def reset(side: str) -> None:
        dirs = ("results", ".snakemake", "logs", "benchmarks") if side == "a" else ("output", "shared_with_container")
        for name in dirs:
            shutil.rmtree((ours if side == "a" else ref) / name, ignore_errors=True)

    env = {**os.environ, "PATH": f"{ref_mo_bin}{os.pathsep}{os.environ['PATH']}", "LUXONIS_TELEMETRY_ENABLED": "false"}
    # The reference exits 2 at the missing compile_tool, after the IR is written (checked below).
    result = paired(
        [*SNAKEMAKE, "-d", str(ours), "--cores", "2", target],
        [str(ref_python), "-c", REFERENCE_CALL],
        runs,
        {"cwd": ours},
        {"cwd": ref, "env": env, "ok_codes": (0, 2)},
        reset,
    )
    if not list((ref / "output").rglob("*.xml")) or not (ours / target).exists():
        raise SystemExit("P1: an IR is missing after the runs; the comparison would not be fair")
    return result


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    sh(cmd, cwd=cwd)
    return time.perf_counter() - start


def batch_project(root: Path, n: int, targets: str = "[openvino]") -> None:
    names = [f"c{i:02d}" for i in range(n)]
    (root / "config").mkdir(parents=True)
    (root / "config" / "config.yaml").write_text(
        f"models: [{', '.join(names)}]\ntargets: {targets}\nverify: {{max_images: 1}}\n"
    )
    for i, name in enumerate(names):
        conv_net(root / "models" / f"{name}.onnx", seed=i, size=16)


def p3(runs: int, work: Path) -> dict[str, float]:
    root = work / "batch"
    batch_project(root, 10)
    return _cores(root, runs)


def p3_real(runs: int, work: Path) -> dict[str, float]:
    """P3 on ten real 224x224 classifiers (bench/classifiers.py) to verified FP16 IRs."""
    from classifiers import classifiers

    root = work / "classifiers"
    (root / "models").mkdir(parents=True)
    names = []
    for path in classifiers():
        shutil.copy(path, root / "models" / path.name)
        names.append(path.stem)
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text(f"models: [{', '.join(names)}]\ntargets: [openvino]\n")
    return _cores(root, runs)


def _from_clean(root: Path, *args: str) -> float:
    """The whole time of one run of the project at ``root`` from a clean state."""
    for p in ("results", ".snakemake", "logs", "benchmarks"):
        shutil.rmtree(root / p, ignore_errors=True)
    return timed([*SNAKEMAKE, "-d", str(root), "-q", *args], root)


def _in_turn(root: Path, variants: dict[str, list[str]], rounds: int, warmup: bool) -> dict[str, list[float]]:
    """Each variant's arguments run in turn from a clean state, ``rounds`` times (after one
    discarded round with ``warmup``)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(rounds + int(warmup)):
        for name, args in variants.items():
            t = _from_clean(root, *args)
            if i or not warmup:
                times[name].append(t)
    return times


def _cores(root: Path, runs: int) -> dict[str, float]:
    """--cores 1 and --cores 2 in turn, each from a clean state, after one warm-up pair."""
    times = _in_turn(root, {"1": ["--cores", "1"], "2": ["--cores", "2"]}, runs, warmup=True)
    ratios = [a / b for a, b in zip(times["1"], times["2"])]
    return {"cores1": statistics.median(times["1"]), "cores2": statistics.median(times["2"]),
            "speedup": statistics.median(ratios)}


def touch_floor(root: Path, jobs: int) -> Path:
    """Snakemake's no-op floor: a one-rule Snakefile of ``jobs`` `touch` jobs in ``root``, built once."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Snakefile").write_text(
        f"rule all:\n    input: expand('f/{{i}}.txt', i=range({jobs}))\n\n"
        "rule one:\n    output: 'f/{i}.txt'\n    shell: 'touch {output}'\n"
    )
    sh([sys.executable, "-m", "snakemake", "--cores", "2", "-q"], cwd=root)
    return root


def p2(runs: int, work: Path, models: int = 30, targets: str = "[openvino, qnn_htp]") -> dict[str, float]:
    root = work / "noop"
    batch_project(root, models, targets)
    sh([*SNAKEMAKE, "-d", str(root), "--cores", "2", "-q"], cwd=root)
    dry = sh([*SNAKEMAKE, "-d", str(root), "-n", "--forceall"], cwd=root).stdout
    jobs = int(re.search(r"^total\s+(\d+)", dry, re.M).group(1))
    floor = touch_floor(work / "floor", jobs)
    per_model = touch_floor(work / "floor_models", models)
    if "Nothing to be done" not in sh([*SNAKEMAKE, "-d", str(root), "-n"], cwd=root).stdout:
        raise SystemExit(f"P2: a rerun of the {models}-model matrix plans work; it is not a no-op")
    ours, base, base_models = [], [], []
    for _ in range(runs):  # in turn, so all see the same machine
        ours.append(timed([*SNAKEMAKE, "-d", str(root), "--cores", "2", "-q"], root))
        base.append(timed([sys.executable, "-m", "snakemake", "--cores", "2", "-q"], floor))
        base_models.append(timed([sys.executable, "-m", "snakemake", "--cores", "2", "-q"], per_model))
    return {"models": models, "jobs": jobs, "ours": statistics.median(ours), "floor": statistics.median(base),
            "ratio": statistics.median([a / b for a, b in zip(ours, base)]),
            "floor_models": statistics.median(base_models),
            "ratio_models": statistics.median([a / b for a, b in zip(ours, base_models)])}


def p2_300(runs: int, work: Path) -> dict[str, float]:
    """P2 at zoo scale: 300 small models to the FP16 IR (its first build takes a while)."""
    return p2(runs, work, 300, "[openvino]")


def sched(runs: int, work: Path) -> dict[str, float]:
    """50 small models from a clean state on --cores 2 with Snakemake's greedy and ILP schedulers, in turn."""
    root = work / "sched"
    batch_project(root, 50)
    times = _in_turn(root, {s: ["--cores", "2", "--scheduler", s] for s in ("greedy", "ilp")}, max(1, runs // 2),
                     warmup=False)
    greedy, ilp = statistics.median(times["greedy"]), statistics.median(times["ilp"])
    return {"greedy": greedy, "ilp": ilp, "ratio": greedy / ilp, "pairs": len(times["greedy"])}


def overhead(runs: int, work: Path) -> dict[str, float]:
    """Each step as the workflow runs it: its parameters are the ones the Snakefile passes."""
    from edgeconv.project import Project

    conv_net(work / "models" / "tiny.onnx", size=8)
    model = "models/tiny.onnx"
    project = Project({"models": ["tiny"]}, root=work)
    step = [sys.executable, "-m", "edgeconv.steps"]

    def params(name: str) -> str:
        return project.params("tiny", name)

    simplify = json.loads(params("simplify"))
    simplify["onnx_simplification"] = False
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "simplify": [*step, "simplify", "--input", f"onnx={model}", "--output", "onnx=s.onnx",
                     "--params", json.dumps(simplify)],
        "optimize_onnx": [*step, "optimize_onnx", "--input", f"onnx={model}", "--input", f"original={model}",
                          "--output", "onnx=o.onnx", "--params", params("optimize_onnx")],
        "attach_normalization": [*step, "attach_normalization", "--input", f"model={model}", "--output",
                                 "onnx=a.onnx", "--params", params("attach_normalization")],
        "publish": [*step, "publish", "--input", f"artifact_m={model}", "--output", "m=p.onnx",
                    "--output", "buildinfo=p.json"],
    }
    out = {}
    for name, cmd in cases.items():
        timed(cmd, work)
        out[name] = statistics.median(timed(cmd, work) for _ in range(runs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["p1", "p2", "p3", "overhead"])
    parser.add_argument("--write", action="store_true", help="append the results to BENCHMARKS.md")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgeconv-speed-") as tmp:
        for name in args.only:
            work = Path(tmp) / name
            work.mkdir()
            results[name] = globals()[name](args.runs, work)
            print(name, {k: v for k, v in results[name].items() if not k.endswith("_all")}, flush=True)
    if args.write:
        zoo = {k: results.pop(k) for k in ("p2_300", "p3_real", "sched") if k in results}
        if results:
            write(results, args.runs)
        if zoo:
            write_zoo(zoo, args.runs)


def _head(title: str, when: str, runs_note: str) -> list[str]:
    return [
        "", f"## {title}", "",
        f"Written by `bench/speed.py` on {when}: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. {runs_note}; whole commands with start-up.", "",
        "| measure | this project | yardstick | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
    ]


def _append(lines: list[str]) -> None:
    with open(REPO / "BENCHMARKS.md", "a") as f:
        f.write("\n".join(lines) + "\n")


def write(results: dict, runs: int) -> None:
    lines = _head(f"(g) Speed against the reference and with cores (`bench/speed.py --runs {runs}`)",
                  time.strftime('%Y-%m-%d'), f"Medians of {runs} runs after one warm-up")
    if "p1" in results:
        r = results["p1"]
        lines.append(f"| P1: RVC2 prefix, PP-OCRv4 det 640x640 (vs modelconv 0.6.2, same mo) | {r['a']:.2f} s | "
                     f"{r['b']:.2f} s | {r['ratio']:.2f} (paired) | <= 0.80 |")
    if "p2" in results:
        r = results["p2"]
        lines.append(f"| P2: no-op run, 30 models ({r['jobs']} jobs) vs Snakemake's floor (same number of `touch` jobs) | "
                     f"{r['ours']:.2f} s | {r['floor']:.2f} s | {r['ratio']:.2f} | < 3 |")
    if "p3" in results:
        r = results["p3"]
        lines.append(f"| P3: 10 small models to FP16 IR, --cores 2 vs --cores 1 | {r['cores2']:.2f} s | {r['cores1']:.2f} s | "
                     f"{r['speedup']:.2f}x faster | >= 1.7x |")
    if "overhead" in results:
        r = results["overhead"]
        for name in ("simplify", "attach_normalization", "optimize_onnx", "publish"):
            lines.append(f"| step overhead: `{name}` on a trivial model, start to exit | {r[name]:.2f} s | "
                         f"python -c pass {r['python -c pass']:.2f} s | | <= 0.35 s |")
    _append(lines)


def write_zoo(results: dict, runs: int) -> None:
    """Section (j): the zoo-scale figures (issue: zoo-scale batch runs)."""
    lines = _head(f"(j) Zoo scale: no-op at 300 models, cores on real models, scheduler (`bench/speed.py --runs {runs} "
                  f"--only {' '.join(results)}`)", time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                  f"Medians of {runs} runs")
    if "p2_300" in results:
        r = results["p2_300"]
        lines.append(f"| no-op run, 300 small models ({r['jobs']} jobs) vs a one-rule Snakefile with {r['jobs']} `touch` jobs "
                     f"| {r['ours']:.2f} s | {r['floor']:.2f} s | {r['ratio']:.2f} (paired) | <= 3 |")
        if "floor_models" in r:
            lines.append(f"| the same no-op vs a one-rule Snakefile with one `touch` job per model (300) | {r['ours']:.2f} s | "
                         f"{r['floor_models']:.2f} s | {r['ratio_models']:.2f} (paired) | <= 3 |")
    if "p3_real" in results:
        r = results["p3_real"]
        lines.append(f"| 10 torchvision classifiers at 224x224 (`bench/classifiers.py`) to verified FP16 IRs, --cores 2 vs "
                     f"--cores 1 | {r['cores2']:.2f} s | {r['cores1']:.2f} s | {r['speedup']:.2f}x faster (paired) | >= 1.8x |")
    if "sched" in results:
        r = results["sched"]
        lines.append(f"| 50 small models from clean, --cores 2: greedy scheduler (profiles/default) vs ILP ({r['pairs']} pair(s)) "
                     f"| {r['greedy']:.2f} s | {r['ilp']:.2f} s | {r['ratio']:.2f} | < 1 |")
    _append(lines)


if __name__ == "__main__":
    main()
