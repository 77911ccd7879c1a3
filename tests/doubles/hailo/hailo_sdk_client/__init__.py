"""TEST DOUBLE of the Hailo Dataflow Compiler's ClientRunner -- lives under tests/, never shipped.

Checks what the real DFC checks at each call (the ONNX or TFLite model loads and has the start/end nodes with
those shapes; the model script's commands, levels and layer names; the calibration set's keys,
NHWC shapes and dtype; parse -> optimize -> compile order) and writes JSON stand-ins for HAR/HEF.
"""

import json
import os
import re
from pathlib import Path

__version__ = "3.27.0-testdouble"
HW_ARCHS = {"hailo8", "hailo8l", "hailo8r", "hailo10h", "hailo15h", "hailo15m"}


class ClientRunner:
    def __init__(self, hw_arch, har=None):
        if hw_arch not in HW_ARCHS:
            raise ValueError(f"unknown hw_arch {hw_arch}")
        self.hw_arch = hw_arch
        self.state = {"hn": None, "params": {}, "quantized": False, "script": None}
        if har is not None:
            self.state = json.loads(Path(har).read_text())
            if self.state.get("format") != "har-testdouble":
                raise ValueError(f"{har} is not a HAR")

    def translate_onnx_model(self, model, net_name, start_node_names, net_input_shapes, end_node_names):
        import onnx

        m = onnx.load(model)
        onnx.checker.check_model(m)
        inits = {i.name for i in m.graph.initializer}
        inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input if i.name not in inits}
        tensors = {o for n in m.graph.node for o in n.output}
        self._translate(model, net_name, inputs, tensors, start_node_names, net_input_shapes, end_node_names, channels_first=True)

    def translate_tf_model(self, model_path, net_name, start_node_names=None, end_node_names=None, tensor_shapes=None):
        import tflite

        data = Path(model_path).read_bytes()
        if not model_path.endswith(".tflite") or data[4:8] != b"TFL3":
            raise ValueError(f"{model_path} is not a TFLite model")
        graph = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
        names = [graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())]
        inputs = {names[graph.Inputs(i)]: [int(d) for d in graph.Tensors(graph.Inputs(i)).ShapeAsNumpy()] for i in range(graph.InputsLength())}
        self._translate(model_path, net_name, inputs, set(names), start_node_names, tensor_shapes, end_node_names, channels_first=False)

    def _translate(self, model, net_name, inputs, tensors, start_node_names, net_input_shapes, end_node_names, channels_first):
        layers = {}
        for k, name in enumerate(start_node_names, 1):
            if name not in inputs:
                raise ValueError(f"start node {name} is not an input of {model}")
            shape = net_input_shapes[name]
            if len(shape) != len(inputs[name]) or any(a and a != b for a, b in zip(inputs[name], shape)):
                raise ValueError(f"shape {shape} does not match {name} {inputs[name]}")
            hn_shape = [-1, shape[2], shape[3], shape[1]] if len(shape) == 4 and channels_first else [-1, *shape[1:]]
            layers[f"{net_name}/input_layer{k}"] = {"type": "input_layer", "original_names": [name], "input_shapes": [hn_shape]}
        for k, name in enumerate(end_node_names, 1):
            if name not in tensors:
                raise ValueError(f"end node {name} not found in {model}")
            layers[f"{net_name}/conv{k}"] = {"type": "conv", "output": [f"{net_name}/output_layer{k}"]}
            layers[f"{net_name}/output_layer{k}"] = {"type": "output_layer", "input": [f"{net_name}/conv{k}"], "original_names": [name]}
        self.state["hn"] = {"name": net_name, "layers": layers,
                            "net_params": {"output_layers_order": [f"{net_name}/output_layer{k}" for k in range(1, len(end_node_names) + 1)]}}

    def get_hn(self):
        return json.loads(json.dumps(self.state["hn"]))

    get_hn_dict = get_hn

    def set_hn(self, hn):
        self.state["hn"] = hn

    def get_params(self):
        return dict(self.state["params"])

    def load_params(self, params):
        self.state["params"] = dict(params)

    def save_har(self, path):
        if self.state["hn"] is None:
            raise RuntimeError("nothing to save: translate a model first")
        Path(path).write_text(json.dumps({"format": "har-testdouble", **self.state}))

    def load_model_script(self, script):
        inputs = {n for n, l in self.state["hn"]["layers"].items() if l["type"] == "input_layer"}
        for line in [l.strip() for l in script.splitlines() if l.strip()]:
            m = re.fullmatch(r"model_optimization_flavor\(optimization_level=(-?\d+), compression_level=(\d+), batch_size=(\d+)\)", line)
            if m:
                if int(m[1]) not in (-100, 0, 1, 2, 3, 4) or not 0 <= int(m[2]) <= 5 or int(m[3]) < 1:
                    raise ValueError(f"bad model_optimization_flavor: {line}")
                continue
            m = re.fullmatch(r"(\w+) = normalization\(\[([^\]]*)\],\[([^\]]*)\],([\w/]+)\)", line)
            if m:
                if m[4] not in inputs or len(m[2].split(",")) != 3 or len(m[3].split(",")) != 3:
                    raise ValueError(f"bad normalization: {line}")
                continue
            m = re.fullmatch(r"(\w+) = input_conversion\(([\w/]+),bgr_to_rgb\)", line)
            if m:
                if m[2] not in inputs:
                    raise ValueError(f"unknown layer in {line}")
                continue
            if re.fullmatch(r"[\w]+(\s*=\s*)?\w*\(.*\)", line):  # other DFC commands given by the user
                continue
            raise ValueError(f"model script syntax error: {line}")
        self.state["script"] = script

    def optimize(self, calib_data):
        import numpy as np

        if self.state["quantized"]:
            raise RuntimeError("already optimized")
        layers = self.state["hn"]["layers"]
        expected = {n: l["input_shapes"][0] for n, l in layers.items() if l["type"] == "input_layer"}
        if set(calib_data) != set(expected):
            raise ValueError(f"calibration keys {sorted(calib_data)} != input layers {sorted(expected)}")
        for name, arr in calib_data.items():
            if arr.dtype != np.float32 or list(arr.shape[1:]) != expected[name][1:] or len(arr) < 1:
                raise ValueError(f"calibration {name}: {arr.dtype} {arr.shape}, expected float32 [N, {expected[name][1:]}]")
        self.state["quantized"] = True
        self.state["calibration_samples"] = int(len(next(iter(calib_data.values()))))

    def compile(self):
        if not self.state["quantized"]:
            raise RuntimeError("compile needs an optimized (quantized) HAR")
        if os.environ.get("EDGECONV_TEST_FAULT") == "garbage":  # a compiler that lies: exit 0, not a HEF
            return os.urandom(200_000)
        # The header magic a real HEF starts with, then this double's own record.
        return b"\x01HEF" + b"HEF-TESTDOUBLE\0" + json.dumps({"hw_arch": self.hw_arch, "script": self.state["script"]}).encode()
