"""How close two outputs are: cosine similarity, max and mean absolute error (the figures every
check reports and its thresholds compare)."""

from __future__ import annotations

from typing import Any

import numpy as np

# The checks' default thresholds, per kind of artifact (``verify.<kind>`` in config.yaml or the
# model's config overrides them).
DEFAULT_THRESHOLDS = {
    "onnx": {"min_cosine": 0.9999},
    "openvino_fp16": {"min_cosine": 0.999},
    "openvino_int8": {"min_cosine": 0.98},
    "qnn_htp": {"min_cosine": 0.98},
}


def thresholds_for(settings: dict[str, Any], stage: Any, kind: str) -> dict[str, Any]:
    """The thresholds an artifact of ``kind`` is verified against: the defaults, then
    ``verify.<kind>`` of config.yaml, then the model config's own ``verify.<kind>``."""
    verify = settings.get("verify") or {}
    thresholds = dict(DEFAULT_THRESHOLDS[kind])
    thresholds.update(verify.get(kind) or {})
    local = getattr(stage.verify, kind)
    if local is not None:
        thresholds.update({k: v for k, v in local.model_dump().items() if v is not None})
    return thresholds


def verify_images(settings: dict[str, Any], stage: Any) -> int:
    """How many samples verification reads (the first ones of the calibration data)."""
    return int(stage.verify.max_images or (settings.get("verify") or {}).get("max_images", 4))


def metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    a = ref.astype(np.float64).reshape(-1)
    b = got.astype(np.float64).reshape(-1)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    if denom == 0:
        cosine = 1.0 if np.array_equal(a, b) else 0.0
    else:
        cosine = float(np.dot(a, b) / denom)
    diff = np.abs(a - b)
    return {
        "cosine": cosine,
        "max_abs_error": float(diff.max(initial=0.0)),
        "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
    }
