"""The config localizer: every file a model config names (``input_model``, calibration images,
calibration scripts, ``rvc4.encodings``) handed to the kind of input that claims it
(:mod:`edgeconv.inputs.table`), which looks it up now and says which local path it becomes and
which rule makes that path. What cannot be had stops the run before any job, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.config.schema import ImageCalibration, LinkCalibration
from edgeconv.inputs.base import FILE, IMAGES, MODEL, Kind, Made, Where, is_url
from edgeconv.inputs.table import KINDS


class Inputs:
    def __init__(self) -> None:
        self.kinds: list[Kind] = [kind() for kind in KINDS]

    def kind(self, cls: type) -> Any:
        return next(k for k in self.kinds if isinstance(k, cls))

    def made(self, path: str) -> Made | None:
        """How a rule makes ``path``, when an input became it (None for the user's own files)."""
        for kind in self.kinds:
            if path in kind.made:
                return kind.made[path]
        return None

    def find(self, models_dir: Path, model: str) -> tuple[Kind, Path] | None:
        """The kind and file a model name with no config stands for: the first file that exists,
        else the first a rule makes (a demo model not fetched yet)."""
        found = [(kind, path) for kind in self.kinds if (path := kind.find(models_dir, model)) is not None]
        return next(((kind, path) for kind, path in found if path.exists()), found[0] if found else None)

    def localize(self, value: str, role: str, where: Where) -> str:
        for kind in self.kinds:
            if kind.claims(value, role, where):
                return kind.localize(value, role, where)
        scheme = value.split("://", 1)[0]
        fetched = ", ".join(k.scheme for k in self.kinds if k.scheme)
        hint = next((h for k in self.kinds if (h := k.hint(scheme))), "download it and give the local path")
        raise where.error(f"{value}: {scheme}:// URLs are not fetched, only {fetched}; {hint}")

    def check_upload(self, url: str | None, where: Where) -> None:
        if url is None:
            return
        kind = next((k for k in self.kinds if k.scheme and url.startswith(k.scheme) and hasattr(k, "check_upload")), None)
        if kind is None:
            receive = ", ".join(k.scheme for k in self.kinds if hasattr(k, "check_upload"))
            raise where.error(f"{url}: only {receive} URLs can receive uploads here (S3, MinIO, Ceph ...)")
        kind.check_upload(url, where)

    def localize_config(self, cfg: Any, where: Where) -> Any:
        """``cfg`` with every file it names replaced by the local path it becomes."""
        stages = {}
        for name, stage in cfg.stages.items():
            at = Where(where.source, "" if cfg.single_stage else f"stages.{name}.", where.config_dir, where.root,
                       where.models_dir)
            update: dict[str, Any] = {"input_model": self.localize(stage.input_model, MODEL, _key(at, "input_model"))}
            for key in ("output_remote_url", "intermediate_outputs_remote_url"):
                self.check_upload(getattr(stage, key), _key(at, key))
            update["calibration"] = self._calibration(stage.calibration, _key(at, "calibration"))
            inputs = []
            for i, spec in enumerate(stage.inputs):
                cal = self._calibration(spec.calibration, _key(at, f"inputs.{i}.calibration"))
                inputs.append(spec if cal is spec.calibration else spec.model_copy(update={"calibration": cal}))
            update["inputs"] = inputs
            encodings = self._encodings(stage.rvc4.encodings, _key(at, "rvc4.encodings"))
            if encodings != stage.rvc4.encodings:
                update["rvc4"] = stage.rvc4.model_copy(update={"encodings": encodings})
            update = {k: v for k, v in update.items() if v != getattr(stage, k)}
            stages[name] = stage.model_copy(update=update) if update else stage
        return cfg.model_copy(update={"stages": stages})

    def _calibration(self, cal: Any, where: Where) -> Any:
        from edgeconv.link_calibration import script_file

        if isinstance(cal, ImageCalibration):
            path = self.localize(cal.path, IMAGES, _key(where, ".path"))
            return cal if path == cal.path else cal.model_copy(update={"path": path})
        if isinstance(cal, LinkCalibration) and cal.script is not None:
            text = cal.script.strip()
            named = text if is_url(text) else script_file(cal.script)
            if named is None:
                return cal  # inline code
            path = self.localize(named, FILE, _key(where, ".script"))
            return cal if path == named else cal.model_copy(update={"script": path})
        return cal

    def _encodings(self, value: Any, where: Where) -> Any:
        """``rvc4.encodings`` naming a file: the path it becomes, a local one read and checked now
        (a fetched one is checked by the steps that read it)."""
        from edgeconv.encodings import EncodingsError, load_file

        if not isinstance(value, str):
            return value
        path = self.localize(value, FILE, where)
        if self.made(path) is None:
            if not (where.root / path).exists():
                raise where.error(f"{value} does not exist; give a JSON file's path (relative to the config file or the project), or the encodings inline")
            try:
                load_file(where.root / path)
            except EncodingsError as exc:
                raise where.error(str(exc)) from None
        return path


def _key(where: Where, key: str) -> Where:
    return Where(where.source, f"{where.key}{key}", where.config_dir, where.root, where.models_dir)
