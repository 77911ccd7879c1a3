"""The cost of the detection check beside the conversion: a YOLOv8 detect export (Ultralytics' own
model definition, tests/data/detectors/yolov8.onnx, 160x160, 18 classes) converted from scratch for
OpenVINO (FP16 and INT8) with the bundled images as calibration and check data.

Per artifact: the seconds its verify spent decoding and scoring detections (verify.json,
``detections.seconds``) against the seconds of its whole chain (the sum of the build info's steps),
and the adaptation's own step. Written to BENCHMARKS.md, (r).

Run: .venv/bin/python bench/detection_check.py [--images 8] [--write]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sections import write_section

REPO = Path(__file__).resolve().parents[1]
MARK = "## (r) The detection check beside the conversion (`bench/detection_check.py`)"
CONFIG = """input_model: models/yolov8.onnx
calibration:
  path: calibration_data/ppocr
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeconv-det-") as tmp:
        root = Path(tmp)
        (root / "models").mkdir()
        shutil.copyfile(REPO / "tests" / "data" / "detectors" / "yolov8.onnx", root / "models" / "yolov8.onnx")
        shutil.copytree(REPO / "calibration_data", root / "calibration_data")
        (root / "config" / "models").mkdir(parents=True)
        (root / "config" / "models" / "yolov8.yaml").write_text(CONFIG)
        (root / "config" / "config.yaml").write_text(
            f"models: [yolov8]\ntargets: [openvino]\nverify: {{max_images: {args.images}}}\n")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2"]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        rows = []
        for artifact in ("yolov8", "yolov8.int8"):
            report = json.loads((root / "results" / "openvino" / f"{artifact}.verify.json").read_text())
            info = json.loads((root / "results" / "openvino" / f"{artifact}.buildinfo.json").read_text())
            chain = sum(float(s.get("duration_s") or 0) for s in info["steps"])
            adapt = sum(float(s.get("duration_s") or 0) for s in info["steps"] if s.get("step") == "adapt_detector")
            d = report["detections"]
            rows.append(f"| `{artifact}` | {d['samples']} | {d['reference_detections']} | {d['map50']:.3f} | "
                        f"{d['seconds']:.3f} | {adapt:.2f} | {chain:.1f} | {100 * d['seconds'] / chain:.2f}% |")
    section = "\n".join([
        MARK, "",
        f"A YOLOv8 detect export (`tests/data/detectors/yolov8.onnx`, 160x160, 18 classes, random weights), "
        f"converted from scratch for OpenVINO with the bundled images as calibration data, verify on {args.images} images. "
        "\"detection check\" is what verify spends decoding both models' outputs (DepthAI's TLBR decode and NMS) and "
        "scoring them (pycocotools); \"chain\" is the sum of the steps that made the artifact (its build info; "
        "verify's model runs are not in it). Random weights: the INT8 figure says the check sees what the cosine "
        "gate lets through, not how a trained YOLOv8 quantizes.", "",
        "| artifact | samples | float detections | mAP@0.5 | detection check (s) | adapt_detector (s) | chain (s) | check / chain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows, ""])
    print(section)
    if args.write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
