"""The per-model conversion config, in Luxonis ModelConverter's YAML format.

These pydantic models accept the reference's keys as they are (single-stage
shorthand and ``stages:``, per-input settings with stage-level defaults, the
``rvc2``/``rvc3``/``rvc4``/``hailo`` sections) plus this project's own
``openvino`` and ``verify`` sections. Every model forbids unknown keys so a
typo is reported with its dotted path instead of being ignored.

The values here are *normalized* (defaults filled in, aliases such as
``imagenet`` or ``encoding: BGR`` expanded) but not yet *resolved* against the
model file; :mod:`edgeconv.config.resolve` does that.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NAMED_VALUES: dict[str, dict[str, list[float]]] = {
    "imagenet": {
        "mean": [123.675, 116.28, 103.53],
        "scale": [58.395, 57.12, 57.375],
    },
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


class Encoding(str, Enum):
    RGB = "RGB"
    BGR = "BGR"
    GRAY = "GRAY"
    NONE = "NONE"


class DataType(str, Enum):
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    BOOLEAN = "boolean"


class ResizeMethod(str, Enum):
    CROP = "CROP"
    PAD = "PAD"
    RESIZE = "RESIZE"


class QuantizationMode(str, Enum):
    INT8_STANDARD = "INT8_STANDARD"
    INT8_ACCURACY_FOCUSED = "INT8_ACCURACY_FOCUSED"
    INT8_INT16_MIXED = "INT8_INT16_MIXED"
    INT8_INT16_MIXED_ACCURACY_FOCUSED = "INT8_INT16_MIXED_ACCURACY_FOCUSED"
    INT16_STANDARD = "INT16_STANDARD"
    FP16_STANDARD = "FP16_STANDARD"
    CUSTOM = "CUSTOM"


# --------------------------------------------------------------------------- calibration


class ImageCalibration(Strict):
    """Calibration images (jpg/jpeg/png), ``.npy`` arrays or ``.raw`` buffers from a directory."""

    path: str
    max_images: int = -1
    resize_method: ResizeMethod = ResizeMethod.RESIZE

    @field_validator("max_images")
    @classmethod
    def _max_images(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("must be a positive number of images, or -1 for all of them")
        return v


class RandomCalibration(Strict):
    """Random data drawn from a normal distribution and clipped (the reference's defaults)."""

    max_images: int = Field(default=20, ge=1)
    min_value: float = 0.0
    max_value: float = 255.0
    mean: float = 127.5
    std: float = Field(default=35.0, gt=0)
    data_type: DataType = DataType.FLOAT32
    seed: int = 0


class LinkCalibration(Strict):
    """Calibration taken from another stage's output (multi-stage models)."""

    stage: str
    output: str | None = None
    script: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LinkCalibration:
        if self.output is None and self.script is None:
            raise ValueError("a linked calibration needs `output` or `script`")
        return self


Calibration = Union[ImageCalibration, LinkCalibration, RandomCalibration]


def _normalize_calibration(value: Any) -> Any:
    """``random``/``None``/``{}`` mean random calibration; a mapping is dispatched by its keys."""
    if value is None or value == "random" or value == {}:
        return RandomCalibration()
    if isinstance(value, str):
        raise ValueError(
            f"calibration must be 'random' or a mapping with `path`, got the string {value!r}; "
            "write `calibration: {path: " + value + "}` for a directory"
        )
    if isinstance(value, dict):
        if "path" in value:
            return ImageCalibration.model_validate(value)
        if "stage" in value:
            return LinkCalibration.model_validate(value)
        return RandomCalibration.model_validate(value)
    return value


# --------------------------------------------------------------------------- inputs / outputs


class EncodingSpec(Strict):
    """``from``: what the original model expects; ``to``: what the converted model is fed."""

    from_: Encoding = Field(default=Encoding.RGB, alias="from")
    to: Encoding = Encoding.BGR


def _normalize_encoding(value: Any) -> Any:
    if isinstance(value, str):
        return {"from": value.upper(), "to": value.upper()}
    if isinstance(value, dict):
        value = {k: (v.upper() if isinstance(v, str) else v) for k, v in value.items()}
        if Encoding.GRAY.value in (value.get("from"), value.get("to")):
            return {"from": "GRAY", "to": "GRAY"}
    return value


def _normalize_values(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in NAMED_VALUES:
            return NAMED_VALUES[value.lower()][kind]
        raise ValueError(f"unknown named {kind} values {value!r}; known: {', '.join(NAMED_VALUES)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return value


def _normalize_default(field: str | None, value: Any) -> Any:
    """Expand the reference's shorthands for the keys an input and a stage share."""
    if field == "mean_values":
        return _normalize_values("mean", value)
    if field == "scale_values":
        return _normalize_values("scale", value)
    if field == "encoding":
        return _normalize_encoding(value)
    if field == "calibration":
        return None if value is None else _normalize_calibration(value)
    return value


class OutputSpec(Strict):
    name: str
    shape: list[int] | None = None
    layout: str | None = None
    data_type: DataType | None = None


class InputSpec(Strict):
    """One input of the model. Unset fields fall back to the stage defaults, then to the model."""

    name: str
    shape: list[int] | None = None
    layout: str | None = None
    data_type: DataType | None = None
    mean_values: Annotated[list[float], Field(min_length=1)] | None = None
    scale_values: Annotated[list[float], Field(min_length=1)] | None = None
    encoding: EncodingSpec | None = None
    frozen_value: Any = None
    calibration: Calibration | None = None

    @field_validator("mean_values", "scale_values", "encoding", "calibration", mode="before")
    @classmethod
    def _normalize(cls, v: Any, info: ValidationInfo) -> Any:
        return _normalize_default(info.field_name, v)

    @field_validator("scale_values")
    @classmethod
    def _nonzero_scale(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(x == 0 for x in v):
            raise ValueError("scale values must be non-zero (the input is divided by them)")
        return v

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding(cls, v: Any) -> Any:
        return _normalize_encoding(v)

    @field_validator("calibration", mode="before")
    @classmethod
    def _calibration(cls, v: Any) -> Any:
        return None if v is None else _normalize_calibration(v)

    @field_validator("layout")
    @classmethod
    def _layout(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.upper()
        if len(set(v)) != len(v) or not v.isalpha():
            raise ValueError(f"layout {v!r} must be distinct letters such as NCHW or NHWC")
        return v

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(d < 0 for d in v):
            raise ValueError(f"shape {v} has a negative dimension; give every dimension as a positive number")
        return v


# --------------------------------------------------------------------------- target sections


class OnnxOptimizations(Strict):
    fuse_add_mul_to_bn: bool = True
    fuse_comb_add_mul_to_conv: bool = True
    fuse_single_add_mul_to_conv: bool = True
    fuse_split_concat_to_conv: bool = True
    substitute_sub_with_add: bool = True
    substitute_div_with_mul: bool = True


class _PlatformBase(Strict):
    disable_calibration: bool = False


class AccuracyControl(Strict):
    """Quantization that searches for the precision meeting the target's ``verify`` thresholds
    (``accuracy_control: true``, or these keys). See edgeconv.accuracy_control."""

    max_trials: int = Field(default=32, ge=1)  # quantize-and-measure rounds of the search
    max_seconds: float = Field(default=1800, gt=0)
    holdout: float = Field(default=0.25, gt=0, lt=1)  # share of calibration samples held back for the gate
    # The search aims this much above verify's min_cosine, so that the runtime the artifact is
    # verified on (the HTP simulator, OpenVINO CPU) still meets it.
    margin: float = Field(default=0.003, ge=0, lt=1)


class OpenVINOAccuracyControl(AccuracyControl):
    """openvino's: also how layers are chosen to stay in float when plain INT8 misses the gate.
    ranked: ranked once by their 8-bit noise, the top k kept in float through NNCF's ignored_scope,
    k by bisection; nncf: NNCF's quantize_with_accuracy_control (edgeconv.accuracy_control_openvino)."""

    method: Literal["ranked", "nncf"] = "ranked"
    # A ranked trial is one compile and one run of the held-back samples (about a second): more of
    # them than the HTP's, where a trial quantizes and may run the simulator.
    max_trials: int = Field(default=64, ge=1)


def _accuracy_control(kind: type[AccuracyControl]) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if value is True:
            return kind()
        if value is False or value is None:
            return None
        return value

    return read


# ``accuracy_control: true`` (the defaults), ``false``/unset, or the keys of AccuracyControl.
AccuracyControlSetting = Annotated[AccuracyControl | None, BeforeValidator(_accuracy_control(AccuracyControl))]
OpenVINOAccuracyControlSetting = Annotated[OpenVINOAccuracyControl | None,
                                           BeforeValidator(_accuracy_control(OpenVINOAccuracyControl))]


class HailoSection(_PlatformBase):
    force_onnx_names: bool = True
    optimization_level: Literal[-100, 0, 1, 2, 3, 4] = 2
    compression_level: Literal[0, 1, 2, 3, 4, 5] = 2
    batch_size: int = Field(default=8, ge=1)
    disable_compilation: bool = False
    alls: list[str] = []
    hw_arch: Literal["hailo8", "hailo8l", "hailo8r", "hailo10h", "hailo15h", "hailo15m"] = "hailo8"


class _BlobBase(_PlatformBase):
    mo_args: list[str] = []
    compile_tool_args: list[str] = []
    compress_to_fp16: bool = True


class RVC2Section(_BlobBase):
    number_of_shaves: int = Field(default=8, ge=1, le=16)
    superblob: bool = True
    n_workers: int | None = Field(default=None, ge=1)
    # None: 2021.4 (the built-in compiler) unless toolchains.rvc2 brings a compile_tool (2022.3);
    # see edgeconv.targets.rvc2.openvino_version.
    openvino_version: Literal["2022.3", "2021.4"] | None = None

    @field_validator("openvino_version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        # YAML and command-line overrides read 2021.4 as a number.
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class RVC3Section(_BlobBase):
    pot_target_device: Literal["VPU", "ANY"] = "VPU"


class RVC4Section(_PlatformBase):
    snpe_onnx_to_dlc_args: list[str] = []
    snpe_dlc_quant_args: list[str] = []
    snpe_dlc_graph_prepare_args: list[str] = []
    keep_raw_images: bool = False
    use_per_channel_quantization: bool = True
    use_per_row_quantization: bool = False
    optimization_level: Literal[1, 2, 3] = 2
    quantization_mode: QuantizationMode = QuantizationMode.INT8_STANDARD
    htp_socs: list[Literal["sm8350", "sm8450", "sm8550", "sm8650", "qcs6490", "qcs8550"]] = Field(
        default_factory=lambda: ["sm8550"], min_length=1
    )
    compress_to_fp16: bool = False
    # AIMET-format quantization encodings (modelconv 0.6.x): inline, JSON text or a JSON file's path
    # (relative to the config file or the project, or s3://). See edgeconv.encodings.
    encodings: dict[str, Any] | str | None = None
    strict_quantization_overrides: bool = False
    normalize_io_encodings: bool = True
    # For qnn_htp, and the encodings it finds for rvc4: the fewest tensors at 16 bits that meet
    # verify.qnn_htp's thresholds.
    accuracy_control: AccuracyControlSetting = None

    @field_validator("encodings", mode="before")
    @classmethod
    def _encodings(cls, v: Any) -> Any:
        from edgeconv.encodings import parse_value

        return None if v is None else parse_value(v)

    @model_validator(mode="after")
    def _overrides_argument(self) -> RVC4Section:
        """``--quantization_overrides PATH`` (or ``=PATH``) in snpe_onnx_to_dlc_args becomes
        ``encodings: PATH``, as the reference does, so one place decides what SNPE is given."""
        flag = "--quantization_overrides"
        args, paths, i = [], [], 0
        given = self.snpe_onnx_to_dlc_args
        while i < len(given):
            arg = given[i]
            if arg == flag or arg.startswith(flag + "="):
                value = arg.split("=", 1)[1] if "=" in arg else (given[i + 1] if i + 1 < len(given) else "")
                if not value or value.startswith("--"):
                    raise ValueError(f"snpe_onnx_to_dlc_args: {flag} needs a path after it")
                paths.append(value)
                i += 1 if "=" in arg else 2
                continue
            args.append(arg)
            i += 1
        if not paths:
            return self
        if len(paths) > 1:
            raise ValueError(f"snpe_onnx_to_dlc_args: {flag} is given {len(paths)} times; give one file")
        if self.encodings is not None:
            raise ValueError(f"give either `encodings` or {flag} in snpe_onnx_to_dlc_args, not both")
        self.snpe_onnx_to_dlc_args = args
        self.encodings = paths[0]
        return self


class OpenVINOSection(_PlatformBase):
    """The open target: an FP16-weight IR and an INT8 IR quantized with NNCF."""

    compress_to_fp16: bool = True
    # Also build the INT8 IR. Unset: only when calibration data is given (an INT8 IR calibrated on
    # random data measures nothing useful); asking for <model>.int8.xml by path builds it anyway.
    quantize: bool | None = None
    preset: Literal["performance", "mixed"] = "performance"
    fast_bias_correction: bool = True
    subset_size: int = Field(default=300, ge=1)
    # INT8 that meets verify.openvino_int8's thresholds (edgeconv.accuracy_control_openvino).
    accuracy_control: OpenVINOAccuracyControlSetting = None


class Thresholds(Strict):
    """A verification passes when every output meets every threshold that is set."""

    min_cosine: float | None = Field(default=None, ge=-1, le=1)
    max_abs_error: float | None = Field(default=None, ge=0)
    mean_abs_error: float | None = Field(default=None, ge=0)
    # A recognised detector: the artifact's mAP@0.5 against the float model's detections.
    min_map50: float | None = Field(default=None, ge=0, le=1)


class VerifySection(Strict):
    """Per-model overrides of the thresholds in ``config/config.yaml`` (key ``verify``)."""

    max_images: int | None = Field(default=None, ge=1)
    onnx: Thresholds | None = None
    openvino_fp16: Thresholds | None = None
    openvino_int8: Thresholds | None = None
    qnn_htp: Thresholds | None = None


# --------------------------------------------------------------------------- stage / model


STAGE_DEFAULT_KEYS = (
    "mean_values",
    "scale_values",
    "encoding",
    "data_type",
    "shape",
    "layout",
    "calibration",
    "frozen_value",
)


class StageConfig(Strict):
    """One stage: a model and everything needed to convert it."""

    input_model: str
    inputs: list[InputSpec] = []
    outputs: list[OutputSpec] = []

    # Stage-level defaults for every input (the reference's top-level keys).
    mean_values: Annotated[list[float], Field(min_length=1)] | None = None
    scale_values: Annotated[list[float], Field(min_length=1)] | None = None
    encoding: EncodingSpec | None = None
    data_type: DataType | None = None
    shape: list[int] | None = None
    layout: str | None = None
    calibration: Calibration | None = None
    frozen_value: Any = None

    keep_intermediate_outputs: bool = True
    # auto: onnxsim, else onnxslim, else the model as it is (a warning and the reason in the build
    # info); a named method that fails stops the run.
    onnx_simplification: Literal["auto", "onnxsim", "onnxslim", False] = "auto"
    onnx_optimizations: OnnxOptimizations = OnnxOptimizations()
    output_remote_url: str | None = None
    intermediate_outputs_remote_url: str | None = None
    put_file_plugin: str | None = None

    hailo: HailoSection = HailoSection()
    rvc2: RVC2Section = RVC2Section()
    rvc3: RVC3Section = RVC3Section()
    rvc4: RVC4Section = RVC4Section()
    openvino: OpenVINOSection = OpenVINOSection()
    verify: VerifySection = VerifySection()

    @field_validator("mean_values", "scale_values", "encoding", "calibration", mode="before")
    @classmethod
    def _stage_defaults(cls, v: Any, info: ValidationInfo) -> Any:
        return _normalize_default(info.field_name, v)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """Accept the reference's deprecated switches and shorthand values."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.pop("disable_onnx_simplification", False):
            if "onnx_simplification" in data:
                raise ValueError("give either `disable_onnx_simplification` or `onnx_simplification`, not both")
            data["onnx_simplification"] = False
        for old in ("disable_onnx_optimization", "disable_onnx_optimizations"):
            if data.pop(old, False):
                if "onnx_optimizations" in data:
                    raise ValueError(f"give either `{old}` or `onnx_optimizations`, not both")
                data["onnx_optimizations"] = False
        opt = data.get("onnx_optimizations", None)
        if opt in ("all", True) or ("onnx_optimizations" in data and opt is None):
            data["onnx_optimizations"] = {}
        elif opt in ("none", False):
            data["onnx_optimizations"] = dict.fromkeys(OnnxOptimizations.model_fields, False)
        if data.get("onnx_simplification") is True:
            data["onnx_simplification"] = "auto"
        disable_calibration = data.pop("disable_calibration", None)
        if disable_calibration is not None:
            for section in ("hailo", "rvc2", "rvc3", "rvc4", "openvino"):
                sec = dict(data.get(section) or {})
                sec.setdefault("disable_calibration", disable_calibration)
                data[section] = sec
        return data

    @model_validator(mode="after")
    def _fp16_mode(self) -> StageConfig:
        if self.rvc4.quantization_mode == QuantizationMode.FP16_STANDARD.value:
            self.rvc4.disable_calibration = True
        if self.rvc2.superblob and self.rvc2.number_of_shaves != 8:
            # The reference compiles the superblob's base at 8 shaves.
            self.rvc2.number_of_shaves = 8
        return self

    def input_defaults(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in STAGE_DEFAULT_KEYS}


class ModelConfig(Strict):
    """A whole model: one or more stages."""

    name: str
    rich_logging: bool = True
    stages: dict[str, StageConfig] = Field(min_length=1)
    main_stage: str | None = None
    heads: list[dict[str, Any]] = []

    @property
    def single_stage(self) -> bool:
        return len(self.stages) == 1
