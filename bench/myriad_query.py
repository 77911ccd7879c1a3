"""Evaluation (issue: know before the device): does OpenVINO 2021.4's MYRIAD plugin answer "which
layers will not run on RVC2" without a device, and is its answer right?

``IECore.query_network(net, "MYRIAD")`` in OpenVINO 2021.4.2 (Python 3.8, the last release with the
MYRIAD plugin in its wheel; Debian's libusb-1.0-0 must be installed) is asked about: the demo
models as given and after this project's ONNX chain (simplified.onnx: static shapes), the test
models of tests/models.py, a graph with CumSum and NonZero, and (when present) the ten torchvision
classifiers of bench/classifiers.py. "unknown" where it cannot read or query the model. The
environment is .venvs/openvino-2021.4, installed from envs/locks/openvino-2021.4.txt (hashes).
Written to BENCHMARKS.md, (m).

Run: .venv/bin/python bench/myriad_query.py [--write]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

REPO = Path(__file__).resolve().parents[1]
ENV = REPO / ".venvs" / "openvino-2021.4"
MARK = "## (m) RVC2 layer support without a device: OpenVINO 2021.4's MYRIAD query_network (`bench/myriad_query.py`)"

QUERY = r'''
import json, sys, time
from openvino.inference_engine import IECore
import ngraph as ng
ie = IECore()
out = {}
for path in sys.argv[1:]:
    started = time.time()
    try:
        net = ie.read_network(model=path)
        supported = ie.query_network(network=net, device_name="MYRIAD")
    except Exception as exc:
        out[path] = {"answer": "unknown", "why": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]}
        continue
    ops = [o for o in ng.function_from_cnn(net).get_ordered_ops()
           if o.get_type_name() not in ("Parameter", "Result", "Constant")]
    bad = sorted({o.get_type_name() for o in ops if o.get_friendly_name() not in supported})
    out[path] = {"answer": "ok", "layers": len(ops), "unsupported_types": bad,
                 "unsupported": sum(o.get_friendly_name() not in supported for o in ops),
                 "seconds": round(time.time() - started, 2)}
print(json.dumps(out))
'''


def _env() -> Path:
    python = ENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["make", "--no-print-directory", "rvc2-env"], cwd=REPO, check=True)
    return python


def _models(tmp: Path) -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "tests"))
    import models as test_models  # tests/models.py

    found: dict[str, Path] = {}
    for name in ("ppocr_det", "ppocr_cls", "ppocr_rec"):
        found[f"{name} (as given)"] = REPO / "models" / f"{name}.onnx"
    # The demo's simplified.onnx (static shapes), made by the workflow in a copy of the project.
    root = tmp / "project"
    for part in ("config", "models", "calibration_data"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns(".downloads"))
    targets = [f"results/intermediate/{m}/simplified.onnx" for m in ("ppocr_det", "ppocr_cls", "ppocr_rec")]
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(root), "--cores", "2",
                    "-q", "--", *targets], check=True, capture_output=True)
    for m in ("ppocr_det", "ppocr_cls", "ppocr_rec"):
        found[f"{m} (simplified.onnx)"] = root / "results" / "intermediate" / m / "simplified.onnx"
    for name in ("conv_net", "two_input_net", "backbone_net", "head_net"):
        found[f"tests: {name}"] = tmp / f"{name}.onnx"
        getattr(test_models, name)(path=found[f"tests: {name}"])
    found["tests: sensitive_net"] = test_models.sensitive_net(tmp / "sensitive_net.onnx")
    import onnx
    import onnx.helper as h
    import numpy as np
    from onnx import numpy_helper

    nodes = [h.make_node("Relu", ["x"], ["r"]), h.make_node("CumSum", ["r", "axis"], ["c"]),
             h.make_node("NonZero", ["c"], ["nz"])]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", 1, [1, 8])],
                         [h.make_tensor_value_info("nz", 7, [2, None])],
                         [numpy_helper.from_array(np.array(1, dtype=np.int64), "axis")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, tmp / "cumsum_nonzero.onnx")
    found["Relu -> CumSum -> NonZero"] = tmp / "cumsum_nonzero.onnx"
    for path in sorted((REPO / ".venvs" / "bench-models").glob("*.onnx")):
        found[f"torchvision: {path.stem}"] = path
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    python = _env()
    with tempfile.TemporaryDirectory(prefix="edgeconv-myriad-") as tmp:
        found = _models(Path(tmp))
        proc = subprocess.run([str(python), "-c", QUERY, *map(str, found.values())], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        answers = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [MARK, "",
             f"Written by `bench/myriad_query.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: OpenVINO 2021.4.2 "
             "(Python 3.8, envs/locks/openvino-2021.4.txt), `IECore.query_network(net, \"MYRIAD\")` on the ONNX model, "
             "no device attached.", "",
             "| model | answer | layers | unsupported (types) | seconds |", "| --- | --- | --- | --- | --- |"]
    for label, path in found.items():
        a = answers[str(path)]
        if a["answer"] == "ok":
            types = ", ".join(a["unsupported_types"]) or "none"
            lines.append(f"| {label} | ok | {a['layers']} | {a['unsupported']} ({types}) | {a['seconds']} |")
        else:
            lines.append(f"| {label} | unknown: {a['why'].replace('|', '/')} | | | |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
