"""An ONNX model over 2 GB end to end (weights in ``<model>.onnx_data``), written to
BENCHMARKS.md section (d).

Builds a 9-layer MatMul/Relu net with 2.4 GB of float32 weights (protobuf cannot hold more than
2 GB, so the weights live in ``big.onnx_data``), converts it for the ``openvino`` target (FP16 IR,
verification against the original, build info) through every step of the ONNX chain, and records
each step's time and peak memory, where each intermediate keeps its weights, and the verification.

Run: .venv/bin/python bench/large_onnx.py [--keep DIR]   (needs ~15 GB of disk, ~12 GB of RAM)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_figures import step_figures  # noqa: E402

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
WIDTH, LAYERS = 8192, 9  # 9 x 8192 x 8192 x 4 bytes = 2.42 GB
STEPS = ["attach_normalization", "optimize_onnx", "simplify", "verify_onnx_stages", "convert_ir", "verify_ir"]
MARK = "## (d) An ONNX model over 2 GB"
BEFORE_S = 310  # the same command before big weights stayed on disk (this section, 2026-11-21)


def build(models: Path) -> int:
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(LAYERS):
        w = (rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) / np.sqrt(WIDTH)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
        out = "y" if i == LAYERS - 1 else f"r{i}"
        nodes.append(helper.make_node("Relu" if i < LAYERS - 1 else "Identity", [f"m{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=10)
    models.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(models / "big.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="big.onnx_data")
    return (models / "big.onnx_data").stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    args = parser.parse_args()
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="edgeconv-big-")
    root = args.keep or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "models" / "big.onnx_data"
    data_size = data.stat().st_size if args.keep and data.exists() else build(root / "models")  # --keep: reuse
    for old in ("results", "benchmarks", ".snakemake"):
        shutil.rmtree(root / old, ignore_errors=True)  # every run from a clean state
    (root / "config" / "models").mkdir(parents=True, exist_ok=True)
    (root / "config" / "config.yaml").write_text("models: [big]\ntargets: [openvino]\nverify: {max_images: 2}\n")
    (root / "config" / "models" / "big.yaml").write_text(
        "input_model: models/big.onnx\ninputs: [{name: x, layout: NC, encoding: NONE}]\n"
        "openvino: {disable_calibration: true}\n"
    )
    targets = ["results/openvino/big.xml", "results/openvino/big.verify.json", "results/openvino/big.buildinfo.json",
               "results/intermediate/big/simplified.verify.json"]
    start = time.perf_counter()
    proc = subprocess.run([*SNAKEMAKE, "-d", str(root), "--cores", "1", *targets], cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = []
    for step in STEPS:
        r = step_figures(root, "big", step)
        if r:
            rows.append((step, r["s"], r["max_rss"]))
    inter = root / "results" / "intermediate" / "big"
    files = sorted(p for p in [*inter.glob("*.onnx*"), *(root / "results" / "openvino").glob("big.*")] if p.is_file())
    sizes = [(str(p.relative_to(root)), p.stat().st_size) for p in files]
    verify = {}
    for name in ("results/openvino/big.verify.json", "results/intermediate/big/simplified.verify.json"):
        p = root / name
        if p.exists():
            report = json.loads(p.read_text())
            verify[name] = {k: round(v["cosine"], 6) for k, v in report["outputs"].items()}
    lines = [
        MARK, "",
        f"Written by `bench/large_onnx.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, Python {platform.python_version()}. "
        f"A {LAYERS}-layer MatMul/Relu net, input [1, {WIDTH}], weights {data_size / 1e9:.2f} GB in `big.onnx_data` "
        "(over protobuf's 2 GB), converted for `openvino` (FP16 IR) with `--cores 1`.", "",
        f"Result: **{'converted' if proc.returncode == 0 else 'FAILED'}** in {wall:.0f} s.", "",
    ]
    if rows:
        lines += ["| step | wall s | max RSS MiB |", "| --- | --- | --- |", *(f"| {s} | {t:.1f} | {m:.0f} |" for s, t, m in rows), ""]
        peak, limit = max(m for _, _, m in rows), 2 * data_size / 2**20
        lines += [
            "| goal | figure | |",
            "| --- | --- | --- |",
            f"| peak RSS of any step <= 2x the weights ({limit:.0f} MiB) | {peak:.0f} MiB ({peak / (data_size / 2**20):.2f}x) "
            f"| {'met' if peak <= limit else 'not met'} |",
            f"| whole command <= half of {BEFORE_S} s (before, 2026-11-21) | {wall:.0f} s ({wall / BEFORE_S:.2f}x) "
            f"| {'met' if wall <= BEFORE_S / 2 else 'not met'} |",
            "",
        ]
    if sizes:
        lines += ["Files written (each intermediate ONNX keeps its weights in its own `<file>_data`):", "",
                  "| file | bytes |", "| --- | --- |", *(f"| `{n}` | {b} |" for n, b in sizes), ""]
    if verify:
        lines += ["Verification (cosine vs the original, per output): "
                  + "; ".join(f"`{k}` {v}" for k, v in verify.items()), ""]
    if proc.returncode != 0:
        lines += ["Where it stopped:", "", "```", *[ln for ln in log.splitlines() if "error" in ln.lower()][:10], "```", ""]
    section = "\n".join(lines)
    bench = REPO / "BENCHMARKS.md"
    text = bench.read_text() if bench.exists() else "# Benchmarks\n"
    before, _, rest = text.partition(MARK)
    after = rest[rest.index("\n## "):] if "\n## " in rest else ""  # the sections after this one stay
    bench.write_text(before.rstrip() + "\n\n" + section.rstrip() + "\n" + after)
    print(section)
    if tmp is not None:
        tmp.cleanup()
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
