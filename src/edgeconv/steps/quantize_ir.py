"""openvino step 2: the INT8 IR, quantized with NNCF on the calibration data (``openvino.preset``,
``subset_size``, ``fast_bias_correction``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
    samples = [{name: calibration[name][i] for name in names} for i in range(n)]
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
    compress = bool(options.get("compress_to_fp16", True))
    save_ir(quantized, xml, compress)
    return {
        "tool": "nncf",
        "version": nncf.__version__,
        "openvino_version": ov.__version__,
        "call": f"nncf.quantize(openvino.convert_model({str(onnx_path)!r}), nncf.Dataset(<{n} samples>), "
        f"preset={preset.name}, subset_size={subset_size}, fast_bias_correction={fast_bias_correction})",
        "calibration_samples": n,
    }


@dataclass(frozen=True, kw_only=True)
class QuantizeIrParams(Params):
    compress_to_fp16: bool
    preset: str
    fast_bias_correction: bool
    subset_size: int


def configure(ctx: Context) -> QuantizeIrParams:
    ov = ctx.stage.openvino
    return ctx.make(
        QuantizeIrParams,
        compress_to_fp16=ov.compress_to_fp16,
        preset=ov.preset,
        fast_bias_correction=ov.fast_bias_correction,
        subset_size=ov.subset_size,
    )


def run(inputs: Paths, outputs: Paths, params: QuantizeIrParams) -> dict[str, Any]:
    from edgeconv.arrays import load_npz

    return {"tool_calls": [quantize_ir(inputs["onnx"], load_npz(inputs["calibration"]), outputs["xml"], asdict(params))]}


STEP = Step("quantize_ir", run, QuantizeIrParams, configure, inputs=("onnx", "calibration"), outputs=("xml",))
