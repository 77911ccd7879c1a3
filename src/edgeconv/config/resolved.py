"""A stage resolved against its model (``config.resolve``): plain dataclasses, importable without
the pydantic config models, so that a step given its resolved stage starts quickly."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeconv.onnx_io import numpy_dtype


@dataclass
class ResolvedInput:
    name: str
    shape: list[int]
    layout: str
    data_type: str
    encoding_from: str
    encoding_to: str
    mean: list[float] | None  # one value per channel, in the original model's channel order
    scale: list[float] | None
    frozen_value: list[Any] | None
    calibration: dict[str, Any]
    listed: bool  # given in the config (unlisted inputs pass through untouched)

    @property
    def channel_axis(self) -> int | None:
        return self.layout.index("C") if "C" in self.layout else None

    @property
    def channels(self) -> int | None:
        axis = self.channel_axis
        return None if axis is None else self.shape[axis]

    @property
    def is_image(self) -> bool:
        return self.encoding_from != "NONE"

    @property
    def reverse_channels(self) -> bool:
        return self.encoding_from != self.encoding_to and {self.encoding_from, self.encoding_to} == {"RGB", "BGR"}

    @property
    def needs_normalization(self) -> bool:
        return (
            self.reverse_channels
            or (self.mean is not None and any(v != 0 for v in self.mean))
            or (self.scale is not None and any(v != 1 for v in self.scale))
        )

    def frozen_array(self) -> np.ndarray | None:
        if self.frozen_value is None:
            return None
        return np.asarray(self.frozen_value, dtype=numpy_dtype(self.data_type)).reshape(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolvedInput:
        return cls(**d)


@dataclass
class ResolvedStage:
    inputs: list[ResolvedInput]
    outputs: list[str]

    def input(self, name: str) -> ResolvedInput:
        return next(i for i in self.inputs if i.name == name)


def move_preprocessing(stage: ResolvedStage) -> ResolvedStage:
    """The stage converted with ``--archive-preprocess``: no mean, scale or channel reversal in
    the model (the NN Archive carries them); inputs that were normalized take float data."""
    from dataclasses import replace

    inputs = []
    for spec in stage.inputs:
        if spec.listed and spec.frozen_value is None and (spec.is_image or spec.needs_normalization):
            data_type = spec.data_type
            if spec.needs_normalization and not data_type.startswith("float"):
                data_type = "float32"
            spec = replace(spec, mean=None, scale=None, encoding_to=spec.encoding_from, data_type=data_type)
        inputs.append(spec)
    return ResolvedStage(inputs=inputs, outputs=list(stage.outputs))


def stage_from_dict(data: dict[str, Any]) -> ResolvedStage:
    return ResolvedStage(inputs=[ResolvedInput.from_dict(i) for i in data["inputs"]], outputs=list(data["outputs"]))


def stage_to_dict(stage: ResolvedStage) -> dict[str, Any]:
    return {"inputs": [i.to_dict() for i in stage.inputs], "outputs": list(stage.outputs)}
