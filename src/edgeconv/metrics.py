"""How close two outputs are: cosine similarity, max and mean absolute error (the figures every
check reports and its thresholds compare)."""

from __future__ import annotations

import numpy as np


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
