"""Preprocessing value types and their numpy reference, shared by the steps and the targets.

``InputPlan`` says which part of an input's preprocessing goes into the ONNX graph (the rest is
left to a later tool, e.g. ``mo`` or the Hailo model script); ``normalize_numpy`` computes in
numpy what the attached nodes compute, for verification and calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeconv.config.resolved import ResolvedInput


@dataclass(frozen=True)
class InputPlan:
    """What of an input's preprocessing goes into the ONNX graph (the rest is left to a later tool)."""

    reverse: bool = True
    normalize: bool = True


def normalize_numpy(x: np.ndarray, spec: ResolvedInput) -> np.ndarray:
    """What the attached nodes compute, in numpy: used by verification and tests."""
    y = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    axis = spec.channel_axis
    if spec.reverse_channels and axis is not None:
        y = np.flip(y, axis=axis)
    shape = [1] * y.ndim
    if axis is not None:
        shape[axis] = y.shape[axis]
    if spec.mean is not None:
        y = y - np.asarray(spec.mean, dtype=y.dtype).reshape(shape if axis is not None else [1] * y.ndim)
    if spec.scale is not None:
        y = y / np.asarray(spec.scale, dtype=y.dtype).reshape(shape if axis is not None else [1] * y.ndim)
    return y
