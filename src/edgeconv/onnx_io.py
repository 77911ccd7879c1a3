"""Reading and writing ONNX files with clear errors, and the facts about a model the config needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import external_data_helper as _external

from edgeconv.errors import ModelFileError
from edgeconv.model_info import ModelInfo, TensorInfo
from edgeconv.records import atomic_file

# Protobuf's own limit; bigger models keep their weights in <model>.onnx_data.
TWO_GB = 2**31 - 1
# In a model over 2 GB, external tensors of at least this size stay in their file (see load_onnx).
ON_DISK_BYTES = 1 << 20
# Tensors of at least this size go to the data file when a model is saved with external data (onnx's own default).
EXTERNAL_MIN_BYTES = 1024
# Where big tensors start in a data file written here: page-aligned, so runtimes can map them.
ALIGN = 4096

ONNX_TO_NUMPY = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64",
    onnx.TensorProto.BOOL: "boolean",
}
NUMPY_TO_ONNX = {v: k for k, v in ONNX_TO_NUMPY.items()}


def numpy_dtype(data_type: str) -> np.dtype:
    return np.dtype(bool) if data_type == "boolean" else np.dtype(data_type)


def _tensor_info(vi: onnx.ValueInfoProto) -> TensorInfo:
    tt = vi.type.tensor_type
    dims: list[int | str] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return TensorInfo(vi.name, dims, ONNX_TO_NUMPY.get(tt.elem_type, f"onnx-type-{tt.elem_type}"))


def load_onnx(path: str | Path, load_external_data: bool = True) -> onnx.ModelProto:
    """Load an ONNX model or raise a one-line error that names the file and what to do.

    A model over 2 GB does not come into memory whole: its big external tensors (``ON_DISK_BYTES``
    and more) stay in their files, referenced by absolute path. ``tensor_array`` reads one when a
    step needs its value, and ``save_onnx`` copies them file to file, so a step that edits the graph
    of such a model holds no copy of its weights.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; check `input_model` or put the model under models/")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty; export the model again")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises various
        raise ModelFileError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'parse failed'}); "
            "the file may be truncated or in another format -- export it again with torch.onnx.export or tf2onnx"
        ) from None
    if not model.graph.node and not model.graph.output:
        raise ModelFileError(
            f"{path}: parsed as ONNX but holds no graph (no nodes, no outputs); it is probably not an ONNX model"
        )
    if load_external_data:
        _load_weights(model, path)
    return model


def _load_weights(model: onnx.ModelProto, path: Path) -> None:
    tensors = [t for t in _external._get_all_tensors(model) if _external.uses_external_data(t)]
    if not tensors:
        return
    base = path.resolve().parent
    spans = {}
    for tensor in tensors:
        info = _external.ExternalDataInfo(tensor)
        location = Path(info.location)
        file = (base / location).resolve()
        if location.is_absolute() or ".." in location.parts or not file.is_relative_to(base):
            raise ModelFileError(
                f"{path}: tensor {tensor.name!r} keeps its data at {info.location!r}, outside the model's directory; "
                "save the model with its weights beside it (onnx.save_model(..., save_as_external_data=True))"
            )
        if not file.is_file():
            raise ModelFileError(
                f"{path}: tensor {tensor.name!r} keeps its data in {info.location}, which is not beside the model; "
                "copy the model's data file next to it"
            )
        offset = int(info.offset or 0)
        size = file.stat().st_size
        length = int(info.length) if info.length is not None else size - offset
        if offset + length > size:
            raise ModelFileError(
                f"{path}: tensor {tensor.name!r} reaches past the end of {info.location} (truncated?); "
                "copy the data file again"
            )
        spans[id(tensor)] = (file, offset, length)
    big = model.ByteSize() + sum(length for _, _, length in spans.values()) > TWO_GB
    for tensor in tensors:
        file, offset, length = spans[id(tensor)]
        if big and length >= ON_DISK_BYTES:
            _set_location(tensor, str(file), offset, length)
        else:
            _external.load_external_data_for_tensor(tensor, str(base))


def _set_location(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL


def on_disk(tensor: onnx.TensorProto) -> bool:
    """Whether a tensor of a loaded model still keeps its values in a file (see load_onnx)."""
    return _external.uses_external_data(tensor)


def _span(tensor: onnx.TensorProto) -> tuple[str, int, int]:
    info = _external.ExternalDataInfo(tensor)
    return info.location, int(info.offset or 0), int(info.length)


def _on_disk_bytes(model: onnx.ModelProto) -> int:
    return sum(_span(t)[2] for t in _external._get_all_tensors(model) if on_disk(t))


def tensor_array(tensor: onnx.TensorProto) -> np.ndarray:
    """A tensor's values, read from its file when it is on disk (the tensor itself is not changed)."""
    if not on_disk(tensor):
        return onnx.numpy_helper.to_array(tensor)
    location, offset, length = _span(tensor)
    with open(location, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    loaded = onnx.TensorProto()
    loaded.CopyFrom(tensor)
    del loaded.external_data[:]
    loaded.data_location = onnx.TensorProto.DEFAULT
    loaded.raw_data = data
    return onnx.numpy_helper.to_array(loaded)


def model_info(model: onnx.ModelProto, path: str = "<memory>") -> ModelInfo:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [_tensor_info(i) for i in model.graph.input if i.name not in initializers]
    outputs = [_tensor_info(o) for o in model.graph.output]
    names = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    meta = {p.key: p.value for p in model.metadata_props}
    return ModelInfo(path=str(path), inputs=inputs, outputs=outputs, tensor_names=names, metadata=meta)


def read_model_info(path: str | Path) -> ModelInfo:
    """Inputs and outputs of an ONNX model, an OpenVINO IR (``.xml`` beside its ``.bin``) or a TFLite model."""
    if Path(path).suffix.lower() == ".xml":
        return ir_model_info(Path(path))
    if Path(path).suffix.lower() == ".tflite":
        from edgeconv.tflite_io import tflite_model_info

        return tflite_model_info(Path(path))
    return model_info(load_onnx(path, load_external_data=False), str(path))


def ir_model_info(xml: Path) -> ModelInfo:
    """What an OpenVINO IR takes and gives, read with the OpenVINO runtime."""
    if not xml.exists():
        raise ModelFileError(f"{xml}: model file not found; check `input_model`")
    if not xml.with_suffix(".bin").exists():
        raise ModelFileError(f"{xml}: its weights {xml.with_suffix('.bin').name} are not beside it; an IR is an .xml and a .bin")
    import openvino as ov

    try:
        model = ov.Core().read_model(str(xml))
    except Exception as exc:
        raise ModelFileError(f"{xml}: not a readable OpenVINO IR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None

    def info(port: Any) -> TensorInfo:
        shape = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        names = sorted(port.get_names())
        name = names[0] if names else port.get_any_name()
        return TensorInfo(name, shape, _OV_TYPES.get(port.get_element_type().get_type_name(), "float32"))

    inputs = [info(p) for p in model.inputs]
    outputs = [info(p) for p in model.outputs]
    names = {n for op in model.get_ops() for out in op.outputs() for n in out.get_names()}
    return ModelInfo(path=str(xml), inputs=inputs, outputs=outputs, tensor_names=names | {i.name for i in inputs})


_OV_TYPES = {"f32": "float32", "f16": "float16", "u8": "uint8", "i8": "int8", "i32": "int32", "i64": "int64", "boolean": "boolean"}


def save_onnx(model: onnx.ModelProto, path: str | Path) -> None:
    """Write atomically (temp file + rename) so a failed step never leaves a partial model.

    Models over 2 GB keep their weights in ``<name>.onnx_data`` beside the model. Tensors still on
    disk are copied into it file to file, tensors in memory written from memory; the model itself
    is left as it was given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = path.with_name(f"{path.name}_data")
    if fits_in_protobuf(model) and not _on_disk_bytes(model):
        with atomic_file(path) as tmp:
            onnx.save_model(model, str(tmp))
        data.unlink(missing_ok=True)  # weights an earlier, bigger build of this file left beside it
        return
    moved: list[tuple[onnx.TensorProto, Any]] = []
    try:
        with atomic_file(data) as data_tmp, atomic_file(path) as tmp:
            with open(data_tmp, "wb", buffering=0) as out:
                for tensor in _external._get_all_tensors(model):
                    if on_disk(tensor):
                        location, offset, length = _span(tensor)
                        start = _pad(out, length)
                        _copy_range(location, offset, length, out)
                        moved.append((tensor, list(tensor.external_data)))
                    elif tensor.HasField("raw_data") and len(tensor.raw_data) >= EXTERNAL_MIN_BYTES:
                        length = len(tensor.raw_data)
                        start = _pad(out, length)
                        _write(out, tensor.raw_data)
                        moved.append((tensor, tensor.raw_data))
                        tensor.ClearField("raw_data")
                    else:
                        continue
                    _set_location(tensor, data.name, start, length)
            onnx.save_model(model, str(tmp))
    finally:
        for tensor, before in moved:  # the caller's model as it was
            del tensor.external_data[:]
            if isinstance(before, bytes):
                tensor.data_location = onnx.TensorProto.DEFAULT
                tensor.raw_data = before
            else:
                tensor.external_data.extend(before)


def _pad(out: Any, length: int) -> int:
    start = out.tell()
    if length >= ON_DISK_BYTES and start % ALIGN:
        _write(out, b"\0" * (ALIGN - start % ALIGN))
    return out.tell()


def _write(out: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:  # an unbuffered file may take less than it is given
        view = view[out.write(view):]


def _copy_range(location: str, offset: int, length: int, out: Any) -> None:
    """Copy bytes file to file in the kernel where it can, without holding them in this process."""
    with open(location, "rb") as src:
        done = 0
        while done < length:
            try:
                n = os.copy_file_range(src.fileno(), out.fileno(), length - done, offset + done)
            except OSError:
                n = 0
            if n == 0:  # not supported here (or across these file systems): read and write
                src.seek(offset + done)
                chunk = src.read(min(length - done, 64 << 20))
                if not chunk:
                    raise ModelFileError(f"{location}: ends before the tensor data it should hold; copy the data file again")
                _write(out, chunk)
                n = len(chunk)
            done += n


def fits_in_protobuf(model: onnx.ModelProto) -> bool:
    """Whether the model (weights included, those still on disk too) serializes in one protobuf: at most 2 GB."""
    return _fits_bytesize(model) and model.ByteSize() + _on_disk_bytes(model) <= TWO_GB


def check_model(model: onnx.ModelProto) -> None:
    """onnx.checker on a model of any size: a model over 2 GB cannot be serialized for the checker,
    so its graph is checked with the big weights stood in for by typed graph inputs."""
    onnx.checker.check_model(model if fits_in_protobuf(model) else _weightless(model))


def _weightless(model: onnx.ModelProto) -> onnx.ModelProto:
    light = onnx.ModelProto(
        ir_version=model.ir_version,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        domain=model.domain,
        model_version=model.model_version,
        doc_string=model.doc_string,
    )
    light.opset_import.extend(model.opset_import)
    light.metadata_props.extend(model.metadata_props)
    light.functions.extend(model.functions)
    graph, source = light.graph, model.graph
    graph.name, graph.doc_string = source.name, source.doc_string
    for name in ("node", "input", "output", "value_info", "quantization_annotation", "sparse_initializer"):
        getattr(graph, name).extend(getattr(source, name))
    for tensor in source.initializer:
        if not on_disk(tensor) and tensor.ByteSize() < 1 << 20:
            graph.initializer.append(tensor)
        else:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return light


def _fits_bytesize(model: onnx.ModelProto) -> bool:
    try:
        model.ByteSize()
        return True
    except Exception:
        return False
