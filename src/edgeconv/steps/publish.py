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
import shutil
from pathlib import Path
from typing import Any

from edgeconv.errors import VerificationError
from edgeconv.records import assemble_buildinfo, atomic_file, file_sha256, provenance, write_json_atomic
from edgeconv.steps.base import NoParams, Paths, Step


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
