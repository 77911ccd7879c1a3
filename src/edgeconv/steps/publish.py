"""Publish an artifact: from ``results/intermediate/`` to ``results/<target>/``, verified only.

Every target's artifact is built under ``results/intermediate/<model>/<target>/`` and checked
there. This step is the only way into ``results/<target>/``: it reads every verification report
of the artifact (its own check, or for the vendor artifacts that cannot run here the check of
the step before them), refuses unless all of them passed, then copies the artifact's files and
writes its ``buildinfo.json`` from the records of the steps that made it.

Inputs: ``artifact_<key>`` (copied to output ``<key>``) and ``verify*`` (reports that must have
passed; ``verify`` is also copied to output ``verify`` when one is declared). Outputs: the copies
and ``buildinfo``, whose steps are found by walking the records' parent links back from the
records that wrote the artifacts, so no rule lists the chain.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from edgeconv.errors import VerificationError
from edgeconv.records import atomic_file, file_sha256, provenance, write_json_atomic
from edgeconv.steps.base import COMMON_FIELDS, NoParams, Paths, Step


def step_settings(params: dict[str, Any]) -> dict[str, Any]:
    """A step's own settings: its parameters without those every step has (which model, its config
    file, versions, toolchain, interface)."""
    return {k: v for k, v in params.items() if k not in COMMON_FIELDS}


def assemble_buildinfo(artifact: dict[Path, str], records: list[dict[str, Any]], verify: dict[str, Any] | None) -> dict[str, Any]:
    """One artifact's build info: its files (``{path: sha256}``), the chain of step records that
    made it, and its verification."""
    resolved = next((r.get("resolved") for r in records if r.get("resolved")), None)
    calibration = next((r.get("sources") for r in records if r["step"] == "prepare_calibration"), None)
    return {
        "artifact": {str(p): digest for p, digest in artifact.items()},
        "model": records[0].get("model") if records else None,
        "resolved_config": {
            "inputs": resolved,
            "calibration": calibration,
            # Each step's own settings, by their config names (the common fields left out).
            **{r["step"]: settings for r in records if (settings := step_settings(r.get("params") or {}))},
        },
        "steps": [
            {
                "step": r["step"],
                "argv": r["argv"],
                "tool_calls": r.get("tool_calls", []),
                "tool_versions": r["tool_versions"],
                **({"toolchain": r["toolchain"]} if r.get("toolchain") else {}),
                **({"accuracy_control": r["accuracy_control"]} if r.get("accuracy_control") else {}),
                "inputs": r["inputs"],
                "outputs": r["outputs"],
                "duration_s": r["duration_s"],
                **({"from_cache": True} if from_cache(r) else {}),
            }
            for r in records
        ],
        "verification": verify,
        # What accuracy control kept at higher precision and the figure of each trial of its search.
        **({"accuracy_control": control} if (control := next((r["accuracy_control"] for r in records
                                                               if r.get("accuracy_control")), None)) else {}),
        "environment": environments(records),
        "cache": cache_origin(records),
    }


def from_cache(record: dict[str, Any]) -> bool:
    """Whether a step's record (and so its outputs) came from Snakemake's output cache
    (``--cache``): the cache leaves a symlink to its entry, and the record names another run."""
    path = record.get("record")
    if not path or not Path(path).is_symlink():
        return False
    made = record.get("made_by") or {}
    return (made.get("host"), made.get("workdir")) != (socket.gethostname(), os.getcwd())


def cache_origin(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The steps whose outputs came from the output cache, and the run that made them first."""
    served = [r for r in records if from_cache(r)]
    if not served:
        return None
    return {
        "from_cache": True,
        "steps": [r["step"] for r in served],
        "made_by": [{"step": r["step"], **r["made_by"], "started": r.get("started")} for r in served],
    }


def environments(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The locks the steps' environments were installed from: equal digests, same environment."""
    steps = {json.dumps(r["environment"], sort_keys=True): r["environment"] for r in records if r.get("environment")}
    tools: dict[str, Any] = {}
    for r in records:
        tools.update(r.get("tool_environments", {}))
        if (r.get("toolchain") or {}).get("runtime", "local") != "local":
            tc = r["toolchain"]
            tools[f"{tc.get('target')} image"] = {k: tc.get(k) for k in ("image", "image_id", "image_versions", "version") if tc.get(k)}
    return {"edgeconv": list(steps.values())[0] if len(steps) == 1 else list(steps.values()), "tools": tools}


def unpassed(reports: dict[str, Path]) -> list[str]:
    """One line per report that is missing its ``passed: true``."""
    problems = []
    for key, path in sorted(reports.items()):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable report ({exc})")
            continue
        if report.get("passed") is not True:
            failures = "; ".join(report.get("failures") or ["not passed"])
            problems.append(f"{path}: {failures}")
    return problems


def copy_file(src: Path, dest: Path) -> None:
    """A fresh copy (new mtime, so Snakemake sees it as newer than what it was made from)."""
    with atomic_file(dest) as tmp:
        shutil.copyfile(src, tmp)


def publish(inputs: Paths, outputs: Paths, params: NoParams | None = None) -> dict[str, Any]:
    reports = {k: p for k, p in inputs.items() if k.startswith("verify")}
    if problems := unpassed(reports):
        raise VerificationError(
            "not published, a verification did not pass: " + " | ".join(problems) + "; see that report"
        )
    artifacts = {k.removeprefix("artifact_"): p for k, p in inputs.items() if k.startswith("artifact_")}
    missing = sorted(set(artifacts) - set(outputs))
    if missing:
        raise ValueError(f"publish: artifact input(s) {missing} have no output of the same key")
    # Each artifact is hashed once: to find the record that wrote it, and for the build info of
    # its published copy (same bytes).
    digests = {key: file_sha256(src) for key, src in artifacts.items()}
    for key, src in artifacts.items():
        copy_file(src, outputs[key])
    if "verify" in outputs:
        copy_file(inputs["verify"], outputs["verify"])
    records = provenance({artifacts[k]: digests[k] for k in artifacts})
    report = json.loads(inputs["verify"].read_text()) if "verify" in inputs else None
    published = {outputs[k]: digests[k] for k in artifacts}
    write_json_atomic(outputs["buildinfo"], assemble_buildinfo(published, records, report))
    return {"published": {str(outputs[k]): str(src) for k, src in artifacts.items()}}


STEP = Step("publish", publish, NoParams, doc="inputs artifact_<key>, verify*; outputs <key>, buildinfo")
