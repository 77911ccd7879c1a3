"""The published files of one artifact, uploaded once they are built and verified: to
``<output_remote_url>/<target>/`` (the artifact, its buildinfo.json and verify.json), and with
``intermediate_outputs_remote_url`` every intermediate file its build info names, under
``<intermediate_outputs_remote_url>/<unit>/`` by its path in results/intermediate/<unit>/. The
output is a manifest of what was sent: URL, ETag, size and sha256 of each file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.records import write_json_atomic
from edgeconv.steps.base import Context, Params, Paths, Step


@dataclass(frozen=True, kw_only=True)
class UploadParams(Params):
    target: str
    output_remote_url: str | None = None
    intermediate_outputs_remote_url: str | None = None


def configure(ctx: Context, target: str) -> UploadParams:
    return ctx.make(UploadParams, target=target, output_remote_url=ctx.stage.output_remote_url,
                    intermediate_outputs_remote_url=ctx.stage.intermediate_outputs_remote_url)


def intermediates(buildinfos: list[Path], unit: str) -> list[Path]:
    """Every file under results/intermediate/<unit>/ that a step behind the artifacts wrote, with
    the files a model needs beside it (an IR's .bin, an ONNX model's external data)."""
    from edgeconv.tools import model_files

    root = Path(layout.intermediate(unit))
    found: set[Path] = set()
    for info in buildinfos:
        for step in json.loads(info.read_text())["steps"]:
            for out in (step.get("outputs") or {}).values():
                path = Path(out["path"])
                if path.is_file() and root in path.parents and "records" not in path.relative_to(root).parts:
                    found.update(model_files(path))
    return sorted(found)


def run(inputs: Paths, outputs: Paths, params: UploadParams) -> dict[str, Any]:
    from edgeconv import remote

    files = [p for k, p in sorted(inputs.items()) if k.startswith("artifact_")]
    sent: list[dict[str, Any]] = []
    if params.output_remote_url:
        sent += remote.upload(files, f"{params.output_remote_url.rstrip('/')}/{params.target}/")
    if params.intermediate_outputs_remote_url:
        unit = params.model
        kept = intermediates([p for p in files if p.name.endswith(".buildinfo.json")], unit)
        root = Path(layout.intermediate(unit))
        sent += remote.upload(kept, f"{params.intermediate_outputs_remote_url.rstrip('/')}/{unit}/",
                              [str(p.relative_to(root)) for p in kept])
    write_json_atomic(outputs["manifest"], {"uploaded": sent})
    return {"tool_calls": [{"tool": "boto3", "call": "upload_file", "endpoint": remote.endpoint(), "files": len(sent)}]}


STEP = Step("upload_remote", run, UploadParams, configure, inputs=("artifact_<i>",), outputs=("manifest",),
            doc="variant: target")
