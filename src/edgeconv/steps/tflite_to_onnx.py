"""TFLite -> ONNX with tflite2onnx (what the reference runs for RVC2/RVC3), keeping the TFLite
model's interface, and checked against the LiteRT interpreter before it is written.

tflite2onnx turns channels-last activations into channels-first, graph inputs and outputs
included. Here a Transpose is put in front of every such input and after every such output, so
the ONNX model takes and gives exactly what the ``.tflite`` does (names, shapes, NHWC layout):
the config, the calibration data and the camera see one model whatever the target.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from edgeconv.errors import ConversionError, VerificationError
from edgeconv.model_info import ModelInfo, TensorInfo
from edgeconv.onnx_io import load_onnx, model_info, save_onnx
from edgeconv.steps.base import Params, Paths, Step
from edgeconv.tflite_io import Interpreter, random_feeds, tflite_model_info

SAMPLES = 4
# Two float32 computations of one function agree this closely (relative to the output's magnitude).
FLOAT32_AGREEMENT = 1e-5
# What to do when tflite2onnx cannot convert a model.
INSTEAD = ("export the model to ONNX instead (tf2onnx, or from its training framework); "
           "rvc4 and hailo read the TFLite model as it is")
MIN_COSINE = 0.9999


def convert(tflite: Path, out: Path, samples: int = SAMPLES, min_cosine: float = MIN_COSINE) -> dict[str, Any]:
    source = tflite_model_info(tflite)  # also stops, naming the extra, when the packages are missing
    import tflite2onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        produced = Path(tmp) / out.name
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), _captured_logging(log), _repaired_before_layout():
                tflite2onnx.convert(str(tflite), str(produced))
        except NotImplementedError as exc:
            raise ConversionError(
                f"{tflite}: tflite2onnx {tflite2onnx.__version__} cannot convert this model ({exc}); {INSTEAD}"
            ) from None
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConversionError(f"{tflite}: tflite2onnx {tflite2onnx.__version__} failed ({type(exc).__name__}: {first}); "
                                  f"{INSTEAD}") from None
        model = keep_interface(load_onnx(produced), source)
    report = check_against_litert(tflite, model, samples, min_cosine)
    save_onnx(model, out)
    return {
        "tool_calls": [
            {"tool": "tflite2onnx", "version": tflite2onnx.__version__, "call": f"tflite2onnx.convert({str(tflite)!r}, ...)"},
        ],
        # tflite2onnx's warnings (e.g. float16 weights), each once.
        "tflite2onnx_log": list(dict.fromkeys(line for line in log.getvalue().splitlines() if line.strip()))[:20],
        "interface": {"inputs": [t.name for t in source.inputs], "outputs": [t.name for t in source.outputs]},
        "check": report,
    }


@contextlib.contextmanager
def _repaired_before_layout():
    """tflite2onnx 0.4.1 fails on some common models in its layout pass; here its graph is
    repaired between its parse and that pass (:func:`_fp16_constants_shaped_as_used`,
    :func:`_pads_unshared`). The conversion is checked against LiteRT afterwards like any other."""
    from tflite2onnx.graph import Graph

    parse = Graph.parse

    def parse_then_repair(graph: Any) -> None:
        parse(graph)
        _fp16_constants_shaped_as_used(graph)
        _pads_unshared(graph)

    Graph.parse = parse_then_repair
    try:
        yield
    finally:
        Graph.parse = parse


def _fp16_constants_shaped_as_used(graph: Any) -> None:
    """Models with float16 weights (MediaPipe's, TFLite's float16 post-training quantization) keep
    each weight as a float16 constant and a DEQUANTIZE to float32. tflite2onnx folds those pairs,
    but only after its layout pass, and by then PRELU has given its alpha (the DEQUANTIZE's output)
    a leading 1 and not the float16 constant it comes from: the pass then failed on the constant
    with "list index out of range". Such a constant takes the shape of its dequantized copy (the
    same elements; one more leading 1)."""
    from onnx import TensorProto

    for op in graph.ops:
        if op.type != "DequantizeLinear" or not op.inputs or not op.outputs:
            continue
        const, used = op.inputs[0], op.outputs[0]
        if (const.dtype == TensorProto.FLOAT16 and const.isInitializer and const.shape != used.shape
                and int(np.prod(const.shape)) == int(np.prod(used.shape))):
            const.shape = list(used.shape)


def _pads_unshared(graph: Any) -> None:
    """TFLite stores equal constants once, so several PAD ops can read one paddings tensor.
    tflite2onnx rewrites that tensor in place for the op it handles first (to ONNX's flat pads) and
    then failed on the next one ("too many indices for array"; MediaPipe's full pose landmarks).
    Every PAD op after the first gets a copy of its own."""
    import copy

    seen: set[int] = set()
    for op in graph.ops:
        if op.type != "Pad" or len(op.inputs) < 2 or not op.inputs[1].isInitializer:
            continue
        pads = op.inputs[1]
        if id(pads) not in seen:
            seen.add(id(pads))
            continue
        own = copy.copy(pads)
        own.name = next(n for k in range(1, 1 << 20) if (n := f"{pads.name}_pad{k}") not in graph.TFactory.registery)
        own.data, own.shape = pads.data.copy(), list(pads.shape)
        own.producers, own.consumers = [], [op]
        pads.consumers = [c for c in pads.consumers if c is not op]
        graph.TFactory.registery[own.name] = own
        op.inputs[1] = own


@contextlib.contextmanager
def _captured_logging(stream: io.StringIO):
    """tflite2onnx logs a warning per tensor of some types; keep them for the record, not the console."""
    logger = logging.getLogger("tflite2onnx")
    handler = logging.StreamHandler(stream)
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


def _moved_channels(tflite_shape: list[Any], onnx_shape: list[Any]) -> bool:
    """Whether ``onnx_shape`` is ``tflite_shape`` with its last (channel) axis moved to axis 1."""
    r = len(tflite_shape)
    return r >= 3 and len(onnx_shape) == r and list(onnx_shape) == [tflite_shape[0], tflite_shape[-1], *tflite_shape[1:-1]]


def keep_interface(model: onnx.ModelProto, source: ModelInfo) -> onnx.ModelProto:
    """Give the converted model the TFLite model's inputs and outputs back."""
    converted = model_info(model)
    graph = model.graph
    for tensor in source.inputs:
        if _needs_transpose(tensor, converted.inputs, "input"):
            inner = f"{tensor.name}__channels_first"
            _rename_uses(graph, tensor.name, inner)
            r = len(tensor.shape)
            graph.node.insert(0, helper.make_node("Transpose", [tensor.name], [inner], perm=[0, r - 1, *range(1, r - 1)]))
            _set_shape(next(i for i in graph.input if i.name == tensor.name), tensor)
    for tensor in source.outputs:
        if _needs_transpose(tensor, converted.outputs, "output"):
            inner = f"{tensor.name}__channels_first"
            for node in graph.node:
                node.output[:] = [inner if o == tensor.name else o for o in node.output]
            _rename_uses(graph, tensor.name, inner)
            r = len(tensor.shape)
            graph.node.append(helper.make_node("Transpose", [inner], [tensor.name], perm=[0, *range(2, r), 1]))
            _set_shape(next(o for o in graph.output if o.name == tensor.name), tensor)
    onnx.checker.check_model(model)
    return model


def _needs_transpose(tensor: TensorInfo, converted: list[TensorInfo], kind: str) -> bool:
    """Whether tflite2onnx made ``tensor`` channels-first; any other change is an error."""
    got = next((t for t in converted if t.name == tensor.name), None)
    if got is None:
        raise ConversionError(f"tflite2onnx dropped {kind} {tensor.name!r}; its ONNX {kind}s are {[t.name for t in converted]}")
    if got.shape == tensor.shape:
        return False
    if not _moved_channels(tensor.shape, got.shape):
        raise ConversionError(f"tflite2onnx changed {kind} {tensor.name!r} from {tensor.shape} to {got.shape}")
    return True


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if i == old else i for i in node.input]


def _set_shape(vi: onnx.ValueInfoProto, tensor: TensorInfo) -> None:
    dims = vi.type.tensor_type.shape.dim
    del dims[:]
    for d in tensor.shape:
        dim = dims.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = str(d)


def agrees(worst: dict[str, float], magnitude: float, min_cosine: float) -> bool:
    """Whether one output of the converted model matches LiteRT's: by cosine, or, for an output all
    but zero on these inputs (a saturated sigmoid's score, 1e-9 against 0, has no direction to
    compare), by being as close as two float32 computations of it can be."""
    return worst["cosine"] >= min_cosine or worst["max_abs_error"] <= FLOAT32_AGREEMENT * max(1.0, magnitude)


def check_against_litert(tflite: Path, model: onnx.ModelProto, samples: int, min_cosine: float) -> dict[str, Any]:
    """Run the TFLite model (LiteRT) and the ONNX model (onnxruntime) on the same random inputs."""
    import onnxruntime as ort

    from edgeconv.metrics import metrics

    interpreter = Interpreter(tflite)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst: dict[str, dict[str, float]] = {}
    scale: dict[str, float] = {}
    for _ in range(samples):
        feeds = random_feeds(interpreter.inputs, rng)
        expected = interpreter.run(feeds)
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        for name, ref in expected.items():
            m = metrics(ref, got[name].reshape(ref.shape))
            scale[name] = max(scale.get(name, 0.0), float(np.abs(ref).max(initial=0.0)))
            w = worst.setdefault(name, m)
            worst[name] = {"cosine": min(w["cosine"], m["cosine"]), "max_abs_error": max(w["max_abs_error"], m["max_abs_error"]),
                           "mean_abs_error": max(w["mean_abs_error"], m["mean_abs_error"])}
    bad = {k: v for k, v in worst.items() if not agrees(v, scale[k], min_cosine)}
    if bad:
        name, m = next(iter(bad.items()))
        raise VerificationError(
            f"{tflite}: tflite2onnx's ONNX differs from the TFLite model on output {name!r} (cosine {m['cosine']:.6f} < {min_cosine}, "
            f"max abs error {m['max_abs_error']:.3g}, LiteRT vs onnxruntime on {samples} random inputs); "
            "export the model to ONNX instead"
        )
    return {"reference": "LiteRT interpreter (ai-edge-litert)", "samples": samples, "min_cosine": min_cosine, "outputs": worst}


def run(inputs: Paths, outputs: Paths, params: Params) -> dict[str, Any]:
    return convert(inputs["tflite"], outputs["onnx"])


STEP = Step("tflite_to_onnx", run, inputs=("tflite",), outputs=("onnx",))
