"""Resolve a stage config against its model: every input gets a fixed shape, layout, dtype,
encoding and per-channel normalization; every mismatch is an error naming the key."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.config.schema import (
    ImageCalibration,
    InputSpec,
    LinkCalibration,
    RandomCalibration,
    StageConfig,
)
from edgeconv.config.resolved import ResolvedInput, ResolvedStage
from edgeconv.errors import ConfigError
from edgeconv.model_info import ModelInfo


def preprocessing_block(spec: ResolvedInput) -> dict[str, Any]:
    """The NN Archive preprocessing of an input whose preprocessing was moved out of the model,
    filled as the reference fills it (mean/scale in the original model's channel order)."""
    channels = spec.channels or 1
    dai = None
    if spec.is_image:
        planar = spec.layout.index("C") < spec.layout.index("H") if "H" in spec.layout else True
        dai = f"{spec.encoding_to}{'F16F16F16' if spec.data_type == 'float16' else '888'}{'p' if planar else 'i'}"
    return {
        "mean": list(spec.mean) if spec.mean is not None else [0.0] * channels,
        "scale": list(spec.scale) if spec.scale is not None else [1.0] * channels,
        "reverse_channels": spec.encoding_to == "RGB",
        "interleaved_to_planar": spec.layout == "NHWC",
        "dai_type": dai,
    }


def default_layout(shape: list[Any]) -> str:
    rank = len(shape)
    if rank == 4:
        if shape[1] in (1, 3) or shape[3] not in (1, 3):
            return "NCHW"
        return "NHWC"
    if rank == 3:
        return "CHW" if shape[0] in (1, 3) else "HWC" if shape[2] in (1, 3) else "NCD"
    return "NCDHW"[:rank] if rank <= 5 else "N" + "".join(chr(ord("A") + i) for i in range(rank - 1))


def _is_image_shape(shape: list[int], layout: str) -> bool:
    """Whether an input with no ``encoding`` is taken as an image (RGB->BGR, or GRAY for one
    channel): modelconv 0.6.2's rule, an NCHW or NHWC input with 1 or 3 channels (or a dynamic
    count). A batchless CHW/HWC input is a raw tensor unless its encoding says otherwise."""
    if layout not in ("NCHW", "NHWC") or len(shape) != 4:
        return False
    channels = shape[layout.index("C")]
    return channels <= 0 or channels in (1, 3)


def resolve_stage(stage: StageConfig, info: ModelInfo, source: str, prefix: str = "") -> ResolvedStage:
    problems: list[str] = []
    listed = {i.name: (idx, i) for idx, i in enumerate(stage.inputs)}
    model_names = [t.name for t in info.inputs]
    for name, (idx, _) in listed.items():
        if info.input(name) is None:
            problems.append(
                f"{prefix}inputs.{idx}.name: the model {info.path} has no input {name!r}; "
                f"its inputs are: {', '.join(model_names) or '(none)'}"
            )
    if problems:
        raise ConfigError(source, problems)
    defaults = stage.input_defaults()
    specs = []  # (tensor, its spec, the defaults it takes, its config key, listed)
    for tensor in info.inputs:
        if tensor.name in listed:
            idx, spec = listed[tensor.name]
            specs.append((tensor, spec, defaults, f"{prefix}inputs.{idx}", True))
        elif not stage.inputs:
            key = f"{prefix}inputs.{model_names.index(tensor.name)}"
            specs.append((tensor, InputSpec(name=tensor.name), defaults, key, True))
        else:
            spec = InputSpec(name=tensor.name, encoding={"from": "NONE", "to": "NONE"})  # type: ignore[arg-type]
            specs.append((tensor, spec, {}, f"{prefix}inputs (unlisted model input {tensor.name!r})", False))
    named = _named_sizes([(tensor, _pick(spec, taken, "shape")) for tensor, spec, taken, _, _ in specs])
    inputs = [_resolve_input(spec, taken, tensor, key, source, problems, listed=is_listed, named=named)
              for tensor, spec, taken, key, is_listed in specs]
    outputs = [o.name for o in stage.outputs] or [o.name for o in info.outputs]
    for idx, out in enumerate(outputs):
        if stage.outputs and out not in info.tensor_names:
            graph_outputs = ", ".join(o.name for o in info.outputs)
            problems.append(
                f"{prefix}outputs.{idx}.name: the model {info.path} has no tensor {out!r}; "
                f"its outputs are: {graph_outputs}"
            )
    if info.path.endswith(".xml"):
        explicit = {i.name for i in stage.inputs if i.encoding is not None} if stage.encoding is None else {i.name for i in inputs}
        _check_ir_inputs(inputs, explicit, prefix, problems)
    if problems:
        raise ConfigError(source, problems)
    return ResolvedStage(inputs=inputs, outputs=outputs)


def _check_ir_inputs(inputs: list[ResolvedInput], explicit: set[str], prefix: str, problems: list[str]) -> None:
    """An OpenVINO IR is compiled as it is: its inputs take what the IR takes (camera frames need
    no reordering), and normalization cannot be added to it here."""
    for idx, spec in enumerate(inputs):
        if spec.mean is not None and any(v != 0 for v in spec.mean) or spec.scale is not None and any(v != 1 for v in spec.scale):
            problems.append(
                f"{prefix}inputs.{idx}: mean/scale cannot be added to an OpenVINO IR; give them to mo when you make the IR "
                "(--mean_values/--scale_values) or convert the ONNX model instead"
            )
        if spec.reverse_channels and spec.name in explicit:
            problems.append(
                f"{prefix}inputs.{idx}.encoding: channels cannot be reversed in an OpenVINO IR; give --reverse_input_channels "
                "to mo when you make the IR, or convert the ONNX model instead"
            )
        if spec.is_image:
            spec.encoding_to = spec.encoding_from  # no reversal: the IR is fed as it is


def _pick(spec: InputSpec, defaults: dict[str, Any], key: str) -> Any:
    value = getattr(spec, key)
    return value if value is not None else defaults.get(key)


def _named_sizes(given: list[tuple[Any, list[int] | None]]) -> dict[str, int]:
    """The sizes the given shapes set for the model's named dynamic dimensions: an input given as
    [1, 512] whose model shape is [batch, sequence] sets batch = 1 and sequence = 512 for every other
    input that has them (Silero VAD's state, [2, batch, 128])."""
    named: dict[str, int] = {}
    for tensor, shape in given:
        if shape is None or len(shape) != len(tensor.shape):
            continue
        for size, dim in zip(shape, tensor.shape):
            if isinstance(dim, str) and dim not in ("", "?") and isinstance(size, int) and size > 0:
                named.setdefault(dim, size)
    return named


def _resolve_input(
    spec: InputSpec,
    defaults: dict[str, Any],
    tensor: Any,
    key: str,
    source: str,
    problems: list[str],
    listed: bool,
    named: dict[str, int] | None = None,
) -> ResolvedInput:
    n0 = len(problems)
    model_shape = tensor.shape
    shape = _pick(spec, defaults, "shape")
    if shape is not None:
        shape = list(shape)
        if len(shape) != len(model_shape):
            problems.append(
                f"{key}.shape: {shape} has {len(shape)} dimensions but input {tensor.name!r} has "
                f"{len(model_shape)} ({_fmt_shape(model_shape)})"
            )
        else:
            for axis, (given, fixed) in enumerate(zip(shape, model_shape)):
                if isinstance(fixed, int) and given not in (0, fixed):
                    problems.append(
                        f"{key}.shape: dimension {axis} is {given} but the model fixes it to {fixed} "
                        f"({_fmt_shape(model_shape)})"
                    )
            if shape and shape[0] == 0:
                shape[0] = 1  # the reference's convention: 0 means a dynamic batch, built as 1
            if any(d == 0 for d in shape):
                problems.append(f"{key}.shape: {shape} has a 0 dimension; give a fixed size")
    else:
        shape = [d if isinstance(d, int) else (named or {}).get(d, -1) for d in model_shape]
        if shape and shape[0] == -1:
            shape[0] = 1
        dynamic = [i for i, d in enumerate(shape) if d == -1]
        if dynamic:
            example = "[" + ",".join(str(d) if d != -1 else f"<{m}>" for d, m in zip(shape, model_shape)) + "]"
            how = (f"set `{key}.shape` in the config or override it, e.g. {key}.shape \"{example}\"" if listed else
                   f"list it under `inputs` with its shape, e.g. {{name: {tensor.name}, shape: {example}}}")
            problems.append(
                f"{key}.shape: input {tensor.name!r} has dynamic dimension(s) at index "
                f"{', '.join(map(str, dynamic))} ({_fmt_shape(model_shape)}); {how}"
            )
    data_type = _pick(spec, defaults, "data_type") or tensor.data_type
    layout = _pick(spec, defaults, "layout") or default_layout(shape)
    if len(layout) != len(shape):
        problems.append(f"{key}.layout: {layout!r} has {len(layout)} letters but the shape {shape} has {len(shape)}")
    if len(problems) > n0:
        return _placeholder(tensor.name)
    channels = shape[layout.index("C")] if "C" in layout else None
    enc = _pick(spec, defaults, "encoding")
    if enc is None:
        enc_from, enc_to = ("RGB", "BGR") if _is_image_shape(shape, layout) else ("NONE", "NONE")
    else:
        enc_from, enc_to = enc.from_, enc.to
        enc_from = getattr(enc_from, "value", enc_from)
        enc_to = getattr(enc_to, "value", enc_to)
    if channels == 1 and {enc_from, enc_to} <= {"RGB", "BGR", "GRAY"}:
        enc_from = enc_to = "GRAY"
    if {enc_from, enc_to} & {"RGB", "BGR"} and channels != 3:
        problems.append(
            f"{key}.encoding: {enc_from}->{enc_to} needs 3 channels but input {tensor.name!r} has "
            f"{channels if channels is not None else 'no C axis'} (shape {shape}, layout {layout}); "
            "use `encoding: NONE` for a non-image input"
        )
    if "NONE" in (enc_from, enc_to) and enc_from != enc_to:
        problems.append(f"{key}.encoding: cannot convert {enc_from} to {enc_to}; use NONE on both sides")
    mean = _per_channel(_pick(spec, defaults, "mean_values"), channels, f"{key}.mean_values", problems)
    scale = _per_channel(_pick(spec, defaults, "scale_values"), channels, f"{key}.scale_values", problems)
    if scale is not None and any(v == 0 for v in scale):
        problems.append(f"{key}.scale_values: scale values must be non-zero (the input is divided by them)")
    frozen = spec.frozen_value if spec.frozen_value is not None else None
    if frozen is not None:
        arr = np.asarray(frozen)
        size = int(np.prod(shape))
        if arr.size not in (1, size):
            problems.append(
                f"{key}.frozen_value: {arr.size} value(s) given but input {tensor.name!r} of shape {shape} "
                f"holds {size}; give one value or all {size}"
            )
        else:
            frozen = np.broadcast_to(arr, shape).reshape(-1).tolist()
    calib = _pick(spec, defaults, "calibration") or RandomCalibration()
    calib_dict = _calibration_dict(calib)
    return ResolvedInput(
        name=tensor.name,
        shape=shape,
        layout=layout,
        data_type=getattr(data_type, "value", data_type),
        encoding_from=enc_from,
        encoding_to=enc_to,
        mean=mean,
        scale=scale,
        frozen_value=frozen,
        calibration=calib_dict,
        listed=listed,
    )


def _calibration_dict(calib: Any) -> dict[str, Any]:
    kind = {ImageCalibration: "path", LinkCalibration: "link", RandomCalibration: "random"}[type(calib)]
    return {"kind": kind, **calib.model_dump(mode="json")}


def _placeholder(name: str) -> ResolvedInput:
    # Only returned alongside recorded problems; never used to build anything.
    return ResolvedInput(name, [], "", "float32", "NONE", "NONE", None, None, None, {}, False)


def _per_channel(values: list[float] | None, channels: int | None, key: str, problems: list[str]) -> list[float] | None:
    if values is None:
        return None
    values = [float(v) for v in values]
    if len(values) == 1:
        return values * (channels or 1)
    if channels is None:
        problems.append(f"{key}: {len(values)} values given but the input has no channel axis; give one value")
        return None
    if len(values) != channels:
        problems.append(
            f"{key}: {len(values)} values given for an input with {channels} channel(s); "
            f"give one value or {channels}"
        )
        return None
    return values


def _fmt_shape(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
