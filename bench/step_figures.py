"""A step's seconds, peak memory (MB) and CPU seconds after a run: from Snakemake's `benchmark:`
file where the rule has one (checks, publishing), else from the step's record (the steps the
output cache may serve have no `benchmark:`; their records hold the same figures)."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def step_figures(root: Path, model: str, step: str) -> dict[str, float] | None:
    tsv = root / "benchmarks" / model / f"{step}.tsv"
    if tsv.exists():
        with tsv.open() as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        return {"s": float(row["s"]), "max_rss": float(row["max_rss"]), "cpu_time": float(row.get("cpu_time") or 0)}
    record = root / "results" / "intermediate" / model / "records" / f"{step}.json"
    if not record.exists():
        return None
    data = json.loads(record.read_text())
    res = data.get("resources") or {}
    return {"s": float(data["duration_s"]), "max_rss": float(res.get("max_rss_mb", 0)), "cpu_time": float(res.get("cpu_s", 0))}
