"""Step 5: the open ``openvino`` target -- an IR with FP16 weights, and an INT8 IR quantized with NNCF."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import ConversionError

log = logging.getLogger(__name__)


def stable_names(model: Any) -> Any:
    """Give the nodes OpenVINO named itself (``Constant_220173``: a process-wide counter, so the
    number depends on what else the process built) a name from their place in the graph, so the
    same model always serializes to the same bytes. Names a model or tool chose are kept."""
    ops = model.get_ordered_ops()
    taken = {op.get_friendly_name() for op in ops if op.get_friendly_name() != op.get_name()}
    for index, op in enumerate(ops):
        if op.get_friendly_name() == op.get_name():
            name = f"{op.get_type_name()}_{index}"
            while name in taken:
                name += "_"
            taken.add(name)
            op.set_friendly_name(name)
    return model


def _save_ir(model: Any, xml: Path, compress_to_fp16: bool) -> None:
    """Write ``.xml`` + ``.bin`` through a temporary directory so a failure leaves neither behind."""
    import openvino as ov

    stable_names(model)
    xml.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(dir=xml.parent, prefix=f".{xml.stem}."))
    try:
        tmp_xml = tmpdir / xml.name
        ov.save_model(model, str(tmp_xml), compress_to_fp16=compress_to_fp16)
        os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp_xml, xml)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _read_onnx(onnx_path: Path) -> Any:
    import openvino as ov

    try:
        return ov.convert_model(str(onnx_path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"OpenVINO could not convert {onnx_path}: {first}") from None


def convert_ir(onnx_path: Path, xml: Path, compress_to_fp16: bool) -> dict[str, Any]:
    import openvino as ov

    model = _read_onnx(onnx_path)
    _save_ir(model, xml, compress_to_fp16)
    return {
        "tool": "openvino",
        "version": ov.__version__,
        "call": f"openvino.save_model(openvino.convert_model({str(onnx_path)!r}), {str(xml)!r}, "
        f"compress_to_fp16={compress_to_fp16})",
    }


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
    model = _read_onnx(onnx_path)
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
    _save_ir(quantized, xml, compress)
    return {
        "tool": "nncf",
        "version": nncf.__version__,
        "openvino_version": ov.__version__,
        "call": f"nncf.quantize(openvino.convert_model({str(onnx_path)!r}), nncf.Dataset(<{n} samples>), "
        f"preset={preset.name}, subset_size={subset_size}, fast_bias_correction={fast_bias_correction})",
        "calibration_samples": n,
    }
