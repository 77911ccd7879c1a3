"""Per-layer analysis of an artifact against its float model, on this machine, before any device.

Every float tensor of the model an artifact was made from (``simplified.onnx``) is compared with
the tensor of the same name in the artifact, sample by sample, on the verification samples:

- a QDQ model (qnn_htp, rvc4's precision) in onnxruntime on the CPU, through onnxruntime's own
  ``qdq_loss_debug`` (``modify_model_output_intermediate_tensors`` exposes every tensor,
  ``create_activation_matching`` pairs each with its quantized value and the float one);
- an OpenVINO IR (FP16, or NNCF's INT8) on OpenVINO's CPU plugin, the tensors added as outputs by
  name through OpenVINO's model API;
- an HTP context model (the simulator runs it as one opaque graph) at its outputs only.

Per tensor: cosine (the worst sample, as verify), SQNR in dB over all samples (10 log10 of signal
over noise power), max and mean absolute error; where the artifact quantizes the tensor, also the
SQNR of that quantization alone (``local_sqnr_db``: the tensor before against after its own
quantize-dequantize), which is what singles out the layer that loses accuracy rather than every
layer after it. The rows at the model's outputs are computed by verify's own code on the same
samples, against the original model, so they equal the artifact's ``verify.json``.
"""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


COLUMNS = ["artifact", "role", "index", "tensor", "op_type", "precision", "cosine", "sqnr_db", "local_sqnr_db",
           "max_abs_error", "mean_abs_error", "matched", "promoted", "worst"]
WORST = 5  # rows flagged per artifact

Sample = dict[str, np.ndarray]


def sqnr_db(signal: float, noise: float) -> float:
    if noise <= 0.0:
        return math.inf
    if signal <= 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


@dataclass
class Figures:
    """One tensor's figures, accumulated sample by sample (nothing of a sample is kept)."""

    cosines: list[float] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    max_abs: float = 0.0
    signal: float = 0.0
    noise: float = 0.0
    local_signal: float = 0.0
    local_noise: float = 0.0
    local: bool = False
    cross: float = 0.0  # sum of float * artifact: their ratio to ``signal`` is the least-squares scale

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        # verify's metrics (edgeconv.metrics) and the power sums from one float64 copy of each.
        a = np.asarray(ref, np.float64).reshape(-1)
        b = np.array(got, np.float64).reshape(-1)  # a copy: it becomes the error below
        signal, other = float(a @ a), float(b @ b)
        denom = math.sqrt(signal) * math.sqrt(other)
        cross = float(a @ b)
        self.cross += cross
        cosine = (1.0 if np.array_equal(a, b) else 0.0) if denom == 0 else cross / denom
        b -= a
        np.abs(b, out=b)
        self.cosines.append(cosine)
        self.means.append(float(b.mean()) if b.size else 0.0)
        self.max_abs = max(self.max_abs, float(b.max(initial=0.0)))
        self.signal += signal
        self.noise += float(b @ b)

    def add_local(self, before: np.ndarray, after: np.ndarray) -> None:
        a = np.asarray(before, np.float64).reshape(-1)
        d = np.asarray(after, np.float64).reshape(-1) - a
        self.local = True
        self.local_signal += float(a @ a)
        self.local_noise += float(d @ d)

    def scaled(self) -> float | None:
        """The constant the artifact's tensor is the float one multiplied by, when it is one (same
        direction, cosine > 0.9999, but more than 2% off in size): OpenVINO fused a constant into
        the tensor that keeps the name, so the name no longer means the same value."""
        if not self.signal or min(self.cosines) < 0.9999:
            return None
        k = self.cross / self.signal
        return k if abs(k - 1.0) > 0.02 else None

    def row(self) -> dict[str, Any]:
        return {
            "cosine": min(self.cosines),
            "sqnr_db": sqnr_db(self.signal, self.noise),
            "local_sqnr_db": sqnr_db(self.local_signal, self.local_noise) if self.local else None,
            "max_abs_error": self.max_abs,
            "mean_abs_error": float(np.mean(self.means)),
        }


def graph_tensors(float_model: Path) -> list[tuple[str, str]]:
    """(tensor, op type) of every float tensor a node of ``float_model`` computes, in graph order."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(float_model)))
    graph = model.graph
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output, *graph.input)}
    return [(name, node.op_type) for node in graph.node if node.op_type not in ("Constant", "Shape", "Size")
            for name in node.output if name and types.get(name) in float_types]


def _exposed(model: Path, workdir: Path, tag: str) -> Callable[[Sample], dict[str, np.ndarray]]:
    """A runner of ``model`` that also returns every float tensor (onnxruntime's qdq_loss_debug
    augmentation), by tensor name. One session, run sample by sample: collect_activations would
    keep every sample's tensors at once, too much for a detector at full size."""
    from onnxruntime.quantization import qdq_loss_debug

    from edgeconv.runtime import onnx_runner

    augmented = workdir / f"{tag}.exposed.onnx"
    qdq_loss_debug.modify_model_output_intermediate_tensors(str(model), str(augmented))
    run = onnx_runner(augmented)
    suffix = qdq_loss_debug._TENSOR_SAVE_POSTFIX

    def go(feeds: Sample) -> dict[str, np.ndarray]:
        return {name.removesuffix(suffix): value for name, value in run(feeds).items()}

    return go


@dataclass
class Quantizer:
    """How an artifact quantizes one tensor: QuantizeLinear's scale and zero point, or a
    FakeQuantize's ranges, applied in numpy to the float model's own value of the tensor."""

    precision: str  # int8, int16
    apply: Callable[[np.ndarray], np.ndarray]


def _linear(scale: np.ndarray, zero: np.ndarray, qmin: int, qmax: int, axis: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """QuantizeLinear then DequantizeLinear, in float32 and in place (a detector's tensors are large)."""

    def fq(x: np.ndarray) -> np.ndarray:
        s, z = scale.astype(np.float32), zero.astype(np.float32)
        if axis is not None and s.ndim == 1 and x.ndim > 1:
            shape = [1] * x.ndim
            shape[axis] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        y = np.array(x, np.float32)
        y /= s
        np.round(y, out=y)
        y += z
        np.clip(y, qmin, qmax, out=y)
        y -= z
        y *= s
        return y

    return fq


def qdq_quantizers(qdq_model: Path) -> dict[str, Quantizer]:
    """Tensor -> its quantization, for every tensor a QuantizeLinear of ``qdq_model`` quantizes."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(qdq_model), load_external_data=False).graph
    inits = {t.name: t for t in graph.initializer}
    ranges = {onnx.TensorProto.UINT8: (0, 255, "int8"), onnx.TensorProto.INT8: (-128, 127, "int8"),
              onnx.TensorProto.UINT16: (0, 65535, "int16"), onnx.TensorProto.INT16: (-32768, 32767, "int16")}
    out = {}
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[node.input[1]])
        zp = inits.get(node.input[2]) if len(node.input) > 2 else None
        qmin, qmax, precision = ranges.get(zp.data_type if zp is not None else onnx.TensorProto.UINT8, (0, 255, "int8"))
        zero = numpy_helper.to_array(zp) if zp is not None else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        # A model output keeps its name after the DequantizeLinear; the quantized value is renamed.
        name = node.input[0].removesuffix("_QuantizeLinear_Input")
        out[name] = Quantizer(precision, _linear(scale, zero, qmin, qmax, axis if scale.ndim else None))
    return out


def compare_qdq(float_run: Callable[[Sample], dict[str, np.ndarray]], qdq_model: Path, samples: list[Sample],
                workdir: Path, float_names: list[str]) -> dict[str, Figures]:
    """Per float tensor: the QDQ model's value the next layer reads (after its quantize-dequantize)
    against the float one; and the local figure: the float value against itself through the QDQ
    model's quantization of that tensor (its scale and zero point), free of what earlier layers
    lost and of fusions (a Conv+Relu's pre-quantization value is the Conv's)."""
    from onnxruntime.quantization import qdq_loss_debug

    qdq_run = _exposed(qdq_model, workdir, "qdq")
    quantizers = qdq_quantizers(qdq_model)
    figures: dict[str, Figures] = {}
    for sample in samples:
        want = float_run(sample)
        got = qdq_run(sample)
        matching = qdq_loss_debug.create_activation_matching({k: [v] for k, v in got.items()},
                                                             {k: [v] for k, v in want.items()})
        for name in float_names:
            if name not in want:
                continue
            pair = matching.get(name, {})
            after = pair.get("post_qdq")
            value = after[0] if after is not None else got.get(name)
            if value is None or np.size(value) != np.size(want[name]):
                continue
            f = figures.setdefault(name, Figures())
            f.add(want[name], value)
            local = quantizers[name].apply(want[name]) if name in quantizers else None
            if local is not None and local.shape == np.shape(want[name]):  # its quantization alone (module doc)
                f.add_local(want[name], local)
    return figures


def _fake_quantize(op: Any) -> Quantizer | None:
    """A FakeQuantize with constant ranges as a numpy function (OpenVINO's definition)."""
    consts = []
    for i in range(1, 5):
        node = op.input(i).get_source_output().get_node()
        if node.get_type_name() != "Constant":
            return None
        consts.append(np.asarray(node.get_data(), np.float64))
    il, ih, ol, oh = (c.astype(np.float32) for c in consts)
    levels = int(op.get_attributes().get("levels", 256))
    up = np.float32(levels - 1) / np.where(ih > il, ih - il, np.float32(1.0))
    down = (oh - ol) / np.float32(levels - 1)

    def fq(x: np.ndarray) -> np.ndarray:
        """OpenVINO's FakeQuantize, in float32 and in place (a detector's tensors are large)."""
        y = np.array(x, np.float32)
        np.clip(y, il, ih, out=y)
        y -= il
        y *= up
        np.round(y, out=y)
        y *= down
        y += ol
        return y

    return Quantizer("int8" if levels <= 256 else "int16", fq)


def ir_ports(xml: Path, names: Iterable[str]) -> tuple[Any, list[Any], dict[str, Quantizer]]:
    """(model, output ports of ``names`` found by tensor name, tensor -> the FakeQuantize (NNCF)
    that quantizes it)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    by_name: dict[str, Any] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Parameter", "Constant", "Result"):
            continue
        for port in op.outputs():
            for n in port.get_names():
                by_name.setdefault(n, port)
    wanted = set(names)
    ports = [by_name[n] for n in names if n in by_name]
    quantizers: dict[str, Quantizer] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize":
            continue
        src = op.input(0).get_source_output()
        name = next((n for n in sorted(src.get_names()) if n in wanted), None)
        fq = _fake_quantize(op) if name is not None and name not in quantizers else None
        if fq is not None:
            quantizers[name] = fq  # type: ignore[index]
    return model, ports, quantizers


def compare_ir(float_run: Callable[[Sample], dict[str, np.ndarray]], xml: Path, samples: list[Sample],
               float_names: list[str]) -> tuple[dict[str, Figures], dict[str, str]]:
    """Per float tensor: the IR's value against the float one; where a FakeQuantize quantizes it,
    the local figure as for QDQ (the float value through that FakeQuantize, in numpy)."""
    from edgeconv.runtime import ir_runner

    model, ports, quantizers = ir_ports(xml, float_names)
    run = ir_runner(xml, (model, ports))
    figures: dict[str, Figures] = {}
    for sample in samples:
        want = float_run(sample)
        got = run(sample)
        for name in float_names:
            if name not in want or name not in got or np.size(got[name]) != np.size(want[name]):
                continue  # not in the IR, or its name moved to another value (a fusion): unmatched
            f = figures.setdefault(name, Figures())
            f.add(want[name], got[name])
            # qdq_loss_debug hands tensors out flattened; a FakeQuantize's ranges need the IR's shape.
            value = np.reshape(want[name], np.shape(got[name]))
            local = quantizers[name].apply(value) if name in quantizers else None
            if local is not None and local.shape == value.shape:
                f.add_local(value, local)
    return figures, {n: q.precision for n, q in quantizers.items()}


@dataclass
class Artifact:
    """One artifact to analyse: ``kind`` is qdq, ir or context (outputs only)."""

    label: str
    path: Path
    kind: str
    precision: str  # what the artifact's tensors are where it does not say per tensor (fp16, fp32)
    run_outputs: Callable[[Path, Sample], dict[str, np.ndarray]] | None = None  # verify's runner


def layer_rows(artifact: Artifact, figures: dict[str, Figures], tensors: list[tuple[str, str]],
               precision: dict[str, str], promoted: set[str]) -> list[dict[str, Any]]:
    rows = []
    for index, (name, op) in enumerate(tensors):
        f = figures.get(name)
        scale = f.scaled() if f is not None else None
        row = {"artifact": artifact.label, "role": "layer", "index": index, "tensor": name, "op_type": op,
               "precision": precision.get(name, artifact.precision),
               "matched": f is not None if scale is None else f"no: the artifact's value is x{scale:.4g}",
               "promoted": name in promoted, "worst": False}
        if f is not None and scale is None:
            row.update(f.row())
        rows.append(row)
    # The worst: by the tensor's own quantization where the artifact quantizes (that is the layer
    # that loses accuracy), else by its SQNR against the float model.
    measured = [r for r in rows if r["matched"] is True]
    if any(r.get("local_sqnr_db") is not None for r in measured):
        measured = [r for r in measured if r.get("local_sqnr_db") is not None]
        key = "local_sqnr_db"
    else:
        key = "sqnr_db"
    for r in sorted(measured, key=lambda r: r[key])[:WORST]:
        r["worst"] = True
    return rows


def output_rows(artifact: Artifact, original: Path, stage: Any, samples: list[Sample], expected: list[Sample],
                thresholds: dict[str, Any], tensors: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows at the model's outputs by verify's own comparison (the same figures as ``verify.json``),
    with their SQNR from the same runs."""
    from edgeconv.runtime import ir_runner, onnx_runner
    from edgeconv.comparison import compare, fp16_floor, one_session

    seen: list[dict[str, np.ndarray]] = []
    # verify's own runner: the artifact's (the simulator's), else one session for every sample.
    runner = artifact.run_outputs or one_session(ir_runner if artifact.path.suffix == ".xml" else onnx_runner)

    def run(path: Path, feeds: Sample) -> dict[str, np.ndarray]:
        got = runner(path, feeds)
        seen.append(got)
        return got

    # An FP16 artifact is gated at the model's FP16 floor, as verify gates it (the same figures).
    floors = (fp16_floor(original, stage, samples, expected, activations=artifact.kind == "context")
              if artifact.precision == "fp16" else None)
    report = compare(original, artifact.path, stage, samples, expected, thresholds, run, floors)
    op_of = dict(tensors)
    rows = []
    for name, figures in report["outputs"].items():
        signal = sum(float(np.sum(np.asarray(w[name], np.float64) ** 2)) for w in expected)
        noise = sum(float(np.sum((np.asarray(w[name], np.float64) - np.asarray(g[name], np.float64)) ** 2))
                    for w, g in zip(expected, seen))
        rows.append({"artifact": artifact.label, "role": "output", "index": len(tensors), "tensor": name,
                     "op_type": op_of.get(name, ""), "precision": artifact.precision, "matched": True,
                     "promoted": False, "worst": False, "sqnr_db": sqnr_db(signal, noise), "local_sqnr_db": None,
                     **figures})
    return rows, report


def analyze(float_model: Path, original: Path, stage: Any, calibration: dict[str, np.ndarray], max_images: int,
            artifacts: list[Artifact], thresholds: dict[str, dict[str, Any]], promoted: set[str],
            workdir: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows of layers.csv, summary) for ``artifacts`` against ``float_model`` and ``original``."""
    from edgeconv.comparison import reference

    samples, expected = reference(original, stage, calibration, max_images)
    tensors = graph_tensors(float_model)
    names = [n for n, _ in tensors]
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"float_model": str(float_model), "original": str(original), "samples": len(samples),
                               "tensors": len(tensors), "artifacts": {}}
    with tempfile.TemporaryDirectory(prefix="edgeconv-analyze-", dir=workdir) as tmp:
        float_run = _exposed(float_model, Path(tmp), "float")
        for artifact in artifacts:
            if artifact.kind == "qdq":
                figures = compare_qdq(float_run, artifact.path, samples, Path(tmp), names)
                precision = {n: q.precision for n, q in qdq_quantizers(artifact.path).items()}
                layers = layer_rows(artifact, figures, tensors, precision, promoted)
            elif artifact.kind == "ir":
                figures, precision = compare_ir(float_run, artifact.path, samples, names)
                layers = layer_rows(artifact, figures, tensors, precision, promoted)
            else:
                layers = []
            outs, report = output_rows(artifact, original, stage, samples, expected,
                                       thresholds.get(artifact.label, {}), tensors)
            rows += layers + outs
            summary["artifacts"][artifact.label] = _artifact_summary(artifact, layers, outs, report, promoted)
    return rows, summary


def _artifact_summary(artifact: Artifact, layers: list[dict[str, Any]], outs: list[dict[str, Any]],
                      report: dict[str, Any], promoted: set[str]) -> dict[str, Any]:
    worst = [r for r in layers if r["worst"]]
    key = "local_sqnr_db" if any(r.get("local_sqnr_db") is not None for r in worst) else "sqnr_db"
    worst.sort(key=lambda r: r[key])
    return {
        "path": str(artifact.path),
        "kind": artifact.kind,
        "compared": sum(r["matched"] is True for r in layers),
        "unmatched": [r["tensor"] for r in layers if r["matched"] is not True],
        "scaled": {r["tensor"]: r["matched"] for r in layers if isinstance(r["matched"], str)},
        "worst_by": key if layers else None,
        "worst": [{"tensor": r["tensor"], "op_type": r["op_type"], "index": r["index"], "precision": r["precision"],
                   key: r[key], "cosine": r["cosine"]} for r in worst],
        "outputs": report["outputs"],
        "passed": report["passed"],
        "promoted": sorted(promoted & {r["tensor"] for r in layers}),
        "worst_promoted": sorted(promoted & {r["tensor"] for r in worst}),
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    def cell(v: Any) -> Any:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:.6g}"
        return "" if v is None else v

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({c: cell(r.get(c)) for c in COLUMNS})
    tmp.replace(path)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """SQNR along the graph, one line per artifact; promoted tensors and the worst marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    for label in dict.fromkeys(r["artifact"] for r in rows):
        layer = [r for r in rows if r["artifact"] == label and r["role"] == "layer" and r["matched"] is True
                 and math.isfinite(r["sqnr_db"])]
        if not layer:
            continue
        xs, ys = [r["index"] for r in layer], [r["sqnr_db"] for r in layer]
        (line,) = ax.plot(xs, ys, label=label, linewidth=1)
        worst = [r for r in layer if r["worst"]]
        ax.scatter([r["index"] for r in worst], [r["sqnr_db"] for r in worst], color=line.get_color(), marker="v")
        promoted = [r for r in layer if r["promoted"]]
        if promoted:
            ax.scatter([r["index"] for r in promoted], [r["sqnr_db"] for r in promoted], facecolors="none",
                       edgecolors=line.get_color(), marker="o", label=f"{label}: kept at 16 bits")
    ax.set_xlabel("tensor (graph order)")
    ax.set_ylabel("SQNR against float (dB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
