"""Which models there are and what each one is: model discovery (a config in
``config/models/``, else a file a kind of input finds for the name: a model in ``models/``, an NN
Archive, a demo model; :mod:`edgeconv.inputs`), the units of a multi-stage model and the
calibration links between its stages. Everything here runs while Snakemake parses the workflow,
so a bad config or model stops the run before any job starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.checks import check_calibration_images
from edgeconv.config.loader import check_model_name, load_model_config, parse_overrides
from edgeconv.config.resolve import resolve_stage
from edgeconv.config.resolved import ResolvedStage
from edgeconv.config.schema import STAGE_DEFAULT_KEYS, InputSpec, LinkCalibration, StageConfig
from edgeconv.detectors import Detector, adapted_info, detector_defaults, plan
from edgeconv.errors import ConfigError
from edgeconv.inputs.base import Made, Where
from edgeconv.inputs.localize import Inputs
from edgeconv.inputs.nn_archive import NnArchives
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
    # A recognised YOLO detector: the chain starts from its adapted model (edgeconv.detectors).
    detector: Detector | None = None
    # The chain starts from adapt_detector's model: a recognised detector's, or a model a rule
    # makes, which adapt_detector recognises when it runs (or passes on as it is).
    via_detector: bool = False

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
    # Every file the configs name, by its kind of input (a URL's object, a dataset split ...).
    inputs: Inputs = field(default_factory=Inputs)
    _units: dict[str, Unit] = field(default_factory=dict)
    _configs: dict[str, Any] = field(default_factory=dict)
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
        return parse_overrides(self.config.get("overrides") or {})

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
        """The NN Archive given as the model, when there is one and no config."""
        return self.inputs.kind(NnArchives).find(self.models_dir, model)

    def _source(self, model: str) -> str:
        return str(self.config_path(model) or self.archive_path(model) or self.bare_model(model))

    def bare_model(self, model: str) -> Path:
        """The model file the name stands for (``models/<model>.onnx``, ``.xml``, ``.tflite``, a demo
        model), else ``models/<model>.onnx``."""
        found = self.inputs.find(self.models_dir, model)
        if found is None or isinstance(found[0], NnArchives):
            return self.models_dir / f"{model}.onnx"
        return found[1]

    def heads(self, model: str) -> list[Any]:
        """The output archive's heads: those of an NN Archive given as input (carried over), else
        the config's own ``heads:``, else a recognised detector's."""
        cfg = self._load(model)
        given = self.inputs.kind(NnArchives).heads.get(model) or list(cfg.heads)
        if given or not cfg.single_stage:
            return given
        detector = self.unit(model).detector
        return [detector.head()] if detector is not None else []

    def _adapts(self, model: str, cfg: Any, model_path: Path) -> bool:
        """Whether a model may be a YOLO detector to adapt (docs/detectors.md): an ONNX single-stage
        model whose config and archive give no head, with ``adapt_detectors`` on."""
        if not self.config.get("adapt_detectors", True) or model_path.suffix.lower() != ".onnx" or not cfg.single_stage:
            return False
        return not (cfg.heads or self.inputs.kind(NnArchives).heads.get(model))

    def _load(self, model: str):
        """The validated config of ``model``, read once per parse (the matrix and every unit ask)."""
        if model not in self._configs:
            self._configs[model] = self._localize(model, self._read(model))
        return self._configs[model]

    def _read(self, model: str):
        config_path = self.config_path(model)
        overrides = {**self.overrides.get("*", {}), **self.overrides.get(model, {})}
        found = None if config_path is not None else self.inputs.find(self.models_dir, model)
        if found is not None and isinstance(found[0], NnArchives):
            return found[0].load(model, found[1], overrides)
        if config_path is None and found is None:
            raise ConfigError(
                model,
                [
                    f"no config {self.model_configs_dir}/{model}.yaml and no model {self.models_dir / model}.onnx; "
                    "add one of them (a bare ONNX converts with defaults read from the model)"
                ],
            )
        bare = found[1] if found is not None else None
        model_inputs = None
        if overrides and bare is not None and bare.exists():
            model_inputs = [t.name for t in read_model_info(bare).inputs]
        return load_model_config(model, config_path, bare, overrides, model_inputs)

    def _localize(self, model: str, cfg: Any) -> Any:
        """Every file the config names, as the local path it becomes (edgeconv.inputs): what
        cannot be had stops the run before any job, naming the key."""
        config_path = self.config_path(model)
        where = Where(self._source(model), "", config_path.parent if config_path is not None else None,
                      self.root, self.models_dir)
        return self.inputs.localize_config(cfg, where)

    def made(self, path: str, rule: str) -> dict[str, Any]:
        """The parameters of ``rule`` making ``path`` (an input's URL and version, ...), filled while
        the matrix's configs are read (a rule may ask before the config naming the path was loaded)."""
        made = self.inputs.made(path)
        if made is None:
            for model in self.config.get("models") or []:
                self._load(str(model))
            made = self.inputs.made(path)
        if made is None or made.rule != rule:
            raise ConfigError(path, [f"no model config names an input that {rule} makes into this path"])
        return made.params

    def _made(self, *paths: str) -> Made | None:
        return next((m for p in paths if (m := self.inputs.made(p)) is not None), None)

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
        resolved = detector = None
        made, adapts = self._made(stage.input_model, str(model_path)) is not None, self._adapts(model, cfg, model_path)
        # A model a rule makes (a download) is recognised when adapt_detector runs, so that the plan
        # is the same before and after the download; the chain reads adapt_detector's model.
        read = self.root / layout.detector_onnx(name) if adapts and made else model_path
        if read.exists():
            info = read_model_info(read)
            detector = plan(model_path, info) if adapts and not made else None
            if detector is not None:  # the chain starts from the adapted model: its outputs
                info = adapted_info(info, detector, layout.detector_onnx(name))
                stage = stage.model_copy(update={"outputs": [], **detector_defaults(stage, detector)})
            resolved = resolve_stage(stage, info, source, prefix)
        unit = Unit(name, stage, source, model_path, resolved, prefix, model, stage_name, made_by_rule=made,
                    detector=detector, via_detector=adapts and (made or detector is not None))
        self._check_calibration(unit)
        if name in self._resolving:
            chain = " -> ".join([*self._resolving[self._resolving.index(name) :], name])
            raise ConfigError(source, [f"calibration links form a cycle ({chain}); a stage cannot calibrate from itself"])
        self._resolving.append(name)
        try:
            check_links(self, unit, cfg)
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
        if self._made(input_model, str(first)) is not None:
            return first  # made by a rule (a download, an extraction, the demo fetch)
        raise ConfigError(source, [f"{prefix}input_model: {first} does not exist; check the path (relative to the project)"])

    def _check_calibration(self, unit: Unit) -> None:
        # Images a rule makes (downloaded, extracted, exported) are checked by prepare_calibration.
        check_calibration_images(unit, self.input_specs(unit), self.root,
                                 later=lambda cal: self.inputs.made(cal.path) is not None)

    @staticmethod
    def input_specs(unit: Unit) -> list[InputSpec]:
        return list(unit.stage.inputs) or [InputSpec(name="*")]

    def is_multistage(self, model: str) -> bool:
        """Whether ``model`` names a model with stages (not one of its ``<model>-<stage>`` units)."""
        if not self._exists(model):
            return False
        return not self._load(model).single_stage

    def calibration_links(self, unit: Unit) -> list[tuple[str, dict[str, Any]]]:
        """(input name, link) for every input whose calibration comes from another stage."""
        if unit.resolved is not None:
            return [(i.name, i.calibration) for i in unit.resolved.inputs if i.calibration.get("kind") == "link" and i.frozen_value is None]
        found = []
        for spec in self.input_specs(unit):
            cal = spec.calibration or unit.stage.calibration
            if isinstance(cal, LinkCalibration):
                found.append((spec.name, {"kind": "link", **cal.model_dump(mode="json")}))
        return found

    def linked_inputs(self, name: str) -> dict[str, str]:
        """The upstream stages' outputs (and script files) a stage's calibration is computed from."""
        from edgeconv.link_calibration import script_file

        unit = self.unit(name)
        inputs: dict[str, str] = {}
        for _, link in self.calibration_links(unit):
            inputs[f"linked_{link['stage']}"] = layout.stage_outputs(f"{unit.model}-{link['stage']}")
            path = script_file(link["script"]) if link.get("script") is not None else None
            if path is not None:
                inputs[f"script_{len(inputs)}"] = path
        return inputs


def check_links(models: Models, unit: Unit, cfg: Any) -> None:
    """Every calibration link of a stage names another stage of the same config, an output it
    has and a script that loads (a one-line ConfigError naming the key otherwise)."""
    for input_name, link in models.calibration_links(unit):
        key = f"{unit.key_prefix}calibration (input {input_name!r})"
        if cfg.single_stage:
            raise ConfigError(unit.source, [f"{key}: a link to stage {link['stage']!r} needs a multi-stage config with `stages:`"])
        if link["stage"] not in cfg.stages:
            raise ConfigError(unit.source, [f"{key}.stage: no stage {link['stage']!r}; stages are {', '.join(cfg.stages)}"])
        if link["stage"] == unit.stage_name:
            raise ConfigError(unit.source, [f"{key}.stage: stage {unit.stage_name!r} cannot calibrate from its own outputs"])
        upstream = models.unit(f"{unit.model}-{link['stage']}")
        if link.get("output") is not None and upstream.resolved is not None:
            if link["output"] not in upstream.resolved.outputs:
                raise ConfigError(
                    unit.source,
                    [
                        f"{key}.output: stage {link['stage']!r} has no output {link['output']!r}; "
                        f"its outputs are: {', '.join(upstream.resolved.outputs)}"
                    ],
                )
        if link.get("script") is not None and models.inputs.made(link["script"]) is None:
            from edgeconv.link_calibration import ScriptError, check_script

            try:
                check_script(link["script"], models.root)
            except ScriptError as exc:
                raise ConfigError(unit.source, [f"{key}.script: {exc}"]) from None
