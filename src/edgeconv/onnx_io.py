"""Reading and writing ONNX files with clear errors, and the facts about a model the config needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeconv.errors import ModelFileError
from edgeconv.model_info import ModelInfo, TensorInfo
from edgeconv.records import atomic_file

# Protobuf's own limit; bigger models keep their weights in <model>.onnx_data.
TWO_GB = 2**31 - 1

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
    """Load an ONNX model or raise a one-line error that names the file and what to do."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; check `input_model` or put the model under models/")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty; export the model again")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises various
        raise ModelFileError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'parse failed'}); "
            "the file may be truncated or in another format -- export it again with torch.onnx.export or tf2onnx"
        ) from None
    if not model.graph.node and not model.graph.output:
        raise ModelFileError(
            f"{path}: parsed as ONNX but holds no graph (no nodes, no outputs); it is probably not an ONNX model"
        )
    return model


def model_info(model: onnx.ModelProto, path: str = "<memory>") -> ModelInfo:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [_tensor_info(i) for i in model.graph.input if i.name not in initializers]
    outputs = [_tensor_info(o) for o in model.graph.output]
    names = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    return ModelInfo(path=str(path), inputs=inputs, outputs=outputs, tensor_names=names)


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

    Models over 2 GB keep their weights in ``<name>.onnx_data`` beside the model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    external = not fits_in_protobuf(model)
    with atomic_file(path) as tmp:
        if external:
            # onnx moves the weights out of the proto it saves: save a copy, so that the caller's
            # model keeps them. The data file is written under its final name; only the graph is renamed.
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            onnx.save_model(
                copy,
                str(tmp),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=f"{path.name}_data",
            )
        else:
            onnx.save_model(model, str(tmp))
    if not external:  # weights an earlier, bigger build of this file left beside it
        path.with_name(f"{path.name}_data").unlink(missing_ok=True)


def fits_in_protobuf(model: onnx.ModelProto) -> bool:
    """Whether the model (weights included) serializes in one protobuf: at most 2 GB."""
    return _fits_bytesize(model) and model.ByteSize() <= TWO_GB


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
        if tensor.ByteSize() < 1 << 20:
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
