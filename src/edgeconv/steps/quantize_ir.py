"""openvino step 2: the INT8 IR, quantized with NNCF on the calibration data (``openvino.preset``,
``subset_size``, ``fast_bias_correction``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.arrays import sample
from edgeconv.errors import ConversionError
from edgeconv.steps.base import Context, Params, Paths, Step
from edgeconv.targets.openvino import read_onnx, save_ir


def quantize_ir(
    onnx_path: Path,
    calibration: dict[str, np.ndarray],
    xml: Path,
    options: dict[str, Any],
) -> dict[str, Any]:
    import nncf
    import openvino as ov

    if not calibration:
        raise ConversionError("quantize_ir: no calibration data (every input is frozen?)")
    model = read_onnx(onnx_path)
    names = [p.get_any_name() for p in model.inputs]
    missing = [n for n in names if n not in calibration]
    if missing:
        raise ConversionError(f"quantize_ir: calibration data has no samples for input(s) {missing}")
    n = len(next(iter(calibration.values())))
    samples = [sample(calibration, i, names) for i in range(n)]
    compress = bool(options.get("compress_to_fp16", True))
    control = options.get("accuracy_control")
    if control:
        from edgeconv.detectors import from_metadata
        from edgeconv.onnx_io import read_model_info

        # A recognised detector: min_map50 can be the search's criterion.
        detector = from_metadata(read_model_info(onnx_path).metadata)
        return _with_accuracy_control(model, calibration, xml, {**options, "detector": detector}, compress, onnx_path)
    preset = nncf.QuantizationPreset.MIXED if options.get("preset") == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    subset_size = min(int(options.get("subset_size", 300)), n)
    fast_bias_correction = bool(options.get("fast_bias_correction", True))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(samples),
        preset=preset,
        subset_size=subset_size,
        fast_bias_correction=fast_bias_correction,
    )
    save_ir(quantized, xml, compress)
    return {
        "tool": "nncf",
        "version": nncf.__version__,
        "openvino_version": ov.__version__,
        "call": f"nncf.quantize(openvino.convert_model({str(onnx_path)!r}), nncf.Dataset(<{n} samples>), "
        f"preset={preset.name}, subset_size={subset_size}, fast_bias_correction={fast_bias_correction})",
        "calibration_samples": n,
    }


def _with_accuracy_control(model: Any, calibration: dict[str, np.ndarray], xml: Path, options: dict[str, Any],
                           compress: bool, onnx_path: Path) -> dict[str, Any]:
    """``openvino.accuracy_control``: NNCF INT8 that meets verify.openvino_int8's thresholds on
    held-back samples (edgeconv.accuracy_control.openvino_search)."""
    import logging

    import nncf
    import openvino as ov

    from edgeconv import accuracy_control as ac
    from edgeconv.accuracy_control_openvino import openvino_search

    settings = options["accuracy_control"]
    budget = ac.Budget(max_trials=int(settings["max_trials"]), max_seconds=float(settings["max_seconds"]),
                       holdout=float(settings["holdout"]))
    gate = dict(options["thresholds"])
    if gate.get("min_cosine") is not None:
        gate["min_cosine"] = min(1.0, float(gate["min_cosine"]) + float(settings.get("margin", 0.0)))
    from edgeconv.runtime import onnx_runner

    # Measured against the float ONNX model in onnxruntime, as verify measures the published IR.
    quantized, record = openvino_search(model, calibration, gate, budget, int(options["verify_images"]), options,
                                        options.get("detector"), logging.getLogger("edgeconv.progress").info,
                                        reference=onnx_runner(onnx_path))
    save_ir(quantized, xml, compress)
    record["verify_gate"] = options["thresholds"]
    return {
        "tool": "nncf",
        "version": nncf.__version__,
        "openvino_version": ov.__version__,
        "call": _search_call(record),
        "calibration_samples": record["statistics_samples"],
        "accuracy_control": record,
    }


def _search_call(record: dict[str, Any]) -> str:
    if record["method"] == "nncf":
        return "nncf.quantize_with_accuracy_control (after nncf.quantize missed the gate)"
    if record["method"] == "ranked":
        return (f"nncf.quantize with ignored_scope: {len(record['kept_higher_precision'])} ranked layer(s) in float "
                "(after nncf.quantize missed the gate)")
    return "nncf.quantize (met the gate: no search needed)"


@dataclass(frozen=True, kw_only=True)
class QuantizeIrParams(Params):
    compress_to_fp16: bool
    preset: str
    fast_bias_correction: bool
    subset_size: int
    # openvino.accuracy_control: its settings, the gate (verify.openvino_int8) and how many samples
    # verify reads (held back with the gate's).
    accuracy_control: dict[str, Any] | None = None
    thresholds: dict[str, Any] | None = None
    verify_images: int | None = None


def configure(ctx: Context) -> QuantizeIrParams:
    from edgeconv.metrics import thresholds_for, verify_images

    ov = ctx.stage.openvino
    control = ov.accuracy_control
    return ctx.make(
        QuantizeIrParams,
        compress_to_fp16=ov.compress_to_fp16,
        preset=ov.preset,
        fast_bias_correction=ov.fast_bias_correction,
        subset_size=ov.subset_size,
        accuracy_control=control.model_dump() if control is not None else None,
        thresholds=thresholds_for(ctx.settings, ctx.stage, "openvino_int8") if control is not None else None,
        verify_images=verify_images(ctx.settings, ctx.stage) if control is not None else None,
    )


def run(inputs: Paths, outputs: Paths, params: QuantizeIrParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz

    call = quantize_ir(inputs["onnx"], load_npz(inputs["calibration"]), outputs["xml"], asdict(params))
    control = call.pop("accuracy_control", None)
    return {"tool_calls": [call], **({"accuracy_control": control} if control else {})}


STEP = Step("quantize_ir", run, QuantizeIrParams, configure, inputs=("onnx", "calibration"), outputs=("xml",))
