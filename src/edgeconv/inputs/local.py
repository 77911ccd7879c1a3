"""A path on this machine. Relative paths are taken as the project has them (from the project
root, or under ``models/`` for a model), else as the reference resolves them: beside the config
file. A model name with no config stands for ``models/<name>.onnx`` (or ``.xml``, an OpenVINO IR, or
``.tflite``). Nothing makes these files: they are the user's, read where they are."""

from __future__ import annotations

from pathlib import Path

from edgeconv.inputs.base import Kind, Where, is_url


class LocalPaths(Kind):
    def claims(self, value: str, role: str, where: Where) -> bool:
        return not is_url(value)

    def localize(self, value: str, role: str, where: Where) -> str:
        return beside_config(value, where)

    def find(self, models_dir: Path, model: str) -> Path | None:
        for suffix in (".onnx", ".xml", ".tflite"):
            if (models_dir / f"{model}{suffix}").exists():
                return models_dir / f"{model}{suffix}"
        return None


def beside_config(value: str, where: Where) -> str:
    """``value`` when the project has it (or it is absolute), else the file beside the config
    when that exists (relative to the project when it is inside), else ``value``."""
    p = Path(value)
    if p.is_absolute() or where.config_dir is None or (where.root / p).exists() or (where.models_dir / p).exists():
        return value
    beside = where.config_dir / p
    if not beside.exists():
        return value
    try:
        return str(beside.relative_to(where.root))
    except ValueError:
        return str(beside.resolve())
