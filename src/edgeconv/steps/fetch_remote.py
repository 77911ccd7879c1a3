"""An object from S3-compatible storage (``s3://bucket/key``), downloaded once to its mirror under
``results/remote/s3/`` (``layout.remote_copy``). ``version`` is the object's ETag and size as the
run was planned with them: a rule parameter, so a changed object is fetched again and reruns what
reads it, and an unchanged one is not. The record keeps the URL, ETag, size and sha256."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.steps.base import ParamsBase, Paths, Step


@dataclass(frozen=True, kw_only=True)
class RemoteParams(ParamsBase):
    url: str
    version: str


def run(inputs: Paths, outputs: Paths, params: RemoteParams) -> dict[str, Any]:
    from edgeconv import remote

    fetched = remote.download(params.url, outputs["file"], params.version)
    # In the tool calls, so that every build info behind this file names the object it came from.
    return {"tool_calls": [{"tool": "boto3", "call": "download_file", "endpoint": remote.endpoint(), **f}
                           for f in fetched]}


STEP = Step("fetch_remote", run, RemoteParams, outputs=("file",))
