"""Reading a TFLite model's inputs and outputs (flatbuffer parse, no interpreter), and running it
with the LiteRT interpreter. Both come with the ``tflite`` extra: ``pip install 'edgeconv[tflite]'``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import ModelFileError
from edgeconv.model_info import ModelInfo, TensorInfo

# tflite.TensorType -> numpy dtype name (the types a model's inputs and outputs can have).
_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "boolean", 7: "int16", 9: "int8", 10: "float64", 16: "uint16"}

# The Python packages TFLite input needs: the flatbuffer reader and converter, and the interpreter
# the conversion is checked against.
PACKAGES = {"tflite": "tflite", "tflite2onnx": "tflite2onnx", "ai_edge_litert": "ai-edge-litert"}


def missing_packages() -> list[str]:
    return [pip for module, pip in PACKAGES.items() if importlib.util.find_spec(module) is None]


def require_packages(path: Path) -> None:
    missing = missing_packages()
    if missing:
        raise ModelFileError(
            f"{path}: a TFLite model needs {', '.join(missing)}; install them with pip install 'edgeconv[tflite]' "
            "(make setup does)"
        )


def tflite_model_info(path: Path) -> ModelInfo:
    """Inputs, outputs and tensor names of the first subgraph of a ``.tflite`` file."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; check `input_model` or put the model under models/")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier); the file may be truncated or in another format")
    require_packages(path)
    import tflite

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
        graph = model.Subgraphs(0)

        def info(index: int) -> TensorInfo:
            t = graph.Tensors(index)
            shape: list[int | str] = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
            signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
            if signature and len(signature) == len(shape):
                shape = ["?" if s < 0 else d for s, d in zip(signature, shape)]
            return TensorInfo(t.Name().decode(), shape, _TYPES.get(t.Type(), f"tflite-type-{t.Type()}"))

        inputs = [info(graph.Inputs(i)) for i in range(graph.InputsLength())]
        outputs = [info(graph.Outputs(i)) for i in range(graph.OutputsLength())]
        names = {graph.Tensors(i).Name().decode() for i in range(graph.TensorsLength())}
    except Exception as exc:  # a damaged flatbuffer raises from anywhere in the generated reader
        raise ModelFileError(f"{path}: not a readable TFLite model ({type(exc).__name__}: {exc}); export it again") from None
    return ModelInfo(path=str(path), inputs=inputs, outputs=outputs, tensor_names=names)


class Interpreter:
    """The LiteRT interpreter on one ``.tflite``: feeds by input name, outputs by output name."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter as LiteRT

        self.path = path
        self._it = LiteRT(model_path=str(path))
        self._it.allocate_tensors()
        self.inputs = self._it.get_input_details()
        self.outputs = self._it.get_output_details()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for d in self.inputs:
            self._it.set_tensor(d["index"], np.ascontiguousarray(feeds[d["name"]], dtype=d["dtype"]))
        self._it.invoke()
        return {d["name"]: np.array(self._it.get_tensor(d["index"])) for d in self.outputs}


def random_feeds(inputs: list[dict[str, Any]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One random sample per input: [0, 1) floats, or integers over the type's 0..255 range."""
    feeds = {}
    for d in inputs:
        dtype = np.dtype(d["dtype"])
        shape = [int(s) for s in d["shape"]]
        if dtype.kind == "f":
            feeds[d["name"]] = rng.random(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[d["name"]] = rng.random(shape) > 0.5
        else:
            info = np.iinfo(dtype)
            feeds[d["name"]] = rng.integers(max(info.min, 0), min(info.max, 255) + 1, shape).astype(dtype)
    return feeds
