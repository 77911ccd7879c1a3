"""The warnings of a run, recapped at its end (Snakefile, ``onsuccess`` and ``onerror``).

Each step prints its warnings on the console as it raises them, and keeps them in its step record
(``warnings``). A step that ran as a cluster job printed them into that job's log, which the user
who typed ``snakemake --profile profiles/slurm`` never sees; and in a long local run they scroll
away. So at the end, the warnings of every step record this run wrote, one line per message, the
models that raised the same message together."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

SHOWN_MODELS = 3


def warnings_since(intermediate: Path, since: float) -> list[tuple[str, str, str]]:
    """(step, model, message) of every step record under ``intermediate/<model>/records`` of a step
    that started at or after ``since`` (seconds since the epoch; a few seconds of clock skew between
    a cluster node and this host are allowed). Records are read only when written since then."""
    found = []
    try:
        units = list(os.scandir(intermediate))
    except OSError:
        return []
    for unit in units:
        try:
            records = list(os.scandir(os.path.join(unit.path, "records")))
        except OSError:
            continue
        for entry in records:
            if not entry.name.endswith(".json"):
                continue
            try:
                if entry.stat().st_mtime < since - 5:
                    continue
                record = json.loads(Path(entry.path).read_text())
            except (OSError, ValueError):
                continue
            if _started(record, since) < since - 5:
                continue  # written by an earlier run, then touched (snakemake --touch) or copied
            for message in record.get("warnings") or []:
                found.append((str(record.get("step", entry.name[:-5])), str(record.get("model", unit.name)), str(message)))
    return found


def _started(record: dict, default: float) -> float:
    """When the step that wrote ``record`` started (its ``started``, e.g. 2026-12-07T15:28:41+0000)."""
    from datetime import datetime

    try:
        return datetime.strptime(str(record["started"]), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except (KeyError, ValueError):
        return default


def recap(intermediate: Path, since: float) -> str:
    """What the end of a run prints (ending in a newline): nothing without warnings."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for step, model, message in sorted(warnings_since(intermediate, since)):
        grouped[(step, message)].append(model)
    if not grouped:
        return ""
    count = sum(len(models) for models in grouped.values())
    lines = [f"edgeconv: {count} warning(s) from the steps of this run (each step record keeps its own, under `warnings`):"]
    for (step, message), models in grouped.items():
        names = ", ".join(models[:SHOWN_MODELS]) + (f" and {len(models) - SHOWN_MODELS} more" if len(models) > SHOWN_MODELS else "")
        lines.append(f"  warning: {step} ({names}): {message}")
    return "\n".join(lines) + "\n"
