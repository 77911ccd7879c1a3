"""Which models there are and what each one is: model discovery (a config in
``config/models/``, a bare model in ``models/``, an NN Archive, a demo model), the units of a
multi-stage model, overrides, calibration links between stages. Everything here runs while
Snakemake parses the workflow, so a bad config or model stops the run before any job starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.archive_input import ARCHIVE_SUFFIXES
from edgeconv.calibration_files import list_calibration_files
from edgeconv.checks import check_calibration_images
from edgeconv.config.loader import apply_overrides, check_model_name, load_model_config, validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.config.resolved import ResolvedStage
from edgeconv.config.schema import STAGE_DEFAULT_KEYS, ImageCalibration, LinkCalibration, StageConfig
from edgeconv.demo import DEMO_MODELS
from edgeconv.remote import is_remote as is_remote_url
from edgeconv.errors import ConfigError, ConversionError
from edgeconv.onnx_io import read_model_info

# The stage keys of a step that reads the model's interface (calibration only for its own step).
IO_KEYS = {"input_model", "inputs", "outputs", *STAGE_DEFAULT_KEYS} - {"calibration"}


@dataclass
class Unit:
    """One convertible model: a single-stage model, or one stage of a multi-stage model."""

    name: str
    stage: StageConfig
    source: str  # the config file (or model file) errors point at
    model_path: Path
    resolved: ResolvedStage | None  # None when the model is produced by a rule (demo fetch)
    key_prefix: str = ""
    model: str = ""  # the model this unit belongs to (== name for a single-stage model)
    stage_name: str = ""
    # The model file is made by a rule (a demo fetch, an s3:// download, an NN Archive's
    # extraction): what is read of it at parse time differs before and after that rule ran, so no
    # step parameter may depend on it.
    made_by_rule: bool = False

    def io(self, with_calibration: bool = False) -> dict[str, Any]:
        keys = IO_KEYS | ({"calibration"} if with_calibration else set())
        data = self.stage.model_dump(mode="json", by_alias=True, include=keys, exclude_none=True)
        if not with_calibration:
            for inp in data.get("inputs", []):
                inp.pop("calibration", None)
        data["input_model"] = str(self.model_path)
        return data


@dataclass
class Models:
    """The models of a project (``config``: config/config.yaml with ``--config`` applied)."""

    config: dict[str, Any]
    root: Path = Path(".")
    _units: dict[str, Unit] = field(default_factory=dict)
    _archive_heads: dict[str, list[Any]] = field(default_factory=dict)
    _configs: dict[str, Any] = field(default_factory=dict)
    # s3:// inputs: mirror path -> (URL, version); extracted directory -> archive mirror; mirror
    # directory of a prefix -> its files.
    remote_objects: dict[str, tuple[str, str]] = field(default_factory=dict)
    remote_archives: dict[str, str] = field(default_factory=dict)
    remote_dirs: dict[str, list[str]] = field(default_factory=dict)
    # Luxonis dataset splits: export directory -> (dataset, split, version).
    ldf_exports: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _checked_buckets: set[str] = field(default_factory=set)
    _resolving: list[str] = field(default_factory=list)

    @property
    def models_dir(self) -> Path:
        return self.root / self.config.get("models_dir", "models")

    @property
    def model_configs_dir(self) -> Path:
        return self.root / self.config.get("model_configs_dir", "config/models")

    @property
    def targets(self) -> list[str]:
        return list(self.config.get("targets", ["openvino"]))

    @cached_property
    def overrides(self) -> dict[str, dict[str, Any]]:
        raw = self.config.get("overrides") or {}
        if not isinstance(raw, dict):
            raise ConfigError(
                "--config overrides", ["must map a model name (or '*') to {dotted.key: value}; see README"]
            )
        out: dict[str, dict[str, Any]] = {}
        for model, keys in raw.items():
            if not isinstance(keys, dict):
                raise ConfigError(
                    "--config overrides", [f"{model}: must be a mapping of dotted keys to values, got {keys!r}"]
                )
            out[str(model)] = {str(k): v for k, v in keys.items()}
        return out

    def archive_preprocess(self, model: str) -> bool:
        """``archive_preprocess: true`` (every model) or a list of models: their preprocessing goes
        into the NN Archive instead of the model (the reference's --archive-preprocess)."""
        value = self.config.get("archive_preprocess", False)
        if isinstance(value, (list, tuple)):
            return model in {str(v) for v in value}
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    def matrix_units(self) -> list[str]:
        names: list[str] = []
        for model in self.config.get("models") or []:
            check_model_name(str(model), "config/config.yaml: models")
            names.extend(self.units_of(str(model)))
        return names

    def units_of(self, model: str) -> list[str]:
        cfg = self._load(model)
        if cfg.single_stage:
            return [model]
        return [f"{model}-{stage}" for stage in cfg.stages]

    def config_path(self, model: str) -> Path | None:
        for suffix in (".yaml", ".yml"):
            p = self.model_configs_dir / f"{model}{suffix}"
            if p.exists():
                return p
        return None

    def archive_path(self, model: str) -> Path | None:
        for suffix in ARCHIVE_SUFFIXES:
            p = self.models_dir / f"{model}{suffix}"
            if p.exists():
                return p
        return None

    def _source(self, model: str) -> str:
        return str(self.config_path(model) or self.archive_path(model) or self.bare_model(model))

    def bare_model(self, model: str) -> Path:
        """``models/<model>.onnx``, else ``models/<model>.xml`` (an OpenVINO IR) or
        ``models/<model>.tflite`` when only that exists."""
        onnx_path = self.models_dir / f"{model}.onnx"
        if not onnx_path.exists():
            for suffix in (".xml", ".tflite"):
                if (self.models_dir / f"{model}{suffix}").exists():
                    return self.models_dir / f"{model}{suffix}"
        return onnx_path

    def heads(self, model: str) -> list[Any]:
        """The output archive's heads: those of an NN Archive given as input (carried over), else
        the config's own ``heads:``."""
        cfg = self._load(model)
        return self._archive_heads.get(model) or list(cfg.heads)

    def _load(self, model: str):
        """The validated config of ``model``, read once per parse (the matrix and every unit ask)."""
        if model not in self._configs:
            self._configs[model] = self._read(model)
        return self._configs[model]

    def _read(self, model: str):
        config_path = self.config_path(model)
        bare = self.bare_model(model)
        archive = self.archive_path(model) if config_path is None and not bare.exists() else None
        if archive is not None:
            return self._load_archive(model, archive)
        if config_path is None and not bare.exists() and model not in DEMO_MODELS:
            raise ConfigError(
                model,
                [
                    f"no config {self.model_configs_dir}/{model}.yaml and no model {bare}; "
                    "add one of them (a bare ONNX converts with defaults read from the model)"
                ],
            )
        overrides = {**self.overrides.get("*", {}), **self.overrides.get(model, {})}
        model_inputs = None
        if overrides and config_path is None and bare.exists():
            model_inputs = [t.name for t in read_model_info(bare).inputs]
        cfg = load_model_config(model, config_path, bare if config_path is None else None, overrides, model_inputs)
        return self._localize(model, cfg)

    # ------------------------------------------------------------------ s3:// inputs

    def _localize(self, model: str, cfg: Any) -> Any:
        """Point every ``s3://`` input of the config at its local mirror (``layout.remote_copy``),
        made by the fetch_remote rule; each URL is looked up now, so what cannot be had stops the
        run before any job, naming the key, the URL and the endpoint. A relative local path that
        is not found from the project is looked for beside the config file, as the reference does."""
        from edgeconv.remote import is_remote

        source = self._source(model)
        config_dir = self.config_path(model).parent if self.config_path(model) is not None else None
        stages = {}
        for name, stage in cfg.stages.items():
            prefix = "" if cfg.single_stage else f"stages.{name}."
            update: dict[str, Any] = {}
            self._check_scheme(stage.input_model, source, f"{prefix}input_model")
            if is_remote(stage.input_model):
                update["input_model"] = self._mirror(stage.input_model, source, f"{prefix}input_model")
            else:
                update["input_model"] = self._beside_config(stage.input_model, config_dir)
            for key in ("output_remote_url", "intermediate_outputs_remote_url"):
                self._check_upload(getattr(stage, key), source, f"{prefix}{key}")
            calibration = self._localize_calibration(stage.calibration, source, f"{prefix}calibration", config_dir)
            if calibration is not stage.calibration:
                update["calibration"] = calibration
            inputs = []
            for i, spec in enumerate(stage.inputs):
                cal = self._localize_calibration(spec.calibration, source, f"{prefix}inputs.{i}.calibration", config_dir)
                inputs.append(spec if cal is spec.calibration else spec.model_copy(update={"calibration": cal}))
            if inputs != list(stage.inputs):
                update["inputs"] = inputs
            encodings = self._localize_encodings(stage.rvc4.encodings, source, f"{prefix}rvc4.encodings", config_dir)
            if encodings != stage.rvc4.encodings:
                update["rvc4"] = stage.rvc4.model_copy(update={"encodings": encodings})
            update = {k: v for k, v in update.items() if v != getattr(stage, k)}
            stages[name] = stage.model_copy(update=update) if update else stage
        return cfg.model_copy(update={"stages": stages})

    def _beside_config(self, value: str, config_dir: Path | None) -> str:
        """A relative path as the project has it (relative to the project root, or under
        ``models/`` for a model), else as the reference resolves it: beside the config file."""
        p = Path(value)
        if p.is_absolute() or config_dir is None or (self.root / p).exists() or (self.models_dir / p).exists():
            return value
        beside = config_dir / p
        if not beside.exists():
            return value
        try:
            return str(beside.relative_to(self.root))
        except ValueError:
            return str(beside.resolve())

    @staticmethod
    def _check_scheme(value: Any, source: str, key: str) -> None:
        """A URL of a storage this project does not fetch from stops the run with what to do."""
        if isinstance(value, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value) and not is_remote_url(value):
            scheme = value.split("://", 1)[0]
            hint = (
                "; Google Cloud Storage is S3-compatible: give s3://<bucket>/<key> with "
                "AWS_ENDPOINT_URL=https://storage.googleapis.com and an HMAC key as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                if scheme == "gs" else "; download it and give the local path"
            )
            raise ConfigError(source, [f"{key}: {value}: {scheme}:// URLs are not fetched, only s3:// (S3, MinIO, Ceph){hint}"])

    def _localize_calibration(self, cal: Any, source: str, key: str, config_dir: Path | None) -> Any:
        from edgeconv.link_calibration import script_file
        from edgeconv.remote import is_remote

        if isinstance(cal, ImageCalibration):
            self._check_scheme(cal.path, source, f"{key}.path")
            if is_remote(cal.path):
                return cal.model_copy(update={"path": self._mirror_images(cal.path, source, f"{key}.path")})
            path = self._beside_config(cal.path, config_dir)
            if not (self.root / path).exists() and path not in self.ldf_exports:
                path = self._ldf_images(cal.path, source, f"{key}.path") or path
            return cal if path == cal.path else cal.model_copy(update={"path": path})
        if isinstance(cal, LinkCalibration) and cal.script is not None:
            self._check_scheme(cal.script.strip(), source, f"{key}.script")
            if is_remote(cal.script.strip()):
                return cal.model_copy(update={"script": self._mirror(cal.script.strip(), source, f"{key}.script")})
            if script_file(cal.script) is not None:
                path = self._beside_config(script_file(cal.script), config_dir)
                return cal if path == script_file(cal.script) else cal.model_copy(update={"script": path})
        return cal

    def _ldf_images(self, spec: str, source: str, key: str) -> str | None:
        """``<dataset>:<split>`` of a Luxonis dataset: looked up now, exported by the export_ldf
        rule into the directory returned. None when ``spec`` is not of that form."""
        from edgeconv import ldf

        parsed = ldf.parse(spec)
        if parsed is None:
            return None
        try:
            version = ldf.look_up(*parsed)
        except ldf.LdfError as exc:
            raise ConfigError(source, [f"{key}: {exc}"]) from None
        directory = layout.ldf_images(parsed[0], parsed[1])
        self.ldf_exports[directory] = (parsed[0], parsed[1], version)
        return directory

    def ldf_source(self, directory: str) -> tuple[str, str, str]:
        """(dataset, split, version) of an export directory, for the export_ldf rule."""
        return self._named_by_a_config(self.ldf_exports, directory, "the Luxonis dataset split this directory holds")

    def _named_by_a_config(self, table: dict[str, Any], path: str, what: str) -> Any:
        """``table[path]``, filled while the matrix's configs are read (a rule may be asked for a
        path before any config that names it was loaded)."""
        if path not in table:
            for model in self.config.get("models") or []:
                self._load(str(model))
        if path not in table:
            raise ConfigError(path, [f"no model config names {what}"])
        return table[path]

    def _localize_encodings(self, value: Any, source: str, key: str, config_dir: Path | None) -> Any:
        """``rvc4.encodings`` naming a file: its mirror (s3://) or its path, read and checked now."""
        from edgeconv.encodings import EncodingsError, load_file
        from edgeconv.remote import is_remote

        if not isinstance(value, str):
            return value
        self._check_scheme(value, source, key)
        if is_remote(value):
            return self._mirror(value, source, key)  # checked by the steps that read it, once fetched
        path = self._beside_config(value, config_dir)
        if not (self.root / path).exists():
            raise ConfigError(source, [f"{key}: {value} does not exist; give a JSON file's path (relative to the config file or the project), or the encodings inline"])
        try:
            load_file(self.root / path)
        except EncodingsError as exc:
            raise ConfigError(source, [f"{key}: {exc}"]) from None
        return path

    def _check_upload(self, url: str | None, source: str, key: str) -> None:
        from edgeconv.remote import RemoteError, check_bucket

        if url is None:
            return
        if not is_remote_url(url):
            raise ConfigError(source, [f"{key}: {url}: only s3:// URLs can receive uploads here (S3, MinIO, Ceph ...)"])
        if url not in self._checked_buckets:
            try:
                check_bucket(url)
            except RemoteError as exc:
                raise ConfigError(source, [f"{key}: {exc}"]) from None
            self._checked_buckets.add(url)

    def _look_up(self, url: str, source: str, key: str) -> Any:
        from edgeconv.remote import RemoteError, look_up

        try:
            return look_up(url)
        except RemoteError as exc:
            raise ConfigError(source, [f"{key}: {exc}"]) from None

    def _mirror(self, url: str, source: str, key: str) -> str:
        listing = self._look_up(url, source, key)
        if listing.is_prefix:
            raise ConfigError(source, [f"{key}: {url} is a prefix, not an object; name the model file"])
        local = layout.remote_copy(url)
        self.remote_objects[local] = (url, listing.version)
        return local

    def _mirror_images(self, url: str, source: str, key: str) -> str:
        """A prefix of calibration files, or an archive of them (extracted by extract_calibration)."""
        from edgeconv.calibration_files import ARRAY_SUFFIXES, IMAGE_SUFFIXES
        from edgeconv.remote import SCHEME, Listing, split

        bucket, obj = split(url)
        if layout.is_archive(obj):
            archive = self._mirror(url, source, key)
            images = layout.remote_extracted(url)
            self.remote_archives[images] = archive
            return images
        prefix = url if obj.endswith("/") or obj == "" else url + "/"
        listing = self._look_up(prefix, source, key)
        files = [k for k, _, _ in listing.objects if Path(k).suffix.lower() in IMAGE_SUFFIXES | ARRAY_SUFFIXES
                 and "/" not in k[len(split(prefix)[1]):]]
        if not files:
            raise ConfigError(source, [f"{key}: {prefix} holds no calibration files "
                                       f"({', '.join(sorted(IMAGE_SUFFIXES | ARRAY_SUFFIXES))}) directly under it"])
        versions = {k: (etag, size) for k, etag, size in listing.objects}
        for k in files:
            one = f"{SCHEME}{bucket}/{k}"
            self.remote_objects[layout.remote_copy(one)] = (one, Listing(one, ((k, *versions[k]),)).version)
        directory = layout.remote_copy(prefix)
        self.remote_dirs[directory] = sorted(layout.remote_copy(f"{SCHEME}{bucket}/{k}") for k in files)
        return directory

    def remote_source(self, local: str) -> tuple[str, str]:
        """(URL, version) of a mirror path, for the fetch_remote rule."""
        return self._named_by_a_config(self.remote_objects, local, "the s3:// object this path mirrors")

    def _load_archive(self, model: str, archive: Path):
        from edgeconv.archive_input import MODEL_NAME_IN_ARCHIVE, model_config_from_archive, postprocessor_path, read_config

        try:
            config = read_config(archive)
        except ConversionError as exc:
            raise ConfigError(str(archive), [str(exc).split(": ", 1)[1] if str(exc).startswith(str(archive)) else str(exc)]) from None
        self._archive_heads[model] = config["model"].get("heads") or []
        extracted = layout.archive_model(model, "archive", MODEL_NAME_IN_ARCHIVE)
        post = None
        if postprocessor_path(config) is not None:
            post = layout.archive_model(model, "postprocessor", MODEL_NAME_IN_ARCHIVE)
        raw = model_config_from_archive(config, str(extracted), post)
        overrides = {**self.overrides.get("*", {}), **self.overrides.get(model, {})}
        if overrides:
            raw = apply_overrides(raw, overrides, str(archive))
        return validate_model_config(raw, model, str(archive))

    def unit(self, name: str) -> Unit:
        if name in self._units:
            return self._units[name]
        check_model_name(name, "requested target")
        model, stage_name = self._split_unit(name)
        cfg = self._load(model)
        source = self._source(model)
        if stage_name is None:
            if not cfg.single_stage:
                raise ConfigError(
                    source,
                    [f"{model} has stages {', '.join(cfg.stages)}; ask for {', '.join(f'{model}-{s}' for s in cfg.stages)}"],
                )
            stage_name = next(iter(cfg.stages))
            prefix = ""
        else:
            if stage_name not in cfg.stages:
                raise ConfigError(source, [f"no stage {stage_name!r}; stages are {', '.join(cfg.stages)}"])
            prefix = f"stages.{stage_name}."
        stage = cfg.stages[stage_name]
        model_path = self._model_path(stage.input_model, source, prefix)
        resolved = None
        if model_path.exists():
            info = read_model_info(model_path)
            resolved = resolve_stage(stage, info, source, prefix)
        unit = Unit(name, stage, source, model_path, resolved, prefix, model, stage_name,
                    made_by_rule=self._made_by_rule(stage.input_model, model_path))
        self._check_calibration(unit)
        if name in self._resolving:
            chain = " -> ".join([*self._resolving[self._resolving.index(name) :], name])
            raise ConfigError(source, [f"calibration links form a cycle ({chain}); a stage cannot calibrate from itself"])
        self._resolving.append(name)
        try:
            self._check_links(unit, cfg)
        finally:
            self._resolving.pop()
        self._units[name] = unit
        return unit

    def _exists(self, model: str) -> bool:
        return self.config_path(model) is not None or self.bare_model(model).exists() or self.archive_path(model) is not None

    def _split_unit(self, name: str) -> tuple[str, str | None]:
        """``<model>-<stage>`` -> (model, stage); either may hold hyphens (the reference's
        ``yolov5n-seg`` stage): the first split whose model exists wins, else the last hyphen."""
        if self._exists(name) or "-" not in name:
            return name, None
        cuts = [i for i, c in enumerate(name) if c == "-"]
        for i in cuts:
            if self._exists(name[:i]):
                return name[:i], name[i + 1:]
        return name[: cuts[-1]], name[cuts[-1] + 1:]

    def _made_by_rule(self, input_model: str, path: Path) -> bool:
        return (
            input_model in self.remote_objects
            or (path.parent == self.models_dir and path.stem in DEMO_MODELS and path.suffix == ".onnx")
            or (path.parent.name in ("archive", "postprocessor") and path.parts[-4:-3] == ("intermediate",))
        )

    def _model_path(self, input_model: str, source: str, prefix: str) -> Path:
        p = Path(input_model)
        candidates = [p] if p.is_absolute() else [self.root / p, self.models_dir / p]
        for c in candidates:
            if c.exists():
                if c.suffix.lower() == ".bin" and c.with_suffix(".xml").exists():
                    c = c.with_suffix(".xml")
                if c.suffix.lower() not in (".onnx", ".xml", ".tflite"):
                    raise ConfigError(
                        source,
                        [f"{prefix}input_model: {c} is not ONNX (.onnx), an OpenVINO IR (.xml + .bin) or TFLite (.tflite); export it to ONNX"],
                    )
                return c
        first = candidates[0]
        if input_model in self.remote_objects:
            return first  # fetched by the fetch_remote rule
        if first.parent == self.models_dir and first.stem in DEMO_MODELS:
            return first  # fetched by the fetch_demo_model rule
        if first.parent.name in ("archive", "postprocessor") and first.parts[-4:-3] == ("intermediate",):
            return first  # extracted from an NN Archive by the extract_archive / extract_postprocessor rules
        raise ConfigError(source, [f"{prefix}input_model: {first} does not exist; check the path (relative to the project)"])

    def _check_calibration(self, unit: Unit) -> None:
        # Calibration from s3:// is checked by prepare_calibration, once it is downloaded.
        check_calibration_images(unit, self.input_specs(unit), self.root, later=self._remote_images)

    def _remote_images(self, cal: Any) -> bool:
        path = getattr(cal, "path", None)
        return path in self.remote_dirs or path in self.remote_archives or path in self.ldf_exports

    @staticmethod
    def input_specs(unit: Unit):
        if unit.stage.inputs:
            return unit.stage.inputs
        from edgeconv.config.schema import InputSpec

        return [InputSpec(name="*")]

    def is_ir(self, name: str) -> bool:
        return self.unit(name).model_path.suffix.lower() == ".xml"

    # Targets whose tools read a TFLite model themselves (snpe-tflite-to-dlc, the DFC's TFLite
    # parser); the others get the ONNX tflite2onnx makes of it, as the reference does for RVC2/RVC3.
    TFLITE_NATIVE = ("rvc4", "hailo")

    def is_tflite(self, name: str) -> bool:
        return self.unit(name).model_path.suffix.lower() == ".tflite"

    def onnx_source(self, name: str) -> str:
        """The ONNX model the ONNX chain starts from: the model file, or for a TFLite model the
        ONNX the tflite_to_onnx rule makes of it."""
        if self.is_tflite(name):
            return layout.tflite_onnx(name)
        return str(self.unit(name).model_path)

    def is_multistage(self, model: str) -> bool:
        """Whether ``model`` names a model with stages (not one of its ``<model>-<stage>`` units)."""
        if self.config_path(model) is None and not self.bare_model(model).exists() and self.archive_path(model) is None:
            return False
        return not self._load(model).single_stage

    def main_stage(self, model: str) -> tuple[str, str]:
        """(main stage, post-processing stage) of a two-stage model, for its NN Archive."""
        cfg = self._load(model)
        source = self._source(model)
        main = (self.config.get("main_stages") or {}).get(model) or cfg.main_stage
        if main is None:
            raise ConfigError(
                source,
                [
                    f"{model} has stages {', '.join(cfg.stages)}; say which one is the main model of its NN Archive "
                    f"with `main_stage:` in the config or `edgeconv convert ... --main-stage STAGE`"
                ],
            )
        if main not in cfg.stages:
            raise ConfigError(source, [f"main_stage: no stage {main!r}; stages are {', '.join(cfg.stages)}"])
        if len(cfg.stages) != 2:
            raise ConfigError(
                source,
                [f"an NN Archive links one post-processing stage to the main one; {model} has {len(cfg.stages)} stages (convert them natively instead)"],
            )
        post = next(s for s in cfg.stages if s != main)
        return main, post

    def _links(self, unit: Unit) -> list[tuple[str, dict[str, Any]]]:
        """(input name, link) for every input whose calibration comes from another stage."""
        if unit.resolved is not None:
            return [(i.name, i.calibration) for i in unit.resolved.inputs if i.calibration.get("kind") == "link" and i.frozen_value is None]
        found = []
        for spec in self.input_specs(unit):
            cal = spec.calibration or unit.stage.calibration
            if isinstance(cal, LinkCalibration):
                found.append((spec.name, {"kind": "link", **cal.model_dump(mode="json")}))
        return found

    def _check_links(self, unit: Unit, cfg: Any) -> None:
        for input_name, link in self._links(unit):
            key = f"{unit.key_prefix}calibration (input {input_name!r})"
            if cfg.single_stage:
                raise ConfigError(unit.source, [f"{key}: a link to stage {link['stage']!r} needs a multi-stage config with `stages:`"])
            if link["stage"] not in cfg.stages:
                raise ConfigError(unit.source, [f"{key}.stage: no stage {link['stage']!r}; stages are {', '.join(cfg.stages)}"])
            if link["stage"] == unit.stage_name:
                raise ConfigError(unit.source, [f"{key}.stage: stage {unit.stage_name!r} cannot calibrate from its own outputs"])
            upstream = self.unit(f"{unit.model}-{link['stage']}")
            if link.get("output") is not None and upstream.resolved is not None:
                if link["output"] not in upstream.resolved.outputs:
                    raise ConfigError(
                        unit.source,
                        [
                            f"{key}.output: stage {link['stage']!r} has no output {link['output']!r}; "
                            f"its outputs are: {', '.join(upstream.resolved.outputs)}"
                        ],
                    )
            if link.get("script") is not None and link["script"] not in self.remote_objects:
                from edgeconv.link_calibration import ScriptError, check_script

                try:
                    check_script(link["script"], self.root)
                except ScriptError as exc:
                    raise ConfigError(unit.source, [f"{key}.script: {exc}"]) from None

    def linked_inputs(self, name: str) -> dict[str, str]:
        """The upstream stages' outputs (and script files) a stage's calibration is computed from."""
        from edgeconv.link_calibration import script_file

        unit = self.unit(name)
        inputs: dict[str, str] = {}
        for _, link in self._links(unit):
            inputs[f"linked_{link['stage']}"] = layout.stage_outputs(f"{unit.model}-{link['stage']}")
            path = script_file(link["script"]) if link.get("script") is not None else None
            if path is not None:
                inputs[f"script_{len(inputs)}"] = path
        return inputs

    def calibration_files(self, name: str) -> list[str]:
        unit = self.unit(name)
        files: list[str] = []
        for spec in self.input_specs(unit):
            cal = spec.calibration or unit.stage.calibration
            if isinstance(cal, ImageCalibration) and cal.path in self.remote_dirs:
                listed = self.remote_dirs[cal.path]
                files.extend(listed if cal.max_images < 0 else listed[: cal.max_images])
            elif isinstance(cal, ImageCalibration) and (cal.path in self.remote_archives or cal.path in self.ldf_exports):
                continue  # a directory extract_calibration or export_ldf makes: calibration_dirs
            elif isinstance(cal, ImageCalibration):
                files.extend(str(p) for p in list_calibration_files(self.root / cal.path, cal.max_images))
        return sorted(set(files))

    def user_encodings_input(self, name: str) -> dict[str, str]:
        """``{"encodings": path}`` when ``rvc4.encodings`` names a JSON file (an input of the steps
        that apply it, so editing the file reruns them), else nothing (inline: a parameter)."""
        value = self.unit(name).stage.rvc4.encodings
        return {"encodings": value} if isinstance(value, str) else {}

    def encodings_input(self, name: str) -> dict[str, str]:
        """The encodings quantize_qdq and onnx_to_dlc apply: with ``rvc4.accuracy_control`` the
        ones its search chose (the user's own included), else the user's file."""
        if self.unit(name).stage.rvc4.accuracy_control is not None:
            return {"encodings": layout.htp_encodings(name)}
        return self.user_encodings_input(name)

    def calibration_dirs(self, name: str) -> list[str]:
        """Calibration directories made by a rule (archives of images, extracted): inputs of the
        calibration step by name, so its record links to the extraction and the download."""
        unit = self.unit(name)
        cals = [spec.calibration or unit.stage.calibration for spec in self.input_specs(unit)]
        made = {**self.remote_archives, **self.ldf_exports}
        return sorted({c.path for c in cals if getattr(c, "path", None) in made})

    def has_calibration_data(self, name: str) -> bool:
        """Every input is calibrated on real data (images, arrays, another stage), none on random."""
        unit = self.unit(name)
        return all(
            isinstance(spec.calibration or unit.stage.calibration, (ImageCalibration, LinkCalibration))
            for spec in self.input_specs(unit)
        )
