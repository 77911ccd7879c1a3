"""The post-processing model a head of an input NN Archive links (``metadata.postprocessor_path``):
the second stage of the model."""

from __future__ import annotations

from typing import Any

from edgeconv.steps.base import NoParams, Paths, Step


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    from edgeconv.archive_input import extract_postprocessor

    member = extract_postprocessor(inputs["archive"], outputs["model"])
    return {"member": member, "tool_calls": [{"tool": "edgeconv", "call": f"extract_member(archive, {member!r})"}]}


STEP = Step("extract_postprocessor", run, NoParams, inputs=("archive",), outputs=("model",))
