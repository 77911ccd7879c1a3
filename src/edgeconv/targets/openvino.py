"""OpenVINO IRs as this project writes them: read from ONNX, nodes named by their place in the
graph (byte-identical IRs), written atomically. Used by the convert_ir and quantize_ir steps."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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


def save_ir(model: Any, xml: Path, compress_to_fp16: bool) -> None:
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


# Over protobuf's 2 GB, convert_model's offline transformations make a float32 copy of every
# MatMul weight they transpose (BENCHMARKS.md (d): 4.65 GB peak for 2.4 GB of weights), so such a
# model is read by the ONNX frontend alone (read_model: the weights stay mapped from the file).
# The IR keeps the MatMul's transpose flag instead of a transposed constant; verify_ir checks it.
LEAN_READ_BYTES = 2**31


def onnx_reader(onnx_path: Path) -> str:
    """``convert_model``, or ``read_model`` for a model whose files exceed ``LEAN_READ_BYTES``."""
    from edgeconv.tools import model_files

    size = sum(p.stat().st_size for p in model_files(onnx_path))
    return "read_model" if size > LEAN_READ_BYTES else "convert_model"


def read_onnx(onnx_path: Path, reader: str | None = None) -> Any:
    import openvino as ov

    reader = reader or onnx_reader(onnx_path)
    try:
        if reader == "read_model":
            return ov.Core().read_model(str(onnx_path))
        return ov.convert_model(str(onnx_path))
    except Exception as exc:
        from edgeconv.op_errors import cannot_convert

        text = str(exc).strip()
        named = cannot_convert("OpenVINO", onnx_path, text)
        if named:  # the op and its nodes first, then the tool's own words
            raise ConversionError(f"{named}\n{text}") from None
        first = text.splitlines()[0] if text else type(exc).__name__
        raise ConversionError(f"OpenVINO could not convert {onnx_path}: {first}") from None
