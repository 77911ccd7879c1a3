"""What the Snakefile knows about the project: the build matrix, each model's config, and the
parameters each step gets. Everything here runs while Snakemake parses the workflow, so a bad
config or model stops the run before any job starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeconv import __version__
from edgeconv.archive_input import ARCHIVE_SUFFIXES
from edgeconv.config.loader import apply_overrides, check_model_name, load_model_config, validate_model_config
from edgeconv.config.resolve import ResolvedStage, resolve_stage
from edgeconv.config.schema import STAGE_DEFAULT_KEYS, ImageCalibration, LinkCalibration, StageConfig
from edgeconv.demo import DEMO_MODELS
from edgeconv.errors import ConfigError, ConversionError
from edgeconv.onnx_io import read_model_info
from edgeconv.steps.prepare_calibration import check_image_headers, list_calibration_files

TARGETS = ("openvino", "qnn_htp", "rvc2", "rvc3", "rvc4", "hailo")
# The keys attach_normalization, optimize_onnx and verify read (calibration only for its own step).
IO_KEYS = {"input_model", "inputs", "outputs", *STAGE_DEFAULT_KEYS} - {"calibration"}
DEFAULT_THRESHOLDS = {
    "onnx": {"min_cosine": 0.9999},
    "openvino_fp16": {"min_cosine": 0.999},
    "openvino_int8": {"min_cosine": 0.98},
    "qnn_htp": {"min_cosine": 0.98},
}


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

    def io(self, with_calibration: bool = False) -> dict[str, Any]:
        keys = IO_KEYS | ({"calibration"} if with_calibration else set())
        data = self.stage.model_dump(mode="json", by_alias=True, include=keys, exclude_none=True)
        if not with_calibration:
            for inp in data.get("inputs", []):
                inp.pop("calibration", None)
        data["input_model"] = str(self.model_path)
        return data


@dataclass
class Project:
    config: dict[str, Any]
    root: Path = Path(".")
    _units: dict[str, Unit] = field(default_factory=dict)
    _archive_heads: dict[str, list[Any]] = field(default_factory=dict)
    _configs: dict[str, Any] = field(default_factory=dict)
    _toolchains: dict[str, Any] = field(default_factory=dict)
    _tools: dict[tuple[str, str], str] = field(default_factory=dict)
    _resolving: list[str] = field(default_factory=list)
    # Whether Snakemake runs with --sdm apptainer (set by the workflow).
    apptainer_enabled: bool = False

    # ----------------------------------------------------------------- matrix

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

    # ----------------------------------------------------------------- configs

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

    def archive_inputs(self, name: str, target: str) -> dict[str, str]:
        """What the NN Archive of ``name`` (a single-stage model or unit, or a whole two-stage
        model) for ``target`` is made of: per part, its artifact(s), buildinfo, source and
        simplified ONNX."""
        parts = self._archive_parts(name)
        inputs: dict[str, str] = {}
        for part, unit in parts.items():
            files, buildinfo = self.archive_members(unit, target)
            inputs.update({f"{part}_artifact_{i}": f for i, f in enumerate(files)})
            inputs[f"{part}_buildinfo"] = buildinfo
            inputs[f"{part}_original"] = str(self.unit(unit).model_path)
            # The model whose outputs the archive lists: the simplified ONNX, or the model as given
            # when the target compiles it as it is (an IR; a TFLite model for rvc4 and hailo).
            as_given = self.is_ir(unit) or (self.is_tflite(unit) and target in self.TFLITE_NATIVE)
            inputs[f"{part}_onnx"] = str(self.unit(unit).model_path) if as_given else f"results/intermediate/{unit}/simplified.onnx"
        return inputs

    def _archive_parts(self, name: str) -> dict[str, str]:
        if self.is_multistage(name):
            main, post = self.main_stage(name)
            if not self.heads(name):
                raise ConfigError(
                    self._source(name),
                    [
                        "heads: a two-stage NN Archive links its post-processing stage from the first head; "
                        "give `heads:` in the config (or convert an NN Archive that has them)"
                    ],
                )
            return {"main": f"{name}-{main}", "post": f"{name}-{post}"}
        return {"main": name}

    def archive_params(self, name: str, target: str) -> str:
        parts = self._archive_parts(name)
        main = parts["main"]
        spec = json.loads(self.params(main, "nn_archive"))
        spec["model"] = name
        model = self.unit(main).model
        spec["options"] = {
            "target": target,
            "precision": self.archive_precision(main, target),
            "heads": self.heads(model),
            "stages": {part: self.unit(unit).stage_name for part, unit in parts.items()} if "post" in parts else {},
        }
        return json.dumps(spec, sort_keys=True)

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
        return load_model_config(
            model, config_path, bare if config_path is None else None, overrides, model_inputs
        )

    def _load_archive(self, model: str, archive: Path):
        from edgeconv.archive_input import MODEL_NAME_IN_ARCHIVE, model_config_from_archive, postprocessor_path, read_config

        try:
            config = read_config(archive)
        except ConversionError as exc:
            raise ConfigError(str(archive), [str(exc).split(": ", 1)[1] if str(exc).startswith(str(archive)) else str(exc)]) from None
        self._archive_heads[model] = config["model"].get("heads") or []
        extracted = Path("results") / "intermediate" / model / "archive" / MODEL_NAME_IN_ARCHIVE
        post = None
        if postprocessor_path(config) is not None:
            post = str(Path("results") / "intermediate" / model / "postprocessor" / MODEL_NAME_IN_ARCHIVE)
        raw = model_config_from_archive(config, str(extracted), post)
        overrides = {**self.overrides.get("*", {}), **self.overrides.get(model, {})}
        if overrides:
            raw = apply_overrides(raw, overrides, str(archive))
        return validate_model_config(raw, model, str(archive))

    def unit(self, name: str) -> Unit:
        if name in self._units:
            return self._units[name]
        check_model_name(name, "requested target")
        model, stage_name = name, None
        if (
            self.config_path(name) is None
            and not self.bare_model(name).exists()
            and self.archive_path(name) is None
            and "-" in name
        ):
            model, stage_name = name.rsplit("-", 1)
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
        unit = Unit(name, stage, source, model_path, resolved, prefix, model, stage_name)
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

    # ----------------------------------------------------------------- multi-stage

    def _links(self, unit: Unit) -> list[tuple[str, dict[str, Any]]]:
        """(input name, link) for every input whose calibration comes from another stage."""
        if unit.resolved is not None:
            return [(i.name, i.calibration) for i in unit.resolved.inputs if i.calibration.get("kind") == "link" and i.frozen_value is None]
        found = []
        for spec in self._input_specs(unit):
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
            if link.get("script") is not None:
                from edgeconv.steps.link_calibration import ScriptError, check_script

                try:
                    check_script(link["script"], self.root)
                except ScriptError as exc:
                    raise ConfigError(unit.source, [f"{key}.script: {exc}"]) from None

    def linked_inputs(self, name: str) -> dict[str, str]:
        """The upstream stages' outputs (and script files) a stage's calibration is computed from."""
        from edgeconv.steps.link_calibration import script_file

        unit = self.unit(name)
        inputs: dict[str, str] = {}
        for _, link in self._links(unit):
            inputs[f"linked_{link['stage']}"] = f"results/intermediate/{unit.model}-{link['stage']}/stage_outputs.npz"
            path = script_file(link["script"]) if link.get("script") is not None else None
            if path is not None:
                inputs[f"script_{len(inputs)}"] = path
        return inputs

    # What an OpenVINO IR input goes through: compile_tool (rvc2), POT + compile_tool (rvc3).
    IR_STEPS = {
        "prepare_calibration", "compile_blob", "compile_blob_variant", "pot_quantize", "compile_vpux_blob",
        "verify", "nn_archive", "stage_outputs",
    }

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
            return f"results/intermediate/{name}/tflite/{name}.onnx"
        return str(self.unit(name).model_path)

    def _check_tflite_as_is(self, name: str, target: str) -> None:
        """A TFLite model compiled as it is cannot take what would have to go into its graph: for
        rvc4 any normalization or reversal, for hailo what its model script cannot do (the
        normalization of an input that has not 3 channels)."""
        unit = self.unit(name)
        stage = unit.resolved
        if stage is None:
            return
        if self.archive_preprocess(unit.model):
            from edgeconv.config.resolve import move_preprocessing

            stage = move_preprocessing(stage)
        if target == "hailo":
            from edgeconv.targets.hailo import needs_graph_normalization

            in_graph = needs_graph_normalization(stage)
            graph_needs = {i.name: in_graph[i.name][1] and i.needs_normalization for i in stage.inputs}
        else:
            graph_needs = {i.name: i.needs_normalization for i in stage.inputs}
        problems = []
        for idx, spec in enumerate(stage.inputs):
            if spec.frozen_value is not None:
                problems.append(f"{unit.key_prefix}inputs.{idx}.frozen_value: {target} takes a TFLite model as it is; an input cannot be frozen in it")
            elif graph_needs.get(spec.name):
                problems.append(
                    f"{unit.key_prefix}inputs.{idx} ({spec.name}): {target} takes a TFLite model as it is, so "
                    f"{'mean/scale and channel reversal' if target == 'rvc4' else 'mean/scale of a non-3-channel input'} cannot be put into it; "
                    "use `encoding: NONE` (or the same encoding on both sides) without mean/scale values, or "
                    "archive_preprocess so that the camera applies them"
                )
        if problems:
            raise ConfigError(unit.source, problems)

    def check_ir_targets(self, name: str) -> None:
        """An IR unit in the matrix: every target of the matrix must be rvc2 or rvc3."""
        other = [t for t in self.targets if t not in ("rvc2", "rvc3")]
        if other:
            self._refuse_ir(name, f"not {', '.join(other)}")

    def _refuse_ir(self, name: str, why: str) -> None:
        unit = self.unit(name)
        if self.is_ir(name):
            raise ConfigError(
                unit.source,
                [
                    f"{unit.key_prefix}input_model: {unit.model_path} is an OpenVINO IR, which converts for rvc2 and rvc3 "
                    f"({why}); give the ONNX model for the other targets"
                ],
            )

    def archive_preprocess(self, model: str) -> bool:
        """``archive_preprocess: true`` (every model) or a list of models: their preprocessing goes
        into the NN Archive instead of the model (the reference's --archive-preprocess)."""
        value = self.config.get("archive_preprocess", False)
        if isinstance(value, (list, tuple)):
            return model in {str(v) for v in value}
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

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
        if first.parent == self.models_dir and first.stem in DEMO_MODELS:
            return first  # fetched by the fetch_demo_model rule
        if first.parent.name in ("archive", "postprocessor") and first.parts[-4:-3] == ("intermediate",):
            return first  # extracted from an NN Archive by the extract_archive / extract_postprocessor rules
        raise ConfigError(source, [f"{prefix}input_model: {first} does not exist; check the path (relative to the project)"])

    def _check_calibration(self, unit: Unit) -> None:
        for idx, spec in enumerate(self._input_specs(unit)):
            cal = spec.calibration or unit.stage.calibration
            if isinstance(cal, ImageCalibration):
                key = f"{unit.key_prefix}inputs.{idx}." if spec.calibration else unit.key_prefix
                try:
                    check_image_headers(list_calibration_files(self.root / cal.path, cal.max_images))
                except ConversionError as exc:
                    raise ConfigError(unit.source, [f"{key}{exc}"]) from None

    @staticmethod
    def _input_specs(unit: Unit):
        if unit.stage.inputs:
            return unit.stage.inputs
        from edgeconv.config.schema import InputSpec

        return [InputSpec(name="*")]

    # ----------------------------------------------------------------- step parameters

    def calibration_files(self, name: str) -> list[str]:
        unit = self.unit(name)
        files: list[str] = []
        for spec in self._input_specs(unit):
            cal = spec.calibration or unit.stage.calibration
            if isinstance(cal, ImageCalibration):
                files.extend(str(p) for p in list_calibration_files(self.root / cal.path, cal.max_images))
        return sorted(set(files))

    def params(self, name: str, step: str) -> str:
        """The JSON parameters of one step: exactly the config keys that step reads, so that
        changing any other key does not rerun it."""
        unit = self.unit(name)
        # The package version is a parameter so that upgrading edgeconv rebuilds with the new code.
        base: dict[str, Any] = {"model": name, "source": unit.source, "edgeconv": __version__}
        if self.archive_preprocess(unit.model):
            base["archive_preprocess"] = True
        if step not in self.IR_STEPS:
            self._refuse_ir(name, f"step {step} is not one of theirs")
        stage = unit.stage
        if step in (
            "attach_normalization",
            "attach_normalization_mo",
            "attach_normalization_hailo",
            "optimize_onnx",
            "verify",
            "convert_mo_rvc2",
            "convert_mo_rvc3",
            "pot_quantize",
            "prepare_snpe_inputs",
            "onnx_to_dlc",
            "tflite_to_dlc",
            "graph_prepare_dlc",
            "hailo_parse",
            "hailo_optimize",
            "nn_archive",
        ):
            base["io"] = unit.io()
        if step == "prepare_calibration":
            base["io"] = unit.io(with_calibration=True)
        if step == "optimize_onnx":
            base["options"] = stage.onnx_optimizations.model_dump()
        elif step == "simplify":
            base["options"] = {"method": stage.onnx_simplification}
        elif step == "convert_ir":
            base["options"] = {"compress_to_fp16": stage.openvino.compress_to_fp16}
        elif step == "quantize_ir":
            base["options"] = stage.openvino.model_dump(exclude={"disable_calibration", "quantize"})
        elif step == "attach_normalization_mo":
            base["options"] = {"plan": "mo"}
        elif step == "attach_normalization_hailo":
            base["options"] = {"plan": "hailo"}
        elif step in ("convert_mo_rvc2", "convert_mo_rvc3"):
            target = step.rsplit("_", 1)[1]
            section = getattr(stage, target)
            base["options"] = {
                "mo": self.tool(target, "mo"),
                "compress_to_fp16": section.compress_to_fp16,
                "openvino_version": getattr(section, "openvino_version", "2022.3"),
                "mo_args": section.mo_args,
            }
        elif step == "pot_quantize":
            base["options"] = {"pot": self.tool("rvc3", "pot"), "pot_target_device": stage.rvc3.pot_target_device}
        elif step == "compile_vpux_blob":
            from edgeconv.targets.rvc2 import check_compile_tool_args

            problem = check_compile_tool_args(stage.rvc3.compile_tool_args)
            if problem:
                raise ConfigError(unit.source, [f"{unit.key_prefix}rvc3.{problem}"])
            base["options"] = {
                "compile_tool": self.tool("rvc3", "compile_tool"),
                "compile_tool_args": stage.rvc3.compile_tool_args,
            }
        elif step in ("compile_blob", "compile_blob_variant"):
            rvc2 = stage.rvc2
            from edgeconv.targets.rvc2 import check_compile_tool_args

            problem = check_compile_tool_args(rvc2.compile_tool_args)
            if problem:
                raise ConfigError(unit.source, [f"{unit.key_prefix}rvc2.{problem}"])
            base["options"] = {
                "compile_tool": self.tool("rvc2", "compile_tool"),
                "openvino_version": rvc2.openvino_version,
                "compile_tool_args": rvc2.compile_tool_args,
            }
            if step == "compile_blob":  # the shave variants of a superblob take shaves from their path
                base["options"]["shaves"] = rvc2.number_of_shaves
        elif step in ("onnx_to_dlc", "tflite_to_dlc"):
            r4 = stage.rvc4
            if step == "tflite_to_dlc":
                self._check_tflite_as_is(name, "rvc4")
            base["options"] = {
                "tool": self.tool("rvc4", f"snpe-{step.split('_')[0]}-to-dlc"),
                # Only FP16 changes the conversion; other modes differ from snpe-dlc-quant on.
                "fp16": r4.quantization_mode == "FP16_STANDARD",
                "args": r4.snpe_onnx_to_dlc_args,
            }
        elif step == "quantize_dlc":
            r4 = stage.rvc4
            base["options"] = {
                "tool": self.tool("rvc4", "snpe-dlc-quant"),
                "mode": r4.quantization_mode,
                "per_channel": r4.use_per_channel_quantization,
                "per_row": r4.use_per_row_quantization,
                "args": r4.snpe_dlc_quant_args,
            }
        elif step == "graph_prepare_dlc":
            r4 = stage.rvc4
            base["options"] = {
                "tool": self.tool("rvc4", "snpe-dlc-graph-prepare"),
                "info_tool": self.tool("rvc4", "snpe-dlc-info"),
                "mode": r4.quantization_mode,
                "optimization_level": r4.optimization_level,
                "htp_socs": r4.htp_socs,
                "args": r4.snpe_dlc_graph_prepare_args,
            }
        elif step in ("hailo_parse", "hailo_optimize", "hailo_compile"):
            h = stage.hailo
            base["options"] = {"python": self.tool("hailo", "python"), "hw_arch": h.hw_arch}
            if step == "hailo_parse":
                base["options"]["force_onnx_names"] = h.force_onnx_names
                if self.is_tflite(name):
                    self._check_tflite_as_is(name, "hailo")
            if step == "hailo_optimize":
                base["options"].update(
                    optimization_level=h.optimization_level,
                    compression_level=h.compression_level,
                    batch_size=h.batch_size,
                    alls=h.alls,
                )
        elif step == "quantize_qdq":
            self.check_qnn(name)
            base["options"] = {
                "quantization_mode": stage.rvc4.quantization_mode,
                "per_channel": stage.rvc4.use_per_channel_quantization,
            }
        elif step == "compile_htp":
            base["options"] = self.htp_runtime(name)
        target = self.STEP_TARGETS.get(step)
        if target:
            base["toolchain"] = self.toolchain(target).as_params() | {"target": target}
        return json.dumps(base, sort_keys=True)

    # ----------------------------------------------------------------- vendor tools

    def tool(self, target: str, tool: str) -> str:
        """The tool's path (on this machine, or in the target's image), checked once per parse."""
        from edgeconv.containers import check_docker_tool
        from edgeconv.tools import find_tool

        key = (target, tool)
        if key not in self._tools:
            path = find_tool(self.config.get("toolchains") or {}, target, tool, self.root)
            tc = self.toolchain(target)
            if tc.runtime == "docker":
                check_docker_tool(tc, path)
            self._tools[key] = path
        return self._tools[key]

    # The steps that call a target's vendor tools, so run in its toolchain.
    STEP_TARGETS = {
        "convert_mo_rvc2": "rvc2",
        "compile_blob": "rvc2",
        "compile_blob_variant": "rvc2",
        "convert_mo_rvc3": "rvc3",
        "pot_quantize": "rvc3",
        "compile_vpux_blob": "rvc3",
        "onnx_to_dlc": "rvc4",
        "tflite_to_dlc": "rvc4",
        "quantize_dlc": "rvc4",
        "graph_prepare_dlc": "rvc4",
        "hailo_parse": "hailo",
        "hailo_optimize": "hailo",
        "hailo_compile": "hailo",
    }

    def toolchain(self, target: str):
        """The runtime of a target's tools; for docker, the engine, image and tools are checked
        and the image id resolved (once per parse)."""
        from edgeconv.containers import check_apptainer, parse_toolchain, resolve_docker_image

        if target not in self._toolchains:
            tc = parse_toolchain(self.config.get("toolchains") or {}, target)
            if tc.runtime == "docker":
                tc = resolve_docker_image(tc)
            elif tc.runtime == "apptainer":
                check_apptainer(tc, self.apptainer_enabled, self.root)
            self._toolchains[target] = tc
        return self._toolchains[target]

    def container_image(self, target: str) -> str | None:
        """The image of Snakemake's `container:` directive: only for runtime apptainer."""
        tc = self.toolchain(target)
        return tc.image if tc.runtime == "apptainer" else None

    TARGET_TOOLS = {
        "rvc2": ("mo", "compile_tool"),
        "rvc4": ("snpe-onnx-to-dlc", "snpe-dlc-quant", "snpe-dlc-graph-prepare", "snpe-dlc-info"),
        "hailo": ("python",),
        "rvc3": ("mo", "pot", "compile_tool"),
    }

    def check_target_tools(self, target: str) -> None:
        """Every tool of a target in the matrix, in chain order, before any job starts (for a
        container runtime: the engine, the image and the tools in it)."""
        if self.toolchain(target).runtime == "apptainer":
            return  # the tools are inside the image, which only Apptainer can look into
        for tool in self.TARGET_TOOLS.get(target, ()):
            self.tool(target, tool)

    def dlc_quantized(self, name: str) -> bool:
        """FP16_STANDARD (and disable_calibration) skip snpe-dlc-quant, as in the reference."""
        return not self.unit(name).stage.rvc4.disable_calibration

    def artifact_kinds(self, name: str) -> dict[str, Any]:
        """The choices that decide which files a target publishes for a model (edgeconv.layout)."""
        return {"int8": self.builds_int8(name), "rvc2_kind": self.rvc2_artifact(name), "hailo_kind": self.hailo_artifact(name)}

    def archive_members(self, name: str, target: str) -> tuple[list[str], str]:
        """The artifact files (main first) and the buildinfo.json an NN Archive of ``target`` holds."""
        from edgeconv import layout

        kinds = self.artifact_kinds(name)
        return layout.archive_members(target, name, rvc2_kind=kinds["rvc2_kind"], hailo_kind=kinds["hailo_kind"])

    def archive_precision(self, name: str, target: str) -> str:
        stage = self.unit(name).stage
        if target == "rvc4" and stage.rvc4.quantization_mode == "FP16_STANDARD":
            return "float16"
        if target == "qnn_htp" and stage.rvc4.quantization_mode == "FP16_STANDARD":
            return "float16"
        if target == "rvc3" and stage.rvc3.disable_calibration:
            return "float16"
        if target == "openvino" and not stage.openvino.compress_to_fp16:
            return "float32"
        from edgeconv.nn_archive import PRECISION

        return PRECISION[target]

    def rvc3_fp16(self, name: str) -> bool:
        return self.unit(name).stage.rvc3.disable_calibration

    def hailo_artifact(self, name: str) -> str:
        """The reference's final Hailo artifact: parsed HAR without calibration, quantized HAR
        with disable_compilation, otherwise the HEF."""
        h = self.unit(name).stage.hailo
        if h.disable_calibration:
            return "parsed.har"
        return "har" if h.disable_compilation else "hef"

    def rvc2_artifact(self, name: str) -> str:
        return "superblob" if self.unit(name).stage.rvc2.superblob else "blob"

    # ----------------------------------------------------------------- qnn_htp

    def htp_runtime(self, name: str) -> dict[str, Any]:
        """The SoC the context binary is compiled for (the first of rvc4.htp_socs) and its precision."""
        rvc4 = self.unit(name).stage.rvc4
        return {"soc": rvc4.htp_socs[0], "fp16": rvc4.quantization_mode == "FP16_STANDARD"}

    def check_qnn(self, name: str) -> None:
        from edgeconv.steps.qnn_htp import require_qnn, scheme_for

        unit = self.unit(name)
        try:
            scheme_for(unit.stage.rvc4.quantization_mode)
        except ConversionError as exc:
            raise ConfigError(unit.source, [f"{unit.key_prefix}{exc}"]) from None
        require_qnn()

    def qdq_needs_calibration(self, name: str) -> bool:
        return self.unit(name).stage.rvc4.quantization_mode != "FP16_STANDARD"

    def verify_params(self, name: str, kind: str) -> str:
        unit = self.unit(name)
        params = json.loads(self.params(name, "verify"))
        glob = self.config.get("verify") or {}
        thresholds = dict(DEFAULT_THRESHOLDS[kind])
        thresholds.update(glob.get(kind) or {})
        local = getattr(unit.stage.verify, kind)
        if local is not None:
            thresholds.update({k: v for k, v in local.model_dump().items() if v is not None})
        max_images = unit.stage.verify.max_images or glob.get("max_images", 4)
        params["options"] = {"kind": kind, "thresholds": thresholds, "max_images": max_images}
        if kind == "qnn_htp":
            params["options"]["runtime"] = self.htp_runtime(name)
        return json.dumps(params, sort_keys=True)

    def builds_int8(self, name: str) -> bool:
        ov = self.unit(name).stage.openvino
        if ov.disable_calibration:
            return False
        return ov.quantize if ov.quantize is not None else self.has_calibration_data(name)

    def int8_skipped_for_random_data(self, name: str) -> bool:
        ov = self.unit(name).stage.openvino
        return ov.quantize is None and not ov.disable_calibration and not self.has_calibration_data(name)

    def has_calibration_data(self, name: str) -> bool:
        """Every input is calibrated on real data (images, arrays, another stage), none on random."""
        unit = self.unit(name)
        return all(
            isinstance(spec.calibration or unit.stage.calibration, (ImageCalibration, LinkCalibration))
            for spec in self._input_specs(unit)
        )
