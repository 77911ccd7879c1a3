"""rvc4 step 2: the normalized, simplified ONNX to a float DLC with ``snpe-onnx-to-dlc`` (the
``tflite_to_dlc`` step runs ``snpe-tflite-to-dlc`` the same way on a TFLite model as it is).
Command line: :mod:`edgeconv.targets.rvc4`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Paths, StageParams, Step
from edgeconv.targets import rvc4
from edgeconv.tools import model_files, run_tool, tool_output


@dataclass(frozen=True, kw_only=True)
class ToDlcParams(StageParams):
    tool: str
    info_tool: str  # snpe-dlc-info, which reads back what the converter wrote
    # rvc4.quantization_mode == FP16_STANDARD: only that changes the conversion (the other modes
    # differ from snpe-dlc-quant on, so changing between them does not rerun this step).
    fp16: bool
    snpe_onnx_to_dlc_args: list[str]
    # rvc4.encodings given inline (a file is the ``encodings`` input), and how they are applied.
    encodings: dict[str, Any] | None = None
    normalize_io_encodings: bool = True
    strict_quantization_overrides: bool = False


def configure(ctx: Context, tool: str = "snpe-onnx-to-dlc") -> ToDlcParams:
    from edgeconv.encodings import step_settings

    rvc4_section = ctx.stage.rvc4
    return ctx.make(
        ToDlcParams,
        tool=ctx.tool("rvc4", tool),
        info_tool=ctx.tool("rvc4", "snpe-dlc-info"),
        fp16=rvc4_section.quantization_mode == "FP16_STANDARD",
        snpe_onnx_to_dlc_args=rvc4_section.snpe_onnx_to_dlc_args,
        **step_settings(rvc4_section),
    )


def to_dlc(model: Path, stage: Any, dlc: Path, params: ToDlcParams, encodings_file: Path | None = None) -> dict[str, Any]:
    """snpe-onnx-to-dlc on an ONNX model, or snpe-tflite-to-dlc on a ``.tflite`` (same arguments),
    with the quantization overrides of ``rvc4.encodings`` (not for FP16, as the reference)."""
    from edgeconv import encodings

    name = "snpe-tflite-to-dlc" if model.suffix.lower() == ".tflite" else "snpe-onnx-to-dlc"
    payload, note = (None, {}) if params.fp16 else encodings.for_model(
        params.encodings, encodings_file, model, [*(i.name for i in stage.inputs if i.frozen_value is None), *stage.outputs],
        strict=params.strict_quantization_overrides, normalize=params.normalize_io_encodings,
    )
    with tool_output(dlc, name, [params.tool, "--version"]) as run:
        own = None if model.suffix.lower() != ".onnx" else kept_quantization(model, run.tmp)
        if own is not None:  # a model that comes quantized: its float form, its own encodings under the user's
            model, payload, note = own[0], None if params.fp16 else merged(own[1], payload), {**note, **own[2]}
        overrides = str(encodings.write(payload, run.tmp / "quantization_overrides.json")) if payload else None
        argv = rvc4.onnx_to_dlc_argv(
            params.tool, str(model), str(run.produced), stage, params.fp16, params.snpe_onnx_to_dlc_args, overrides
        )
        run_tool(argv, name, reads=model_files(model), writes=[run.tmp])
        rvc4.read_back(params.info_tool, run.produced, run.tmp, name)
    call = {"tool": name, "version": run.version, "argv": argv}
    return {**call, "quantization_overrides": note} if note else call


def kept_quantization(model: Path, tmp: Path) -> tuple[Path, dict[str, Any], dict[str, Any]] | None:
    """For a model that comes quantized (QDQ): its float form (each Q/DQ pair a Clip to its range, each
    quantized weight its float values) written to ``tmp``, the AIMET encodings of its own quantization,
    and what the record says. None for a float model."""
    import logging

    import onnx

    from edgeconv.encodings import from_qdq
    from edgeconv.onnx_graph import comes_quantized
    from edgeconv.onnx_io import save_onnx

    counts = comes_quantized(model)  # the graph alone: a float model's weights are not read here
    if not counts:
        return None
    unsupported = sorted(set(counts) - {"QuantizeLinear", "DequantizeLinear"})
    if unsupported:
        from edgeconv.errors import ConversionError

        raise ConversionError(f"{model.name} comes quantized with {', '.join(unsupported)}: only QuantizeLinear/"
                              "DequantizeLinear (QDQ) models keep their quantization for rvc4; export it as QDQ")
    float_model, own = from_qdq(onnx.load(str(model)))
    out = tmp / f"{model.stem}.float.onnx"
    save_onnx(float_model, out)
    logging.getLogger(__name__).warning(
        "the model comes quantized (%s): its own quantization goes to SNPE as quantization overrides (%d activation and "
        "%d parameter encodings), as rvc4.encodings would", ", ".join(f"{n} {op}" for op, n in sorted(counts.items())),
        len(own["activation_encodings"]), len(own["param_encodings"]))
    return out, own, {"kept_quantization": {"nodes": counts, "activations": len(own["activation_encodings"]),
                                            "parameters": len(own["param_encodings"])}}


def merged(own: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The model's own encodings with the user's (rvc4.encodings) on top, name by name."""
    if not user:
        return own
    out = {group: dict(own.get(group) or {}) for group in ("activation_encodings", "param_encodings")}
    from edgeconv.encodings import _entries

    for group in out:
        out[group].update(dict(_entries(user.get(group, {}), group)))
    return out


# The SoC the op-support check asks QNN about (op support does not differ between the HTP
# generations RVC4 uses; a parameter would rerun this step when rvc4.htp_socs changes).
CHECK_SOC = "qcs8550"


def htp_refusals(model: Path) -> list[str]:
    """The layers onnxruntime-qnn's QNN EP (when installed) will not put on the HTP, as
    ``name (op): reason``: a DLC runs on RVC4's HTP whole, so these are the layers to look at if
    SNPE refuses the model or the device runs it slowly. SNPE's own rules may differ."""
    from importlib.util import find_spec

    if model.suffix != ".onnx" or find_spec("onnxruntime_qnn") is None:
        return []
    from edgeconv.targets.qnn_htp import htp_support

    return [f"{name} ({why['op_type']}): {why['reason']}"
            for name, why in htp_support(model, CHECK_SOC, fp16=True).items()]


def run(inputs: Paths, outputs: Paths, params: ToDlcParams) -> dict[str, Any]:
    import logging

    model = inputs["onnx"] if "onnx" in inputs else inputs["tflite"]
    stage = params.stage(inputs["original"])
    refused = htp_refusals(model)
    if refused:  # before SNPE: its own error, if any, follows
        logging.getLogger("edgeconv.progress").warning(
            "the HTP may not take %d layer(s) (onnxruntime-qnn refuses them; SNPE may differ): %s%s", len(refused),
            "; ".join(refused[:5]), " ..." if len(refused) > 5 else "")
    record = {"tool_calls": [to_dlc(model, stage, outputs["dlc"], params, inputs.get("encodings"))]}
    return {**record, "htp_refused_by_qnn": refused} if refused else record


# ``encodings``: the rvc4.encodings JSON file, when the config names one.
STEP = Step(
    "onnx_to_dlc", run, ToDlcParams, configure, inputs=("onnx", "original", "encodings"), outputs=("dlc",), target="rvc4"
)
