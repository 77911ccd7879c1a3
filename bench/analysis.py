"""Cost of the per-layer analysis beside the conversion it analyses (issue: know before the device).

In a temporary copy of the project: the demo models' chains for openvino and qnn_htp (up to the
artifacts the analysis reads) from a clean state, then `results/analysis/<model>/<target>/`, each
timed by Snakemake's own benchmark files and the step records. Written to BENCHMARKS.md, (l).

Run: .venv/bin/python bench/analysis.py [--write] [--models ppocr_det ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

REPO = Path(__file__).resolve().parents[1]
MARK = "## (l) Per-layer analysis: its cost beside the conversion (`bench/analysis.py`)"
CONVERSION_STEPS = ("attach_normalization", "optimize_onnx", "simplify", "prepare_calibration", "convert_ir",
                    "quantize_ir", "quantize_qdq", "compile_htp")


def _snakemake(root: Path, *targets: str) -> float:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2", "-q",
           "--", *targets]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        for log in root.glob("logs/*/analyze_*.log"):
            errors += [f"{log}: {ln}" for ln in log.read_text().splitlines() if "Error" in ln][-5:]
        raise SystemExit(f"failed: {' '.join(cmd)}\n" + "\n".join(errors or [proc.stderr[-3000:]]))
    return time.perf_counter() - started


def _tsv(path: Path) -> tuple[float, float]:
    with path.open() as fh:
        row = next(csv.DictReader(fh, delimiter="\t"))
    return float(row["s"]), float(row["max_rss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--models", nargs="+", default=["ppocr_det", "ppocr_cls", "ppocr_rec"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-analysis-") as tmp:
        root = Path(tmp)
        for part in ("config", "models", "calibration_data"):
            shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns(".downloads"))
        for model in args.models:
            inter = f"results/intermediate/{model}"
            conversion_wall = _snakemake(root, f"{inter}/openvino/{model}.xml", f"{inter}/openvino/{model}.int8.xml",
                                         f"{inter}/qnn_htp/{model}.ctx.onnx")
            steps = sum(json.loads((root / inter / "records" / f"{s}.json").read_text())["duration_s"]
                        for s in CONVERSION_STEPS)
            analysis_wall = _snakemake(root, *(f"results/analysis/{model}/{t}/summary.json" for t in ("openvino", "qnn_htp")))
            for target in ("openvino", "qnn_htp"):
                seconds, rss = _tsv(root / "benchmarks" / model / f"analyze_{target}.tsv")
                summary = json.loads((root / "results" / "analysis" / model / target / "summary.json").read_text())
                compared = {k: f"{a['compared']}/{summary['tensors']}" for k, a in summary["artifacts"].items() if a["kind"] != "context"}
                rows.append((model, target, seconds, rss, compared, conversion_wall, steps, analysis_wall,
                             summary["samples"]))
    lines = [MARK, "",
             f"Written by `bench/analysis.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, "
             f"Python {platform.python_version()}, 2 cores, demo configs, the verification samples (verify.max_images). "
             "Conversion: the chains of openvino (FP16 + INT8 IR) and qnn_htp (QDQ + HTP context) from a clean state; its "
             "steps' own seconds from their records, and the wall time of that Snakemake run.", "",
             "| model | analysis of | seconds | peak RSS MB | tensors compared (matched / in the float model) | "
             "conversion steps s (wall s) | samples |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for model, target, seconds, rss, compared, wall, steps, _, samples in rows:
        lines.append(f"| {model} | {target} | {seconds:.1f} | {rss:.0f} | "
                     f"{', '.join(f'{k} {v}' for k, v in compared.items())} | {steps:.1f} ({wall:.0f}) | {samples} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
