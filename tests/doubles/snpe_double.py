#!/usr/bin/env python3
"""TEST DOUBLE of Qualcomm SNPE's command-line tools -- lives under tests/, never shipped or found by
the product. Invoked through the symlinks snpe-onnx-to-dlc, snpe-tflite-to-dlc, snpe-dlc-quant, snpe-dlc-graph-prepare
and snpe-dlc-info. Each checks its arguments the way the real tool would (the ONNX loads and has the
named inputs/outputs with those dims; so does the .tflite, every input-list line names existing raw files of the right
byte size, SoCs and levels are valid) and writes a JSON stand-in for a DLC that the next tool checks.
"""

import argparse
import csv
import hashlib
import json
import math
import os
import sys
from pathlib import Path

DTYPE_SIZES = {"float32": 4, "float16": 2, "uint8": 1, "int8": 1, "int32": 4, "int64": 8, "uint16": 2, "int16": 2}
LAYOUTS = {"NCDHW", "NDHWC", "NCHW", "NHWC", "NFC", "NCF", "NTF", "TNF", "NF", "NC", "F", "NONTRIVIAL"}
SOCS = {"sm8350", "sm8450", "sm8550", "sm8650", "qcs6490", "qcs8550"}


def fail(message):
    print(f"ERROR - {message}")
    sys.exit(1)


def read_dlc(path):
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read DLC {path}: {exc}")
    if data.get("format") != "dlc-testdouble":
        fail(f"{path} is not a DLC")
    return data


def write_dlc(path, data):
    if not Path(path).parent.is_dir():
        fail(f"output directory of {path} does not exist")
    # A tool that lies (tests of what the product does about it): EDGECONV_TEST_FAULT=garbage:<tool>
    # writes random bytes where that tool's DLC should go, empty:<tool> an empty file; both exit 0.
    fault, _, tool = os.environ.get("EDGECONV_TEST_FAULT", "").partition(":")
    if tool == Path(sys.argv[0]).name and fault in ("garbage", "empty"):
        Path(path).write_bytes(os.urandom(200_000) if fault == "garbage" else b"")
        return
    Path(path).write_text(json.dumps(data, indent=1))


def _onnx_io(path):
    import onnx

    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as exc:
        fail(f"cannot load ONNX {path}: {exc}")
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            # The converter's own words for an op type it has no translation for (as SNPE prints it,
            # e.g. "Node HardSigmoid_0: 'No translation registered for op type onnx_hardsigmoid. ...'").
            print(f"2026-01-01 00:00:00,000 - 209 - ERROR - Node {node.name}: 'No translation registered for op type "
                  f"onnx_{node.op_type.lower()}. Op is most likely not supported by the converter.'")
            sys.exit(1)
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input if i.name not in inits}
    tensors = {o for n in model.graph.node for o in n.output} | set(graph_inputs)
    return graph_inputs, tensors


def _tflite_io(path):
    import tflite

    try:
        data = Path(path).read_bytes()
        if data[4:8] != b"TFL3":
            raise ValueError("no TFL3 identifier")
        graph = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
        names = [graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())]
        graph_inputs = {names[graph.Inputs(i)]: [int(d) for d in graph.Tensors(graph.Inputs(i)).ShapeAsNumpy()]
                        for i in range(graph.InputsLength())}
    except Exception as exc:
        fail(f"cannot load TFLite model {path}: {exc}")
    return graph_inputs, set(names)


def onnx_to_dlc(argv):
    """snpe-onnx-to-dlc, and snpe-tflite-to-dlc (same arguments, a .tflite as --input_network)."""
    tool = Path(sys.argv[0]).name
    p = argparse.ArgumentParser(prog=tool)
    p.add_argument("-i", "--input_network", required=True)
    p.add_argument("-o", "--output_path", required=True)
    p.add_argument("--input_dim", nargs=2, action="append", default=[])
    p.add_argument("--input_dtype", nargs=2, action="append", default=[])
    p.add_argument("--input_layout", nargs=2, action="append", default=[])
    p.add_argument("--out_name", action="append", default=[])
    p.add_argument("--float_bitwidth", type=int, choices=[16, 32], default=32)
    p.add_argument("--quantization_overrides")
    a = p.parse_args(argv)
    graph_inputs, tensors = (_tflite_io if tool == "snpe-tflite-to-dlc" else _onnx_io)(a.input_network)
    inputs = {}
    for name, dims in a.input_dim:
        if name not in graph_inputs:
            fail(f"--input_dim: no input {name!r} in the model")
        dims = [int(d) for d in dims.split(",")]
        model_dims = graph_inputs[name]
        if len(dims) != len(model_dims) or any(m and m != d for m, d in zip(model_dims, dims)):
            fail(f"--input_dim {name} {dims} does not match the model's {model_dims}")
        inputs[name] = {"dims": dims, "dtype": "float32", "layout": None}
    for name, dtype in a.input_dtype:
        if name not in inputs or dtype not in DTYPE_SIZES:
            fail(f"--input_dtype {name} {dtype}: unknown input or dtype")
        inputs[name]["dtype"] = dtype
    for name, layout in a.input_layout:
        if name not in inputs or layout not in LAYOUTS:
            fail(f"--input_layout {name} {layout}: unknown input or layout")
        inputs[name]["layout"] = layout
    for name in a.out_name:
        if name not in tensors:
            fail(f"--out_name {name}: no such tensor")
    overrides = _overrides(a.quantization_overrides, tensors) if a.quantization_overrides else None
    digest = hashlib.sha256(Path(a.input_network).read_bytes()).hexdigest()
    write_dlc(a.output_path, {"format": "dlc-testdouble", "inputs": inputs, "outputs": a.out_name,
                              "float_bitwidth": a.float_bitwidth, "quantized": False, "onnx_sha256": digest,
                              "quantization_overrides": overrides})


def _overrides(path, tensors):
    """--quantization_overrides: an AIMET encodings JSON file; SNPE reads the activation and
    param groups (each a {name: [entries]} map or a [{name, ...}] list) and warns on unknown names."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        fail(f"--quantization_overrides {path}: cannot read the JSON: {exc}")
    if not isinstance(data, dict) or not set(data) & {"activation_encodings", "param_encodings"}:
        fail(f"--quantization_overrides {path}: no activation_encodings/param_encodings")
    pinned = {}
    for group in ("activation_encodings", "param_encodings"):
        entries = data.get(group, {})
        items = entries.items() if isinstance(entries, dict) else [(e["name"], [e]) for e in entries]
        for name, values in items:
            for v in values if isinstance(values, list) else [values]:
                bits = v.get("bitwidth", v.get("bw"))
                if bits not in (4, 8, 16, 32):
                    fail(f"--quantization_overrides {path}: {group}.{name}: bitwidth {bits!r}")
            pinned[name] = {"group": group, "bitwidth": bits, "known": name in tensors or group == "param_encodings"}
    return {"path_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(), "tensors": pinned}


def dlc_quant(argv):
    p = argparse.ArgumentParser(prog="snpe-dlc-quant")
    p.add_argument("--input_dlc", required=True)
    p.add_argument("--output_dlc", required=True)
    p.add_argument("--input_list", required=True)
    p.add_argument("--use_per_channel_quantization", action="store_true")
    p.add_argument("--use_per_row_quantization", action="store_true")
    p.add_argument("--act_bitwidth", type=int, choices=[8, 16], default=8)
    p.add_argument("--weights_bitwidth", type=int, choices=[8, 16], default=8)
    p.add_argument("--param_quantizer", choices=["tf", "enhanced", "adjusted", "symmetric"], default="tf")
    p.add_argument("--act_quantizer", choices=["tf", "enhanced", "adjusted", "symmetric"], default="tf")
    p.add_argument("--override_params", action="store_true")
    a = p.parse_args(argv)
    dlc = read_dlc(a.input_dlc)
    if dlc["quantized"]:
        fail("the input DLC is already quantized")
    lines = [line for line in Path(a.input_list).read_text().splitlines() if line.strip()]
    if not lines:
        fail(f"input list {a.input_list} is empty")
    for number, line in enumerate(lines, 1):
        seen = set()
        for token in line.split():
            name, sep, path = token.partition(":=")
            if not sep or name not in dlc["inputs"]:
                fail(f"input list line {number}: {token!r} does not name a DLC input")
            spec = dlc["inputs"][name]
            expected = math.prod(spec["dims"]) * DTYPE_SIZES[spec["dtype"]]
            raw = Path(path)
            if not raw.is_file():
                fail(f"input list line {number}: {raw} does not exist")
            if raw.stat().st_size != expected:
                fail(f"input list line {number}: {raw} has {raw.stat().st_size} bytes, {name} needs {expected}")
            seen.add(name)
        if seen != set(dlc["inputs"]):
            fail(f"input list line {number} misses inputs {sorted(set(dlc['inputs']) - seen)}")
    dlc.update(quantized=True, act_bitwidth=a.act_bitwidth, weights_bitwidth=a.weights_bitwidth,
               per_channel=a.use_per_channel_quantization, calibration_samples=len(lines))
    write_dlc(a.output_dlc, dlc)


def graph_prepare(argv):
    p = argparse.ArgumentParser(prog="snpe-dlc-graph-prepare")
    p.add_argument("--input_dlc", required=True)
    p.add_argument("--output_dlc", required=True)
    p.add_argument("--set_output_tensors", required=True)
    p.add_argument("--optimization_level", type=int, choices=[1, 2, 3], default=2)
    p.add_argument("--htp_socs", required=True)
    p.add_argument("--use_float_io", action="store_true")
    a = p.parse_args(argv)
    dlc = read_dlc(a.input_dlc)
    socs = a.htp_socs.split(",")
    if not set(socs) <= SOCS:
        fail(f"--htp_socs: unknown SoC(s) {sorted(set(socs) - SOCS)}")
    if not set(a.set_output_tensors.split(",")) <= set(dlc["outputs"]):
        fail(f"--set_output_tensors {a.set_output_tensors}: not outputs of the DLC {dlc['outputs']}")
    if not dlc["quantized"] and dlc["float_bitwidth"] != 16:
        fail("graph preparation for the HTP needs a quantized or FP16 DLC")
    dlc.update(prepared_for=socs, optimization_level=a.optimization_level, float_io=a.use_float_io)
    write_dlc(a.output_dlc, dlc)


def dlc_info(argv):
    p = argparse.ArgumentParser(prog="snpe-dlc-info")
    p.add_argument("-i", "--input_dlc", required=True)
    p.add_argument("-s", "--save")
    a = p.parse_args(argv)
    dlc = read_dlc(a.input_dlc)
    rows = [["input", n, json.dumps(s)] for n, s in dlc["inputs"].items()] + [["output", n, ""] for n in dlc["outputs"]]
    if a.save:
        with open(a.save, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    for row in rows:
        print(",".join(row))


TOOLS = {"snpe-onnx-to-dlc": onnx_to_dlc, "snpe-tflite-to-dlc": onnx_to_dlc, "snpe-dlc-quant": dlc_quant,
         "snpe-dlc-graph-prepare": graph_prepare, "snpe-dlc-info": dlc_info}

if __name__ == "__main__":
    tool = Path(sys.argv[0]).name
    if "--version" in sys.argv[1:]:
        print(f"{tool}: SNPE v2.26.0 (test double)")
        sys.exit(0)
    TOOLS[tool](sys.argv[1:])
