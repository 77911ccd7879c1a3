"""An NN Archive given as the model (``models/<model>.tar.xz``), extracted safely (no links, no
paths out of the directory, size limits): its model and ``config.json``."""

from __future__ import annotations

from typing import Any

from edgeconv.steps.base import NoParams, Paths, Step


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    from edgeconv.archive_input import safe_extract

    config = safe_extract(inputs["archive"], outputs["model"].parent)
    return {"archive_config": config, "tool_calls": [{"tool": "edgeconv", "call": "safe_extract(archive)"}]}


STEP = Step("extract_archive", run, NoParams, inputs=("archive",), outputs=("model", "config"))
