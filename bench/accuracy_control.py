"""Accuracy control on the demo models: plain INT8 against accuracy-controlled, per target.

For each demo model, quantizes with plain INT8 and with accuracy control (the search of
edgeconv.accuracy_control, run by the workflow's own steps in a temporary copy of the project) and
reads the figures from the step records: worst-output cosine on the held-back samples, the share of
layers still 8-bit, what kept higher precision, and the search time. Written to BENCHMARKS.md,
section (i).

Run: .venv/bin/python bench/accuracy_control.py [--write]
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

REPO = Path(__file__).resolve().parents[1]
MODELS = ["ppocr_det", "ppocr_cls", "ppocr_rec"]
MARK = "## (i) Accuracy control on the demo models (`bench/accuracy_control.py`)"


def _build(root: Path, targets: list[str]) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2", "-q",
           "--config", "overrides={'*': {rvc4.accuracy_control: true, openvino.accuracy_control: true}}", "--", *targets]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _record(root: Path, model: str, step: str) -> dict:
    return json.loads((root / "results" / "intermediate" / model / "records" / f"{step}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write section (i) of BENCHMARKS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-ac-") as tmp:
        root = Path(tmp)
        for part in ("config", "models", "calibration_data"):
            shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns(".downloads"))
        for model in MODELS:
            if not (REPO / "models" / f"{model}.onnx").exists():
                raise SystemExit(f"models/{model}.onnx is missing: run `make demo` first")
        targets = [f"results/intermediate/{m}/qnn_htp/accuracy_control.encodings.json" for m in MODELS]
        targets += [f"results/intermediate/{m}/openvino/{m}.int8.xml" for m in MODELS]
        started = time.perf_counter()
        _build(root, targets)
        wall = time.perf_counter() - started
        for model in MODELS:
            htp = _record(root, model, "htp_accuracy_control")
            ov = _record(root, model, "quantize_ir")
            rows.append((model, "qnn_htp", htp["params"]["quantization_mode"], htp["accuracy_control"]))
            rows.append((model, "openvino", f"NNCF {ov['params']['preset']}", ov["accuracy_control"]))
    lines = [
        MARK, "",
        f"Written by `bench/accuracy_control.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
        f"Python {platform.python_version()}, the demo's configs with `accuracy_control: true` for both targets "
        f"(whole run {wall:.0f} s on 2 cores). Worst-output cosine on the held-back calibration samples (the ones "
        "verify reads); gate = the target's verify threshold + margin 0.003. qnn_htp trials run in the HTP "
        "simulator; the mode is each model's own (`INT8_STANDARD`, or `INT8_INT16_MIXED` for det and rec).", "",
        "| model | target | mode | plain INT8 | accuracy control | gate | 8-bit share | kept higher precision | trials | search s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, target, mode, rec in rows:
        kept = rec["kept_higher_precision"]
        what = "none (plain INT8 meets the gate)" if not kept else (
            f"{len(kept)} op(s) in float: {', '.join(kept[:3])}" if target == "openvino"
            else f"{len(rec.get('activations_16bit', []))} activations, {len(rec.get('weights_16bit', []))} weights at 16 bits")
        lines.append(
            f"| {model} | {target} | {mode} | {rec['plain_int8_worst_cosine']:.4f} | {rec['final_worst_cosine']:.4f} | "
            f"{rec['gate'].get('min_cosine')} | {rec['share_8bit'] * 100:.1f}% | {what} | {len(rec['trials'])} | {rec['seconds']:.0f} |"
        )
    lines.append("")
    section = "\n".join(lines)
    print(section)
    if args.write:
        bench = REPO / "BENCHMARKS.md"
        text = bench.read_text()
        if MARK in text:
            before, _, rest = text.partition(MARK)
            after = rest[rest.index("\n## "):] if "\n## " in rest else ""
        else:
            before, after = text, ""
        bench.write_text(before.rstrip() + "\n\n" + section.rstrip() + "\n" + after)


if __name__ == "__main__":
    main()
