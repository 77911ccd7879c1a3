"""What the Snakefile asks: the models (:mod:`edgeconv.discovery`), what each target builds and
publishes for them, and each step's parameters, built by the step's own declaration
(:mod:`edgeconv.steps.base`) from the model's config. Everything here runs while Snakemake parses
the workflow, so a bad config or model stops the run before any job starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.checks import check_qnn, refuse_ir
from edgeconv.discovery import Models, Unit
from edgeconv.calibration_files import list_calibration_files
from edgeconv.config.schema import ImageCalibration, LinkCalibration
from edgeconv.errors import ConfigError
from edgeconv.steps.base import Context, step
from edgeconv.toolchains import Toolchains

__all__ = ["Project", "Unit", "TARGETS"]

TARGETS = ("openvino", "qnn_htp", "rvc2", "rvc3", "rvc4", "hailo")


class Project(Models):
    def __init__(self, config: dict[str, Any], root: Path = Path(".")) -> None:
        super().__init__(config, root)
        self.toolchains = Toolchains(config.get("toolchains") or {}, root)

    @property
    def apptainer_enabled(self) -> bool:
        return self.toolchains.apptainer_enabled

    @apptainer_enabled.setter
    def apptainer_enabled(self, value: bool) -> None:
        self.toolchains.apptainer_enabled = value

    # ----------------------------------------------------------------- step parameters

    def params(self, name: str, step_name: str, **variant: Any) -> str:
        """The JSON parameters of one step for one unit, built by the step's ``configure``: exactly
        the config keys that step reads, so that changing any other key does not rerun it.
        ``variant``: what the rule's wildcards choose (``target=``, ``kind=``, ``shaves=``, ``plan=``)."""
        declared = step(step_name)
        unit = self.unit(name)
        if not declared.accepts_ir:
            refuse_ir(unit, f"step {step_name} is not one of theirs")
        ctx = Context(unit, self.archive_preprocess(unit.model), self.config, self.toolchains.tool,
                      self.toolchains.openvino_version, lambda: self.heads(unit.model))
        params = declared.configure(ctx, **variant) if declared.configure else ctx.make(declared.params)
        target = variant.get("target") if declared.targets else declared.target
        if target:
            params = dataclasses.replace(params, toolchain=self.toolchains.as_params(target))
        return params.to_json()

    def openvino_version(self, name: str) -> str | None:
        """The OpenVINO release of a unit's rvc2 tools (2021.4: the built-in compiler)."""
        return self.toolchains.openvino_version("rvc2", self.unit(name).stage.rvc2.openvino_version)

    def check_target_tools(self, target: str) -> None:
        self.toolchains.check_target_tools(target)

    def container_image(self, target: str) -> str | None:
        return self.toolchains.container_image(target)

    def check_qnn(self, name: str) -> None:
        check_qnn(self.unit(name))

    # ----------------------------------------------------------------- what each target builds

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
            inputs[f"{part}_original"] = self.interface_model(unit)
            # The model whose outputs the archive lists: the simplified ONNX, or the model as given
            # when the target compiles it as it is (an IR; a TFLite model for rvc4 and hailo).
            as_given = self.is_ir(unit) or (self.is_tflite(unit) and target in self.TFLITE_NATIVE)
            inputs[f"{part}_onnx"] = str(self.unit(unit).model_path) if as_given else layout.simplified(unit)
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
        model = self.unit(main).model
        return self.params(
            main,
            "nn_archive",
            target=target,
            archive_name=name,
            precision=self.archive_precision(main, target),
            heads=self.heads(model),
            stages={part: self.unit(unit).stage_name for part, unit in parts.items()} if "post" in parts else {},
        )

    def check_ir_targets(self, name: str) -> None:
        """An IR unit in the matrix: every target of the matrix must be rvc2 or rvc3."""
        other = [t for t in self.targets if t not in ("rvc2", "rvc3")]
        if other:
            refuse_ir(self.unit(name), f"not {', '.join(other)}")

    def uploads(self, name: str) -> bool:
        """Whether the unit's artifacts go to object storage (output_remote_url and/or
        intermediate_outputs_remote_url), through the upload_remote rule."""
        stage = self.unit(name).stage
        return bool(stage.output_remote_url or stage.intermediate_outputs_remote_url)

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

    def builds_int8(self, name: str) -> bool:
        ov = self.unit(name).stage.openvino
        if ov.disable_calibration:
            return False
        return ov.quantize if ov.quantize is not None else self.has_calibration_data(name)

    def int8_skipped_for_random_data(self, name: str) -> bool:
        ov = self.unit(name).stage.openvino
        return ov.quantize is None and not ov.disable_calibration and not self.has_calibration_data(name)

    def rvc2_artifact(self, name: str) -> str:
        return "superblob" if self.unit(name).stage.rvc2.superblob else "blob"

    def rvc3_fp16(self, name: str) -> bool:
        return self.unit(name).stage.rvc3.disable_calibration

    def dlc_quantized(self, name: str) -> bool:
        """FP16_STANDARD (and disable_calibration) skip snpe-dlc-quant, as in the reference."""
        return not self.unit(name).stage.rvc4.disable_calibration

    def qdq_needs_calibration(self, name: str) -> bool:
        return self.unit(name).stage.rvc4.quantization_mode != "FP16_STANDARD"

    def hailo_artifact(self, name: str) -> str:
        """The reference's final Hailo artifact: parsed HAR without calibration, quantized HAR
        with disable_compilation, otherwise the HEF."""
        h = self.unit(name).stage.hailo
        if h.disable_calibration:
            return "parsed.har"
        return "har" if h.disable_compilation else "hef"

    # ----------------------------------------------------------------- what a unit's rules read

    def main_stage(self, model: str) -> tuple[str, str]:
        """(main stage, post-processing stage) of a two-stage model, for its NN Archive."""
        cfg = self._load(model)
        source = self._source(model)
        main = (self.config.get("main_stages") or {}).get(model) or cfg.main_stage
        stages = ", ".join(cfg.stages)
        if main is None:
            raise ConfigError(source, [f"{model} has stages {stages}; say which one is the main model of its NN Archive "
                                       "with `main_stage:` in the config or `edgeconv convert ... --main-stage STAGE`"])
        if main not in cfg.stages:
            raise ConfigError(source, [f"main_stage: no stage {main!r}; stages are {stages}"])
        if len(cfg.stages) != 2:
            raise ConfigError(source, [f"an NN Archive links one post-processing stage to the main one; {model} has "
                                       f"{len(cfg.stages)} stages (convert them natively instead)"])
        post = next(s for s in cfg.stages if s != main)
        return main, post

    def archive_preprocess(self, model: str) -> bool:
        """``archive_preprocess: true`` (every model) or a list of models: their preprocessing goes
        into the NN Archive instead of the model (the reference's --archive-preprocess)."""
        value = self.config.get("archive_preprocess", False)
        if isinstance(value, (list, tuple)):
            return model in {str(v) for v in value}
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    def is_ir(self, name: str) -> bool:
        return self.unit(name).model_path.suffix.lower() == ".xml"

    # Targets whose tools read a TFLite model themselves (snpe-tflite-to-dlc, the DFC's TFLite
    # parser); the others get the ONNX tflite2onnx makes of it, as the reference does for RVC2/RVC3.
    TFLITE_NATIVE = ("rvc4", "hailo")

    def is_tflite(self, name: str) -> bool:
        return self.unit(name).model_path.suffix.lower() == ".tflite"

    def onnx_source(self, name: str) -> str:
        """The ONNX the chain starts from (for a TFLite model: tflite_to_onnx's)."""
        return layout.tflite_onnx(name) if self.is_tflite(name) else self.interface_model(name)

    def interface_model(self, name: str) -> str:
        """The model file as given (ONNX, IR, TFLite), or a recognised detector's adapted model."""
        return layout.detector_onnx(name) if self.unit(name).via_detector else str(self.unit(name).model_path)

    def calibration_files(self, name: str) -> list[str]:
        unit = self.unit(name)
        files: list[str] = []
        for spec in self.input_specs(unit):
            cal = spec.calibration or unit.stage.calibration
            made = self.inputs.made(cal.path) if isinstance(cal, ImageCalibration) else None
            if made is not None and made.files is not None:  # objects fetched one by one
                files.extend(made.files if cal.max_images < 0 else made.files[: cal.max_images])
            elif made is not None:
                continue  # a directory a rule makes (extracted, exported): calibration_dirs
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
        return sorted({c.path for c in cals if isinstance(c, ImageCalibration) and (m := self.inputs.made(c.path)) and m.directory})

    def has_calibration_data(self, name: str) -> bool:
        """Every input is calibrated on real data (images, arrays, another stage), none on random."""
        unit = self.unit(name)
        return all(
            isinstance(spec.calibration or unit.stage.calibration, (ImageCalibration, LinkCalibration))
            for spec in self.input_specs(unit)
        )


def int8_skipped_note(project: Project, names: list[str], shown: int = 5) -> str | None:
    """One note for every model of the matrix that gets no openvino INT8 IR for want of
    calibration data (a zoo of bare models would otherwise print a line per model on every
    command); None when openvino is not a target or no model is skipped."""
    if "openvino" not in project.targets:
        return None
    skipped = [n for n in names if project.int8_skipped_for_random_data(n)]
    if not skipped:
        return None
    why = "no calibration data (set calibration.path; openvino.quantize: true builds it on random data)"
    if len(skipped) == 1:
        return f"note: {skipped[0]}: openvino INT8 IR not built: {why}"
    listed = ", ".join(skipped[:shown]) + (f", ... ({len(skipped) - shown} more)" if len(skipped) > shown else "")
    return f"note: {len(skipped)} models get no openvino INT8 IR: {why}: {listed}"
