"""A demo model (``ppocr_det``, ``ppocr_cls``, ``ppocr_rec``; :mod:`edgeconv.demo`): a model name
with no config and no file stands for ``models/<name>.onnx``, which the fetch_demo_model rule
downloads and checks against its pinned sha256 (that pin is its version). A config naming that
path gets the same file."""

from __future__ import annotations

from pathlib import Path

from edgeconv.demo import DEMO_MODELS
from edgeconv.inputs.base import MODEL, Kind, Made, Where


class DemoModels(Kind):
    def claims(self, value: str, role: str, where: Where) -> bool:
        return role == MODEL and self._path(value, where) is not None

    def localize(self, value: str, role: str, where: Where) -> str:
        path = self._path(value, where)
        self.made[str(path)] = Made("fetch_demo_model", {"name": path.stem})
        return value

    def find(self, models_dir: Path, model: str) -> Path | None:
        return models_dir / f"{model}.onnx" if model in DEMO_MODELS else None

    @staticmethod
    def _path(value: str, where: Where) -> Path | None:
        p = Path(value)
        for candidate in ([p] if p.is_absolute() else [where.root / p, where.models_dir / p]):
            if candidate.parent == where.models_dir and candidate.suffix == ".onnx" and candidate.stem in DEMO_MODELS:
                return candidate
        return None
