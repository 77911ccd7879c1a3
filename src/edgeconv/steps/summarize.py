"""The batch at a glance: one row per published artifact of the matrix, in
``results/summary.csv`` (and ``.json``): model, target, the artifact's files and size, its check
(worst cosine, largest max/mean absolute error over the outputs, pass), the steps behind it and
their total time, the toolchain its vendor tools ran in, and the lock of the environment.

Inputs: ``buildinfo_<i>``, every published ``buildinfo.json`` of the matrix. Built on request:
``snakemake --cores 4 results/summary.csv`` (it builds whatever of the matrix is missing first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.records import atomic_file, write_json_atomic
from edgeconv.steps.base import NoParams, Paths, Step

COLUMNS = [
    "model", "target", "artifact", "bytes", "checked", "passed", "min_cosine", "max_abs_error", "mean_abs_error",
    "map50", "map50_95", "reference_detections", "steps", "steps_s", "toolchain", "lock_sha256",
]


def row(buildinfo: Path) -> dict[str, Any]:
    """One artifact's line, from its build info (``results/<target>/<artifact>.buildinfo.json``)."""
    info = json.loads(buildinfo.read_text())
    files = sorted(info["artifact"])
    verification = info.get("verification") or {}
    outputs = list((verification.get("outputs") or {}).values())
    toolchains = sorted({f"{s['toolchain'].get('target')}:{s['toolchain'].get('runtime')}" for s in info["steps"] if s.get("toolchain")})
    lock = (info.get("environment") or {}).get("edgeconv") or {}
    return {
        "model": info.get("model"),
        "target": Path(buildinfo).parent.name,
        "artifact": " ".join(Path(f).name for f in files),
        "bytes": sum(Path(f).stat().st_size for f in files if Path(f).exists()),
        # Vendor artifacts that cannot run here are published on the check of the model they were
        # compiled from; their own build info then holds no verification.
        "checked": bool(outputs),
        "passed": verification.get("passed") if outputs else None,
        "min_cosine": min((o["cosine"] for o in outputs), default=None),
        "max_abs_error": max((o["max_abs_error"] for o in outputs), default=None),
        "mean_abs_error": max((o["mean_abs_error"] for o in outputs), default=None),
        # A recognised detector's figures in detections (docs/detectors.md); empty for other models.
        **{k: (verification.get("detections") or {}).get(k) for k in ("map50", "map50_95", "reference_detections")},
        "steps": len(info["steps"]),
        "steps_s": round(sum(s.get("duration_s", 0.0) for s in info["steps"]), 3),
        "toolchain": " ".join(toolchains) or "local",
        "lock_sha256": lock.get("sha256") if isinstance(lock, dict) else None,
    }


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    import pandas as pd

    rows = [row(p) for k, p in sorted(inputs.items()) if k.startswith("buildinfo_")]
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values(["model", "target", "artifact"], kind="stable")
    with atomic_file(outputs["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_json_atomic(outputs["json"], {"artifacts": table.to_dict(orient="records")})
    return {"rows": len(table), "tool_calls": [{"tool": "pandas", "version": pd.__version__, "call": "DataFrame.to_csv"}]}


STEP = Step("summarize", run, NoParams, inputs=("buildinfo_<i>",), outputs=("csv", "json"))
