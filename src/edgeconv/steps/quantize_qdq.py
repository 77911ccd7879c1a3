"""qnn_htp step 1: the simplified ONNX quantized to QDQ for the HTP with onnxruntime's QNN
quantizer (float with FP16_STANDARD). See :mod:`edgeconv.targets.qnn_htp`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.records import atomic_file
from edgeconv.steps.base import Context, Params, Paths, Step


@dataclass(frozen=True, kw_only=True)
class QdqParams(Params):
    quantization_mode: str
    use_per_channel_quantization: bool
    # rvc4.encodings (inline; a file is the ``encodings`` input), applied as SNPE would be given them.
    encodings: dict[str, Any] | None = None
    normalize_io_encodings: bool = True
    strict_quantization_overrides: bool = False
    # rvc4.accuracy_control: quantize on the samples the search took statistics from, not the
    # ones held back for its gate (and read by verify).
    holdout: dict[str, Any] | None = None


def configure(ctx: Context) -> QdqParams:
    from edgeconv.checks import check_qnn

    from edgeconv.encodings import step_settings

    check_qnn(ctx.unit)
    rvc4 = ctx.stage.rvc4
    return ctx.make(
        QdqParams,
        quantization_mode=rvc4.quantization_mode,
        use_per_channel_quantization=rvc4.use_per_channel_quantization,
        **step_settings(rvc4),
        holdout=holdout(ctx) if rvc4.accuracy_control is not None else None,
    )


def holdout(ctx: Context) -> dict[str, Any]:
    from edgeconv.metrics import verify_images

    return {"share": ctx.stage.rvc4.accuracy_control.holdout, "verify_images": verify_images(ctx.settings, ctx.stage)}


def kept_quantization(model: Path, out: Path) -> dict[str, Any] | None:
    """A model that arrives quantized (QDQ) goes on with its own scales: no second quantization (which
    onnxruntime refuses: two nodes with the same name), no calibration. None for a float model."""
    import logging
    import shutil

    from edgeconv.onnx_graph import comes_quantized

    counts = comes_quantized(model)
    if not counts:
        return None
    logging.getLogger(__name__).warning(
        "the model comes quantized (%s): its own quantization is kept as it is, not quantized again; "
        "calibration data is not used", ", ".join(f"{n} {op}" for op, n in sorted(counts.items())))
    with atomic_file(out) as tmp:
        shutil.copyfile(model, tmp)
    return {"tool": "none", "kept_quantization": counts}


def run(inputs: Paths, outputs: Paths, params: QdqParams) -> dict[str, Any]:
    from edgeconv import encodings
    from edgeconv.arrays import load_npz
    from edgeconv.onnx_io import read_model_info
    from edgeconv.targets.qnn_htp import quantize_qdq

    kept = kept_quantization(inputs["onnx"], outputs["onnx"])
    if kept:
        return {"tool_calls": [kept]}
    calibration = load_npz(inputs["calibration"]) if "calibration" in inputs else None
    if calibration and params.holdout:
        from edgeconv.accuracy_control import split

        calibration = split(calibration, params.holdout["share"], params.holdout["verify_images"])[0]
    info = read_model_info(inputs["onnx"])
    payload, note = encodings.for_model(
        params.encodings, inputs.get("encodings"), inputs["onnx"], [t.name for t in (*info.inputs, *info.outputs)],
        strict=params.strict_quantization_overrides, normalize=params.normalize_io_encodings,
    )
    call = quantize_qdq(
        inputs["onnx"], calibration, outputs["onnx"], params.quantization_mode, params.use_per_channel_quantization,
        payload,
    )
    if call.get("pinned_8bit"):
        import logging

        logging.getLogger(__name__).warning(
            "%d Sigmoid output(s) of a SiLU after a Conv are kept at 8 bits, not %s's 16: the HTP computes them "
            "wrong at 16 bits (docs/accuracy.md)", len(call["pinned_8bit"]), params.quantization_mode)
    return {"tool_calls": [{**call, "encodings": note} if note else call]}


# ``calibration`` is an input unless the mode keeps the model in float (FP16_STANDARD);
# ``encodings`` when rvc4.encodings names a JSON file.
STEP = Step("quantize_qdq", run, QdqParams, configure, inputs=("onnx", "calibration", "encodings"), outputs=("onnx",))
