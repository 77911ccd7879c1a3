"""An object named by a URL (``s3://bucket/key``, ...; the kinds in :mod:`edgeconv.inputs.table`),
downloaded once to its mirror under ``results/remote/<scheme>/`` (``layout.remote_copy``).
``version`` is the object's version as the run was planned with it (an S3 ETag and size, ...): a
rule parameter, so a changed object is fetched again and reruns what reads it, and an unchanged one
is not. The record keeps the URL, its version and the file's sha256."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.errors import InputError
from edgeconv.steps.base import ParamsBase, Paths, Step


@dataclass(frozen=True, kw_only=True)
class RemoteParams(ParamsBase):
    url: str
    version: str


def run(inputs: Paths, outputs: Paths, params: RemoteParams) -> dict[str, Any]:
    from edgeconv.inputs.table import url_kind

    kind = url_kind(params.url)
    if kind is None:
        raise InputError(f"{params.url}: no kind of input fetches this URL")
    # In the tool calls, so that every build info behind this file names the object it came from.
    return {"tool_calls": kind.download(params.url, outputs["file"], params.version)}


STEP = Step("fetch_remote", run, RemoteParams, outputs=("file",))
