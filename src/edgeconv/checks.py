"""The parse-time checks: each takes values (a unit, a target, a setting) and raises a
:class:`~edgeconv.errors.ConfigError` that names the file and key, before any job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.errors import ConfigError, ConversionError


def check_qnn(unit: Any) -> None:
    """The qnn_htp target: a quantization mode the QNN quantizer has, and onnxruntime-qnn installed."""
    from edgeconv.targets.qnn_htp import require_qnn, scheme_for

    try:
        scheme_for(unit.stage.rvc4.quantization_mode)
    except ConversionError as exc:
        raise ConfigError(unit.source, [f"{unit.key_prefix}{exc}"]) from None
    require_qnn()


def check_htp_accuracy_control(unit: Any) -> None:
    """``rvc4.accuracy_control``: a quantizing mode the QDQ quantizer has (the search runs on
    onnxruntime's CPU QDQ simulation: no onnxruntime-qnn needed for rvc4 alone)."""
    from edgeconv.targets.qnn_htp import scheme_for

    mode = unit.stage.rvc4.quantization_mode
    if mode == "FP16_STANDARD" or unit.stage.rvc4.disable_calibration:
        raise ConfigError(unit.source, [f"{unit.key_prefix}rvc4.accuracy_control: nothing to search without quantization "
                                        f"(quantization_mode {mode}, disable_calibration); remove accuracy_control"])
    try:
        scheme_for(mode)
    except ConversionError as exc:
        raise ConfigError(unit.source, [f"{unit.key_prefix}rvc4.accuracy_control: {exc}"]) from None


def check_compile_tool_args(unit: Any, target: str, args: list[str]) -> None:
    """``<target>.compile_tool_args`` cannot set what the workflow sets (paths, device)."""
    from edgeconv.targets.rvc2 import check_compile_tool_args as problem_in

    problem = problem_in(args)
    if problem:
        raise ConfigError(unit.source, [f"{unit.key_prefix}{target}.{problem}"])


def check_tflite_as_is(unit: Any, target: str, archive_preprocess: bool) -> None:
    """A TFLite model compiled as it is cannot take what would have to go into its graph: for
    rvc4 any normalization or reversal, for hailo what its model script cannot do (the
    normalization of an input that has not 3 channels)."""
    stage = unit.resolved
    if stage is None:
        return
    if archive_preprocess:
        from edgeconv.config.resolved import move_preprocessing

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


def refuse_ir(unit: Any, why: str) -> None:
    """An OpenVINO IR given as the model converts for rvc2 and rvc3 only."""
    if unit.model_path.suffix.lower() == ".xml":
        raise ConfigError(
            unit.source,
            [
                f"{unit.key_prefix}input_model: {unit.model_path} is an OpenVINO IR, which converts for rvc2 and rvc3 "
                f"({why}); give the ONNX model for the other targets"
            ],
        )


def check_calibration_images(unit: Any, specs: list[Any], root: Path, later: Any = None) -> None:
    """Every calibration image directory exists and holds images whose headers read (but those
    ``later(calibration)`` says are checked later: downloaded by a rule)."""
    from edgeconv.config.schema import ImageCalibration
    from edgeconv.calibration_files import check_image_headers, list_calibration_files

    for idx, spec in enumerate(specs):
        cal = spec.calibration or unit.stage.calibration
        if isinstance(cal, ImageCalibration) and not (later and later(cal)):
            key = f"{unit.key_prefix}inputs.{idx}." if spec.calibration else unit.key_prefix
            try:
                check_image_headers(list_calibration_files(root / cal.path, cal.max_images))
            except ConversionError as exc:
                raise ConfigError(unit.source, [f"{key}{exc}"]) from None
