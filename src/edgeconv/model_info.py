"""What a model file offers: its inputs and outputs. Read by onnx_io (ONNX, OpenVINO IR) and
tflite_io (TFLite), used everywhere the config is checked against the model."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TensorInfo:
    name: str
    shape: list[int | str]  # int for a fixed dim, the symbolic name (or "?") for a dynamic one
    data_type: str

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int) or d <= 0]


@dataclass
class ModelInfo:
    path: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    tensor_names: set[str] = field(default_factory=set)
    metadata: dict[str, str] = field(default_factory=dict)  # an ONNX model's metadata_props

    def input(self, name: str) -> TensorInfo | None:
        return next((t for t in self.inputs if t.name == name), None)
