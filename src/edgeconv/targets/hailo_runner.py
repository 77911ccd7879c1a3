"""Runs one Hailo Dataflow Compiler call inside the DFC's own Python environment.

Usage: <dfc-python> hailo_runner.py {parse|hn-names|optimize|compile} SPEC.json
Depends only on the standard library, numpy and hailo_sdk_client, so it runs in the DFC's
environment without this package installed. Writes what it was asked to and, for hn-names, a
JSON answer at spec["answer"].
"""

import json
import sys


def _runner(spec, har=None):
    from hailo_sdk_client import ClientRunner

    if har is None:
        return ClientRunner(hw_arch=spec["hw_arch"])
    return ClientRunner(hw_arch=spec["hw_arch"], har=har)


def parse(spec):
    runner = _runner(spec)
    if spec["model"].endswith(".tflite"):  # the DFC's TensorFlow (TFLite) parser
        runner.translate_tf_model(
            spec["model"],
            spec["net_name"],
            start_node_names=spec["start_node_names"],
            end_node_names=spec["end_node_names"],
            tensor_shapes=spec["net_input_shapes"],
        )
    else:
        runner.translate_onnx_model(
            spec["model"],
            net_name=spec["net_name"],
            start_node_names=spec["start_node_names"],
            net_input_shapes=spec["net_input_shapes"],
            end_node_names=spec["end_node_names"],
        )
    if spec.get("force_onnx_names"):
        _force_onnx_names(runner)
    runner.save_har(spec["har"])


def _force_onnx_names(runner):
    """Name output layers after the ONNX outputs they come from (as the reference does)."""
    hn = runner.get_hn()
    params = dict(runner.get_params())
    rename = {}
    for layer in hn["layers"].values():
        if layer.get("type") == "output_layer":
            src = layer["input"][0]
            rename[src] = f"{src.split('/')[0]}/{layer['original_names'][0]}"
    layers = {}
    for name, layer in hn["layers"].items():
        for key in ("input", "output"):
            if key in layer:
                layer[key] = [rename.get(n, n) for n in layer[key]]
        layers[rename.get(name, name)] = layer
    hn["layers"] = layers
    order = hn.get("net_params", {}).get("output_layers_order")
    if order is not None:
        hn["net_params"]["output_layers_order"] = [rename.get(n, n) for n in order]
    renamed_params = {}
    for key, value in params.items():
        for old, new in rename.items():
            if old in key:
                key = key.replace(old, new)
                break
        renamed_params[key] = value
    runner.set_hn(hn)
    runner.load_params(renamed_params)


def hn_names(spec):
    runner = _runner(spec, spec["har"])
    answer = {}
    for hn_name, layer in runner.get_hn_dict()["layers"].items():
        if layer.get("type") == "input_layer":
            for original in layer.get("original_names", []):
                answer[original] = {"hn_name": hn_name, "shape": layer["input_shapes"][0]}
    with open(spec["answer"], "w") as f:
        json.dump(answer, f)


def optimize(spec):
    import numpy as np

    runner = _runner(spec, spec["har"])
    runner.load_model_script(spec["model_script"])
    with np.load(spec["calibration"]) as data:
        calibration = {k: data[k] for k in data.files}
    runner.optimize(calibration)
    runner.save_har(spec["out"])


def compile_hef(spec):
    runner = _runner(spec, spec["har"])
    hef = runner.compile()
    with open(spec["out"], "wb") as f:
        f.write(hef)


def version():
    import hailo_sdk_client

    print(f"hailo_sdk_client {hailo_sdk_client.__version__}")


COMMANDS = {"parse": parse, "hn-names": hn_names, "optimize": optimize, "compile": compile_hef}

if __name__ == "__main__":
    if sys.argv[1:] == ["--version"]:
        version()
    else:
        with open(sys.argv[2]) as f:
            COMMANDS[sys.argv[1]](json.load(f))
