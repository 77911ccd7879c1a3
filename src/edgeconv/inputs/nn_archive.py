"""An NN Archive given as the model (``models/<name>.tar.xz``, or ``.tar.gz``/``.tgz``/``.tar``):
its ``config.json`` becomes the model's config at parse time (heads carried over to the output
archive), the extract_archive rule extracts its model (and extract_postprocessor a post-processing
model) under ``results/intermediate/<name>/``. Its version is the archive file itself (an input
of those rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.archive_input import ARCHIVE_SUFFIXES, MODEL_NAME_IN_ARCHIVE, model_config_from_archive, postprocessor_path, read_config
from edgeconv.config.loader import apply_overrides, validate_model_config
from edgeconv.errors import ConfigError, ConversionError
from edgeconv.inputs.base import Kind, Made


class NnArchives(Kind):
    def __init__(self) -> None:
        super().__init__()
        self.heads: dict[str, list[Any]] = {}

    def find(self, models_dir: Path, model: str) -> Path | None:
        for suffix in ARCHIVE_SUFFIXES:
            if (models_dir / f"{model}{suffix}").exists():
                return models_dir / f"{model}{suffix}"
        return None

    def load(self, model: str, archive: Path, overrides: dict[str, Any]) -> Any:
        """The model's validated config, read from the archive's config.json (``overrides`` applied)."""
        try:
            config = read_config(archive)
        except ConversionError as exc:
            message = str(exc).split(": ", 1)[1] if str(exc).startswith(str(archive)) else str(exc)
            raise ConfigError(str(archive), [message]) from None
        self.heads[model] = config["model"].get("heads") or []
        extracted = layout.archive_model(model, "archive", MODEL_NAME_IN_ARCHIVE)
        self.made[extracted] = Made("extract_archive")
        post = None
        if postprocessor_path(config) is not None:
            post = layout.archive_model(model, "postprocessor", MODEL_NAME_IN_ARCHIVE)
            self.made[post] = Made("extract_postprocessor")
        raw = model_config_from_archive(config, extracted, post)
        if overrides:
            raw = apply_overrides(raw, overrides, str(archive))
        return validate_model_config(raw, model, str(archive))
