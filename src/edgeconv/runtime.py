"""Running models on this machine: ONNX on onnxruntime, OpenVINO IR on the CPU plugin in f32."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeconv.onnx_io import fits_in_protobuf, numpy_dtype, save_onnx
from edgeconv.threads import measuring_config, ort_options


@contextlib.contextmanager
def runnable(model: onnx.ModelProto) -> Iterator[onnx.ModelProto | Path]:
    """The model as onnxruntime can take it: itself, or -- over 2 GB, which onnxruntime takes only
    from a file with its weights beside it -- a temporary file that lives as long as the context."""
    if fits_in_protobuf(model):
        yield model
        return
    with tempfile.TemporaryDirectory(prefix="edgeconv-run-") as tmp:
        path = Path(tmp) / "model.onnx"
        save_onnx(model, path)
        del model  # the caller may drop its copy of the weights while the file is in use
        yield path


Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def onnx_runner(model: onnx.ModelProto | str | Path) -> Runner:
    """One onnxruntime session for many runs: ``runner(feeds) -> outputs``. A model over 2 GB
    must be given as its file (``run_onnx`` writes one for it)."""
    import onnxruntime as ort

    opts = ort_options(ort.SessionOptions())
    opts.log_severity_level = 3
    # Fidelity checks compare graphs as written: no runtime fusions that reorder float math.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))

    return run


def run_onnx(model: onnx.ModelProto | str | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(model, onnx.ModelProto) and not fits_in_protobuf(model):
        with runnable(model) as path:
            return run_onnx(path, feeds)
    return onnx_runner(model)(feeds)


def ir_runner(xml: str | Path, extra_outputs: Any = ()) -> Runner:
    """One compiled OpenVINO IR (CPU, f32) for many runs: ``runner(feeds) -> outputs``.
    ``extra_outputs``: OpenVINO output ports (of ``xml``'s model as ``ov.Core().read_model`` gives
    it, passed as ``(model, ports)``) to return too, by their tensor names (per-layer analysis)."""
    import openvino as ov

    core = ov.Core()
    source: Any = str(xml)
    if extra_outputs:
        source, ports = extra_outputs
        source.add_outputs(list(ports))
    compiled = core.compile_model(source, "CPU", measuring_config())
    request = compiled.create_infer_request()

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {}
        for port in compiled.inputs:
            # A port can carry several tensor names; the ONNX input name is one of them.
            name = next((n for n in port.get_names() if n in feeds), None)
            if name is None:
                raise KeyError(f"no data for IR input {sorted(port.get_names())}; have {sorted(feeds)}")
            inputs[port] = feeds[name]
        result = request.infer(inputs)
        out: dict[str, np.ndarray] = {}
        for port in compiled.outputs:
            value = np.asarray(result[port])
            for name in sorted(port.get_names()) or [port.get_any_name()]:
                out[name] = value
        return out

    return run


def run_ir(xml: str | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return ir_runner(xml)(feeds)


def random_feeds(model: onnx.ModelProto, image_inputs: set[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """Feeds for a static-shape model: 0..255 for image inputs, N(0,1) for float tensors."""
    from edgeconv.onnx_io import model_info

    rng = np.random.default_rng(seed)
    feeds = {}
    for t in model_info(model).inputs:
        shape = [d if isinstance(d, int) else 1 for d in t.shape]
        dtype = numpy_dtype(t.data_type)
        if np.issubdtype(dtype, np.floating):
            if image_inputs is None or t.name in image_inputs:
                feeds[t.name] = rng.uniform(0, 255, size=shape).astype(dtype)
            else:
                feeds[t.name] = rng.standard_normal(size=shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[t.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[t.name] = rng.integers(0, 10, size=shape).astype(dtype)
    return feeds
