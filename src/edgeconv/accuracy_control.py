"""Quantization that meets its accuracy gate by itself (``rvc4.accuracy_control``,
``openvino.accuracy_control``).

Plain INT8 can lose too much on some models, and the user then finds out on the device or picks a
quantization mode by trial. With accuracy control the quantizer searches for the precision
assignment that meets the target's ``verify`` thresholds while keeping as much of the model in
8 bits as it can:

- the calibration samples are split: the first ``holdout`` share (at least ``verify.max_images``,
  so the samples verify later reads are among them) is held back for the gate, the rest gives the
  quantizer its statistics. The gate is never met by fitting the samples it is measured on;
- the search is bounded by ``max_trials`` quantizations and ``max_seconds``;
- when the gate cannot be met within the budget, or even with everything the search may promote
  promoted, the step stops with the best figure reached and where, and nothing is published.

HTP (:func:`htp_search`): layers are ranked by how much 8-bit quantization of their output
activation loses (signal-to-quantization-noise ratio on the calibration samples, one float run);
the most sensitive activations are promoted to 16 bits. Plain INT8 (which fails) and the upper
bound (which passes) are measured first; the counts between them are narrowed from both sides, each
trial aimed where the two nearest figures say the gate is met (:func:`_aimed`) or, when an aim did
not halve the bracket, the middle (onnxruntime's QDQ simulation on CPU, the model's own ops), down
to the smallest passing count. The choice is written as AIMET encodings, so the rvc4 target passes the very
same precision to ``snpe-onnx-to-dlc --quantization_overrides``.

Where the HTP and the CPU part, measured: 16-bit *weights*. The HTP takes them per tensor, and
where a weight's channels differ widely in range the HTP simulator measured every tensor at 16 bits
lower than the activations alone at 16 bits (PicoDet layout: 0.9927 against 0.9962, where the CPU
measured 0.9997 against 0.9959; the two-layer graph of ``tests/unit/test_accuracy_control.py``:
0.993 against 0.9996, the CPU 0.9999 for both). 16-bit activations agreed within 0.001. So the
upper bound has two ends (every activation at 16 bits, then their weights too), the first end the
simulator passes bounds the search, and weights are promoted only when activations are not enough.
The activations end is taken from the CPU when it clears the gate by more than the two have ever
differed there (``AGREEMENT``); the weights end is always measured in the simulator.

OpenVINO: :mod:`edgeconv.accuracy_control_openvino` (a ranked search that returns the noisiest
layers of the plain INT8 model to float, or NNCF's own ``quantize_with_accuracy_control``), on the
pieces defined here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import ConversionError
from edgeconv.metrics import metrics

Samples = dict[str, np.ndarray]  # input name -> [N, ...]


class GateNotMet(ConversionError):
    """The accuracy gate was not met within the search's budget."""


@dataclass(frozen=True)
class Budget:
    max_trials: int = 12
    max_seconds: float = 1800.0
    holdout: float = 0.25


def split(calibration: Samples, holdout: float, min_validation: int) -> tuple[Samples, Samples]:
    """(statistics samples, gate samples): the gate gets the first ``max(ceil(N*holdout),
    min_validation)`` samples, leaving at least one for the statistics."""
    n = min((len(v) for v in calibration.values()), default=0)
    if n < 2:
        raise ConversionError(
            f"accuracy control needs at least 2 calibration samples (one for statistics, one held back for the "
            f"gate), got {n}; give more calibration images (calibration.max_images)"
        )
    k = min(max(math.ceil(n * holdout), min_validation, 1), n - 1)
    return {name: v[k:n] for name, v in calibration.items()}, {name: v[:k] for name, v in calibration.items()}


def samples_of(data: Samples) -> list[dict[str, np.ndarray]]:
    n = min((len(v) for v in data.values()), default=0)
    from edgeconv.arrays import sample

    return [sample(data, i) for i in range(n)]


def gate(expected: list[dict[str, np.ndarray]], got: list[dict[str, np.ndarray]], thresholds: dict[str, Any],
         detector: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verify metric over the gate samples: per output the worst cosine, the largest and mean
    absolute error, and whether every threshold is met; for a detector with ``min_map50`` set, its
    mAP@0.5 against the float model's detections too (as verify computes it)."""
    per_output: dict[str, list[dict[str, float]]] = {}
    for want, have in zip(expected, got):
        for name, value in want.items():
            per_output.setdefault(name, []).append(metrics(value, have[name]))
    outputs = {
        name: {
            "cosine": min(r["cosine"] for r in rows),
            "max_abs_error": max(r["max_abs_error"] for r in rows),
            "mean_abs_error": float(np.mean([r["mean_abs_error"] for r in rows])),
        }
        for name, rows in per_output.items()
    }
    passed = passes(outputs, thresholds)
    worst = min(outputs, key=lambda n: outputs[n]["cosine"])
    result = {"passed": passed, "worst_output": worst, "worst_cosine": outputs[worst]["cosine"], "outputs": outputs}
    if detector is not None and thresholds.get("min_map50") is not None:
        from edgeconv.comparison import detection_figures

        figures = detection_figures(detector, expected, got)
        result["map50"] = figures["map50"]
        result["passed"] = passed and figures["map50"] is not None and figures["map50"] >= thresholds["min_map50"]
    return result


# --------------------------------------------------------------------------- HTP


@dataclass
class Search:
    """What a search did, for the step record and buildinfo.json."""

    target: str
    thresholds: dict[str, Any]
    statistics_samples: int
    gate_samples: int
    candidates: int = 0
    trials: list[dict[str, Any]] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    measured_in: str = ""
    criterion: str = "worst-output cosine"
    pinned_8bit: list[str] = field(default_factory=list)  # kept at 8 bits whatever the search does

    def record(self) -> dict[str, Any]:
        # Plain INT8 as the gate's runtime measured it (the simulator, where it was asked), else the first trial.
        plains = [t for t in self.trials if not t.get("activations_16bit") and not t.get("weights_16bit")]
        plain = next((t for t in plains if t.get("measured_in") == "simulator"), self.trials[0] if self.trials else None)
        final = next((t for t in reversed(self.trials) if t.get("chosen")), None)
        return {
            "target": self.target,
            "gate": self.thresholds,
            "criterion": self.criterion,
            "measured_in": self.measured_in,
            "statistics_samples": self.statistics_samples,
            "gate_samples": self.gate_samples,
            "candidates": self.candidates,
            "kept_higher_precision": self.promoted,
            "share_8bit": round(1 - len(self.promoted) / self.candidates, 4) if self.candidates else 1.0,
            "plain_int8_worst_cosine": plain["worst_cosine"] if plain else None,
            "final_worst_cosine": final["worst_cosine"] if final else None,
            **({"plain_int8_map50": plain.get("map50"), "final_map50": final.get("map50") if final else None}
               if plain and "map50" in plain else {}),
            "trials": self.trials,
            **({"pinned_8bit": self.pinned_8bit} if self.pinned_8bit else {}),
            "seconds": round(time.monotonic() - self.started, 2),
            **({"trials_by_runtime": {w: sum(t.get("measured_in") == w for t in self.trials) for w in ("cpu", "simulator")}}
               if any(t.get("measured_in") in ("cpu", "simulator") for t in self.trials) else {}),
        }


# Ops whose output has its input's quantization (onnxruntime's QDQ quantizer shares their params).
PASS_THROUGH = frozenset({
    "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Slice", "Gather", "Split", "Concat",
    "Expand", "Tile", "Pad", "MaxPool", "Resize", "DepthToSpace", "SpaceToDepth",
})


def activation_candidates(model_path: Path, exclude: set[str]) -> list[str]:
    """Float activations the QDQ quantizer puts a QuantizeLinear on: node outputs of float type that
    are not initializers, Constant outputs or ``exclude`` (the model's inputs and outputs, kept at
    8 bits for the camera's IO)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    graph = model.graph
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output, *graph.input)}
    inits = {t.name for t in graph.initializer}
    # A tensor that shares a node with a kept 8-bit output (its input, or another output of the node
    # that makes it) must keep its type: onnxruntime gives a node's inputs and outputs one type and
    # refuses a 16-bit request on a tensor already kept at 8 bits ("Desired producer quant_type ...
    # doesn't match existing type"; a Transpose into an output, a Sigmoid head ...).
    feeds_kept = {t for n in graph.node if set(n.output) & exclude for t in (*n.input, *n.output)}
    out = []
    for node in graph.node:
        if node.op_type in ("Constant", "Shape", "Size"):
            continue
        for name in node.output:
            if (name and name not in inits and name not in exclude and name not in feeds_kept
                    and types.get(name) in float_types):
                out.append(name)
    return out


# The heights of a Conv's output at which the HTP computes its SiLU wrong with the Sigmoid at 16 bits.
SILU_BAD_HEIGHTS = range(9, 13)


def htp_pinned_8bit(model_path: Path) -> list[str]:
    """Tensors kept at 8 bits on the HTP because it computes them wrong at 16: the Sigmoid output of
    a SiLU (``t * Sigmoid(t)``) whose ``t`` a Conv makes 9 to 12 rows high (or of a height not known).

    Measured in the QNN HTP simulator (sm8550) on YOLOv8n (its 10x10 stage) and reproduced on a
    Conv -> Sigmoid -> Mul graph (tests/models.py ``silu_net``): with that Sigmoid at 16 bits, a Conv
    output 9 to 12 rows high reads 0.58 to 0.95 in cosine against onnxruntime's CPU emulation of the
    same QDQ model, whatever its width (1 to 80 columns), channels (32 to 256), kernel (1x1, 3x3) or
    stride (1, 2). 1, 3, 5, 7, 8, 13, 14, 16 to 21, 24, 25, 34, 40 and 44 rows high, a Relu instead
    of the SiLU, the SiLU without the Conv, or its Sigmoid at 8 bits with everything else at 16:
    they agree (0.99999). The heights were sampled, not derived from a rule of the HTP's; a
    Sigmoid's output lies in [0, 1], where 8 bits keep steps of 1/255."""
    import onnx

    from edgeconv.onnx_graph import Graph

    model = onnx.load(str(model_path), load_external_data=False)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - heights unknown: every Conv's SiLU is pinned
        pass
    graph = Graph(model)
    dims = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in (*graph.g.value_info, *graph.g.output)}
    pinned = []
    for node in graph.g.node:
        t = node.input[0] if node.input else ""
        conv = graph.producer.get(t)
        if node.op_type != "Sigmoid" or conv is None or conv.op_type != "Conv":
            continue
        shape = dims.get(t)
        if shape is not None and len(shape) == 4 and shape[2] is not None and shape[2] not in SILU_BAD_HEIGHTS:
            continue
        gate = node.output[0]
        if any(r.op_type == "Mul" and set(r.input) == {gate, t} for r in graph.consumers.get(gate, [])):
            pinned.append(gate)
    return pinned


def _with_pins(float_model: Path, base: dict[str, Any] | None) -> tuple[list[str], dict[str, Any] | None]:
    """What the HTP computes wrong at 16 bits (:func:`htp_pinned_8bit`), and ``base`` with it at
    8 bits, so that it stays 8-bit in every trial and in the answer."""
    pinned = htp_pinned_8bit(float_model)
    if not pinned:
        return pinned, base
    from edgeconv.encodings import normalize_io

    return pinned, normalize_io(base or {}, pinned)


def rank_by_sensitivity(model_path: Path, statistics: Samples, candidates: list[str], bits: int = 8) -> list[tuple[str, float]]:
    """Candidates ordered by the noise 8-bit quantization adds to them, most sensitive first:
    noise-to-signal power of uniform asymmetric quantization over the tensor's calibration range
    (two runs of the float model over the statistics samples, every candidate exposed)."""
    import onnx

    from edgeconv.runtime import onnx_runner

    model = onnx.load(str(model_path))
    have = {o.name for o in model.graph.output}
    for name in candidates:
        if name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    run = onnx_runner(model)
    samples = samples_of(statistics)
    # Two passes over the samples, keeping sums only (every activation of every sample would not
    # fit in memory for a large model): the calibration range, then noise and signal in it.
    lo = {name: 0.0 for name in candidates}
    hi = {name: 0.0 for name in candidates}
    for sample in samples:
        got = run(sample)
        for name in candidates:
            x = np.asarray(got[name])
            lo[name], hi[name] = min(lo[name], float(x.min(initial=0.0))), max(hi[name], float(x.max(initial=0.0)))
    levels = (1 << bits) - 1
    noise = {name: 0.0 for name in candidates}
    signal = {name: 0.0 for name in candidates}
    for sample in samples:
        got = run(sample)
        for name in candidates:
            x = np.asarray(got[name], dtype=np.float64)
            scale = (hi[name] - lo[name]) / levels if hi[name] > lo[name] else 1.0
            q = np.clip(np.round((x - lo[name]) / scale), 0, levels) * scale + lo[name]
            noise[name] += float(np.sum((x - q) ** 2))
            signal[name] += float(np.sum(x * x))
    scores = [(name, noise[name] / signal[name] if signal[name] > 0 else 0.0) for name in candidates]
    return sorted(scores, key=lambda s: -s[1])


def weight_candidates(model_path: Path, activations: set[str]) -> list[tuple[str, int]]:
    """(weight, channel axis) of the Conv/Gemm/MatMul layers whose data input is a candidate
    activation: the HTP takes 16-bit weights only with a 16-bit input (per tensor; per-channel
    16-bit Conv weights do not compile), so weights are promoted once activations are."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    inits = {t.name: t for t in graph.initializer}
    out = []
    for node in graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and len(node.input) > 1:
            data, weight = node.input[0], node.input[1]
            if data in activations and weight in inits and len(inits[weight].dims) >= 2:
                axis = 0 if node.op_type in ("Conv", "Gemm") else len(inits[weight].dims) - 1
                out.append((weight, axis))
    return list(dict.fromkeys(out))


def rank_weights(model_path: Path, weights: list[tuple[str, int]], bits: int = 8) -> list[tuple[str, float]]:
    """Weights ordered by the noise of symmetric per-channel 8-bit quantization, largest first."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in onnx.load(str(model_path)).graph.initializer}
    levels = (1 << (bits - 1)) - 1
    scores = []
    for name, axis in weights:
        w = np.moveaxis(numpy_helper.to_array(inits[name]).astype(np.float64), axis, 0).reshape(
            inits[name].dims[axis], -1)
        scale = np.abs(w).max(axis=1, keepdims=True) / levels
        scale[scale == 0] = 1.0
        noise = float(np.mean((w - np.round(w / scale) * scale) ** 2))
        signal = float(np.mean(w * w))
        scores.append((name, noise / signal if signal > 0 else 0.0))
    return sorted(scores, key=lambda s: -s[1])


def promotion_encodings(names: list[str], base: dict[str, Any] | None = None, weights: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """AIMET encodings that keep the activations ``names`` (and the ``weights``, per tensor,
    symmetric) at 16 bits, on top of the user's own ``base``."""
    import json

    payload = json.loads(json.dumps(base)) if base else {}
    acts = payload.setdefault("activation_encodings", {})
    params = payload.setdefault("param_encodings", {})
    if isinstance(acts, list):
        acts.extend({"name": n, "bitwidth": 16, "dtype": "int"} for n in names)
    else:
        for n in names:
            acts[n] = [{"bitwidth": 16, "dtype": "int"}]
    if isinstance(params, list):
        params.extend({"name": n, "bitwidth": 16, "dtype": "int", "is_symmetric": "True"} for n in weights)
    else:
        for n in weights:
            params[n] = [{"bitwidth": 16, "dtype": "int", "is_symmetric": "True"}]
    return payload


def _ladder(trial: Callable[[int], dict[str, Any] | None], total: int, start: int = 1,
            failed_at: int = 0, aim: Callable[[int, int], int | None] | None = None) -> tuple[tuple[int, dict[str, Any]] | None, bool]:
    """The smallest count k in ``start``..``total`` for which ``trial(k)`` passes, knowing that
    ``failed_at`` failed: doubling, then bisection between the last failing and the first passing
    count. ``trial`` returns None when the budget is spent. (best or None, whether ``total`` failed).

    ``aim(lo, hi)``, when given, is a count between a failing ``lo`` and a passing ``hi`` where the
    gate is expected to be met (:func:`_aimed`): the upper end is then known to pass, and the search
    narrows that bracket from both sides instead of doubling up from ``start``."""
    if aim is not None:
        return _bracket(trial, failed_at, total, aim), False
    best: tuple[int, dict[str, Any]] | None = None
    count = max(start, 1)
    while total:
        count = min(count, total)
        row = trial(count)
        if row is None:
            return None, False
        if row["passed"]:
            best = (count, row)
            break
        failed_at = count
        if count == total:
            return None, True
        count *= 2
    if best is not None:  # bisection between the last failing and the first passing count
        best = _bracket(trial, failed_at, best[0], lambda lo, hi: None) or best
    return best, False


def _bracket(trial: Callable[[int], dict[str, Any] | None], lo: int, hi: int,
             aim: Callable[[int, int], int | None]) -> tuple[int, dict[str, Any]] | None:
    """Between a failing ``lo`` and a ``hi`` known to pass: the aimed count, or the middle when the
    last aimed step did not halve the bracket (so that a poor aim costs at most twice bisection's
    trials). The smallest passing count measured, or None when none below ``hi`` passed."""
    best: tuple[int, dict[str, Any]] | None = None
    halved = True
    while hi - lo > 1:
        width, count = hi - lo, (lo + hi) // 2
        aimed = aim(lo, hi) if halved else None
        if aimed is not None and lo < aimed < hi:
            count = aimed
        row = trial(count)
        if row is None:
            break
        if row["passed"]:
            hi, best = count, (count, row)
        else:
            lo = count
        halved = 2 * (hi - lo) <= width
    return best


def _aimed(lo: tuple[int, float], hi: tuple[int, float], target: float) -> int | None:
    """The count where the worst cosine would reach ``target``, between a count ``lo`` that misses
    it and one ``hi`` that meets it (count, worst cosine), if each promotion removed the same share
    of the remaining loss (1 - cosine): promotions go most sensitive first, so the first ones gain
    most. None when the figures do not bracket the target."""
    (k_lo, c_lo), (k_hi, c_hi) = lo, hi
    loss_lo, loss_hi, want = 1.0 - c_lo, max(1.0 - c_hi, 1e-9), 1.0 - target
    if not loss_lo > want > loss_hi or k_hi - k_lo < 2:
        return None
    share = math.log(loss_lo / want) / math.log(loss_lo / loss_hi)
    return min(k_hi - 1, max(k_lo + 1, round(k_lo + share * (k_hi - k_lo))))


class _Budget:
    """Trials and seconds left for the whole step. A trial is not started when it would not end in
    time: its cost is estimated by the slowest trial of its kind so far (or of any kind) plus a
    fifth, and a CPU trial also keeps back the time of the simulator's confirmation after it."""

    def __init__(self, budget: Budget, search: Search) -> None:
        self.budget, self.search = budget, search

    def elapsed(self) -> float:
        return time.monotonic() - self.search.started

    def estimate(self, where: str) -> float:
        """The slowest trial of this kind so far (else of any kind), with a fifth more for noise."""
        same = [t["seconds"] for t in self.search.trials if t["measured_in"] == where]
        anything = [t["seconds"] for t in self.search.trials]
        return 1.2 * max(same or anything or [0.0])

    def allows(self, where: str, confirm: bool) -> bool:
        if len(self.search.trials) >= self.budget.max_trials:
            return False
        need = self.estimate(where) + (self.estimate("simulator") if confirm and where == "cpu" else 0.0)
        return self.elapsed() + need <= self.budget.max_seconds

    def left(self) -> str:
        return (f"{self.budget.max_trials - len(self.search.trials)} trial(s), "
                f"{max(0.0, self.budget.max_seconds - self.elapsed()):.0f} s left")


def passes(outputs: dict[str, dict[str, float]], thresholds: dict[str, Any]) -> bool:
    """Whether per-output figures (as :func:`gate` gives them) meet ``thresholds``."""
    return all(
        (thresholds.get("min_cosine") is None or o["cosine"] >= thresholds["min_cosine"])
        and (thresholds.get("max_abs_error") is None or o["max_abs_error"] <= thresholds["max_abs_error"])
        and (thresholds.get("mean_abs_error") is None or o["mean_abs_error"] <= thresholds["mean_abs_error"])
        for o in outputs.values()
    )


def raised(thresholds: dict[str, Any], gap: float) -> dict[str, Any]:
    """``thresholds`` with ``min_cosine`` raised by ``gap``, at most halfway to 1."""
    if not gap or thresholds.get("min_cosine") is None:
        return thresholds
    low = float(thresholds["min_cosine"])
    return {**thresholds, "min_cosine": low + min(gap, (1.0 - low) / 2)}


def _map50(row: dict[str, Any], thresholds: dict[str, Any]) -> str:
    """A trial's detection figure, for a search gated on min_map50."""
    if "map50" not in row:
        return ""
    return f" (mAP@0.5 {'none' if row['map50'] is None else format(row['map50'], '.4f')} against min_map50 {thresholds['min_map50']})"


def htp_search(
    float_model: Path,
    calibration: Samples,
    thresholds: dict[str, Any],
    budget: Budget,
    min_validation: int,
    quantize: Callable[[Samples, dict[str, Any] | None, Path], None],
    workdir: Path,
    base: dict[str, Any] | None = None,
    keep_8bit: set[str] = frozenset(),  # type: ignore[assignment]
    activations_16bit: bool = False,
    runner_for: Callable[[Path], Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]] | None = None,
    measured_in: str = "onnxruntime QDQ simulation (CPU)",
    progress: Callable[[str], None] | None = None,
    detector: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The fewest 16-bit tensors that meet the gate: (encodings to apply, or None when plain INT8
    passes; the search record).

    Tensors are promoted in the order of one ranked list, computed once: activations, most
    sensitive first, then (when every activation at 16 bits is not enough) the weights of the layers
    that read them (per tensor); with ``activations_16bit`` (a mode that already quantizes
    activations to 16 bits) only weights. The count is found by doubling, then bisection.

    Honest bounds first: plain INT8 is measured, and when it fails, the other end: every candidate
    activation at 16 bits, then their weights too, in the target's own runtime (the activations end
    on the CPU when it clears the gate by ``AGREEMENT``); when no end passes the search stops at once,
    saying which figures bound it and what would lift them.

    ``quantize(statistics, encodings, out)`` makes a QDQ model (the caller collects the activation
    ranges once and reuses them). The search's trials run in onnxruntime's QDQ simulation on the CPU.
    ``runner_for(path)``, when given, is the target's own runtime (the HTP simulator): the CPU's
    choice (plain INT8 too, when the CPU says it passes) is measured there before it is kept; where
    the simulator measures lower, the CPU must clear the gate by that gap and the search goes on
    above that count; after a second disagreement the simulator goes on alone, up from the last
    count it failed in steps of 1, 2, 4 ...; it then bisects between its last failing and passing
    counts. A simulator trial runs the hardest gate sample so far first and stops at the first
    sample that fails. ``progress`` gets one line per trial. ``detector`` (what an adapted detector
    carries) with ``min_map50`` in the gate: a trial passes only when its mAP@0.5 against the float
    model's detections meets it too (the ranking and the early stops stay on the cosine)."""
    return HtpSearch(float_model, calibration, thresholds, budget, min_validation, quantize, workdir, base, keep_8bit,
                     activations_16bit, runner_for, measured_in, progress, detector).run()


Best = tuple[int, dict[str, Any]]  # (count of 16-bit tensors, the trial that passed with it)
# How far the CPU's and the HTP simulator's worst-output cosines of the same QDQ model with 8-bit
# weights have differed, measured: every activation at 16 bits, PicoDet layout 0.0003 and the tests'
# two-layer graph 0.0003; plain INT8, ISNet 0.0002 and BlazeFace 0.0009. A CPU figure for every
# activation at 16 bits this far above the gate is taken without the simulator.
AGREEMENT = 0.002


def _unreachable(search: HtpSearch, rows: list[tuple[int, dict[str, Any]]], acts: int, where: str) -> GateNotMet:
    """The error of an upper bound that misses the gate: each end's measured figure, and what would lift it."""
    io = ("The model's inputs and outputs stay 8-bit (rvc4.normalize_io_encodings); setting it to false lets the "
          "search give them 16 bits; other ways up: " if search.keep_8bit else "What would lift it: ")
    figures = "; ".join(
        f"with every candidate activation{' and weight' if k > acts else ''} at 16 bits "
        f"({acts}{f' and {k - acts}' if k > acts else ''}), the worst output's cosine is {row['worst_cosine']:.6f} "
        f"on {row['worst_output']!r}{_map50(row, search.thresholds)}" for k, row in rows)
    plains = [t for t in search.search.trials if not t["activations_16bit"] and not t["weights_16bit"]]
    plain = next((t for t in plains if t["measured_in"] == where), plains[0])
    plain_where = f" ({'simulator' if plain['measured_in'] == 'simulator' else 'CPU'})" if search.confirm else ""
    return GateNotMet(
        f"accuracy control (qnn_htp): the gate {search.thresholds} cannot be met: measured in "
        f"{search.search.measured_in if where == 'simulator' else 'onnxruntime QDQ simulation (CPU)'}"
        f"{' on the hardest held-back sample' if any(row.get('samples_run') for _, row in rows) else ''}, {figures}; "
        f"plain INT8 {plain['worst_cosine']:.6f}{plain_where}{_map50(plain, search.thresholds)}. "
        f"{io}quantization_mode FP16_STANDARD, or more representative calibration data"
    )


def _not_met(search: HtpSearch, exhausted: bool) -> GateNotMet:
    """The error of a search that found no passing count. Only what was measured where the gate is
    (the simulator, when there is one): its best figure, and the claim that everything was tried only
    when a trial there had every candidate at 16 bits; the CPU's figures, when they are better, are
    named as the CPU's, with the disagreement."""
    trials = search.search.trials
    at_gate = [t for t in trials if t["measured_in"] == "simulator"] if search.confirm else trials
    top = max(at_gate or trials, key=lambda t: t["worst_cosine"])
    where = search.search.measured_in if at_gate else "onnxruntime QDQ simulation (CPU)"
    end = search.reach if search.reach and search.firm else len(search.ranked) + len(search.weights)
    last = next((t for t in reversed(at_gate) if t["activations_16bit"] + t["weights_16bit"] >= end), None)
    if exhausted and end == 0:
        why = f"in {where}: no tensor may go to 16 bits"
    elif exhausted and last is not None:
        acts, wts = last["activations_16bit"], last["weights_16bit"]
        counts = f"{acts} and {wts}" if wts else f"{acts}"
        why = (f"in {where}: with every candidate activation{' and weight' if wts else ''} at 16 bits ({counts}) "
               f"the worst output's cosine is {last['worst_cosine']:.6f} on {last['worst_output']!r}"
               f"{_map50(last, search.thresholds)}")
    elif exhausted:
        why = f"in {where} at any count it measured"
    else:
        why = f"within the budget ({len(trials)} trials, {search.limits.elapsed():.0f} s), measured in {where}"
    cpu = [t for t in trials if t["measured_in"] == "cpu"]
    cpu_top = max(cpu, key=lambda t: t["worst_cosine"]) if search.confirm and cpu else None
    disagree = ""
    if cpu_top is not None and cpu_top["worst_cosine"] > top["worst_cosine"]:
        disagree = (f" onnxruntime's QDQ simulation on the CPU measured up to {cpu_top['worst_cosine']:.6f} (with "
                    f"{cpu_top['activations_16bit']} activations and {cpu_top['weights_16bit']} weights at 16 bits): the CPU "
                    "and the simulator disagree on this model, and the gate is the simulator's (docs/accuracy.md).")
    if not exhausted:
        lift = "Raise rvc4.accuracy_control.max_trials or max_seconds, or use"
    elif search.keep_8bit:
        lift = ("The model's inputs and outputs stay 8-bit (rvc4.normalize_io_encodings); set it to false to let the "
                "search give them 16 bits, or use")
    else:
        lift = "Use"
    return GateNotMet(
        f"accuracy control (qnn_htp): the gate {search.thresholds} was not met {why}; best worst-output cosine "
        f"{top['worst_cosine']:.6f} on {top['worst_output']!r}{_map50(top, search.thresholds)} with "
        f"{top['activations_16bit']} of {len(search.ranked)} activations and {top['weights_16bit']} of {len(search.weights)} "
        f"weights at 16 bits.{disagree} {lift} FP16_STANDARD, or give more representative calibration data"
    )


class HtpSearch:
    """One accuracy-control search for the HTP (:func:`htp_search`), in named pieces: the candidates
    and their ranking, one trial's measurement and progress line, the CPU phase, the simulator's
    confirmation, and the answer; the simulator's own phase and its bisection follow the class."""

    def __init__(self, float_model: Path, calibration: Samples, thresholds: dict[str, Any], budget: Budget,
                 min_validation: int, quantize: Callable[[Samples, dict[str, Any] | None, Path], None], workdir: Path,
                 base: dict[str, Any] | None, keep_8bit: set[str], activations_16bit: bool,
                 runner_for: Callable[[Path], Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]] | None,
                 measured_in: str, progress: Callable[[str], None] | None, detector: dict[str, Any] | None = None) -> None:
        from edgeconv.runtime import onnx_runner

        self.detector = detector if thresholds.get("min_map50") is not None else None  # then gated on mAP@0.5 too
        self.float_model, self.thresholds, self.budget = float_model, thresholds, budget
        self.quantize, self.workdir, self.base = quantize, workdir, base
        self.keep_8bit, self.activations_16bit, self.runner_for = keep_8bit, activations_16bit, runner_for
        self.statistics, held = split(calibration, budget.holdout, min_validation)
        self.search = Search("qnn_htp", thresholds, len(next(iter(self.statistics.values()))),
                             len(next(iter(held.values()))))
        self.search.measured_in = measured_in if runner_for else "onnxruntime QDQ simulation (CPU)"
        self.limits, self.feeds = _Budget(budget, self.search), samples_of(held)
        reference = onnx_runner(float_model)  # one session for every gate sample
        self.expected = [reference(f) for f in self.feeds]
        self.confirm, self.say = runner_for is not None, progress or (lambda line: None)
        # The thresholds one failing sample settles (a mean error needs every sample).
        self.bounds_only = {k: v for k, v in thresholds.items() if k in ("min_cosine", "max_abs_error")}
        self.search.pinned_8bit, self.base = _with_pins(float_model, base)
        self.candidates = [c for c in activation_candidates(float_model, set(keep_8bit)) if c not in self.search.pinned_8bit]
        self.weights = [name for name, _ in rank_weights(float_model, weight_candidates(float_model, set(self.candidates)))]
        self.ranked: list[str] = []  # the activations in promotion order, ranked once plain INT8 has failed
        self.search.candidates = len(self.candidates) + len(self.weights) if not activations_16bit else len(self.weights)
        self.outputs_of: dict[int, dict[str, dict[str, float]]] = {}  # trial number -> per-output figures
        self.hardest = list(range(len(self.feeds)))  # the gate samples, lowest cosine in the last trial first
        # The CPU's figures, memoized by count, are judged against the gate raised by how much lower the
        # simulator measured the same model so far (the gap), so that what the CPU chooses passes there.
        self.cpu_rows: dict[int, dict[str, Any]] = {}
        self.gap = 0.0
        self.reach, self.firm, self.bound = 0, True, 0  # the upper bound: its count, measured there, probe passed
        self.top: dict[str, Any] | None = None  # the upper bound's passing row (the CPU's, or the simulator's probe)

    # ------------------------------------------------------------------ the candidates

    def promotion_order(self) -> int:
        """Rank the activations (two float runs), once plain INT8 has failed; the list's length."""
        if not self.ranked and not self.activations_16bit:
            self.ranked[:] = [name for name, _ in rank_by_sensitivity(self.float_model, self.statistics, self.candidates)]
        return len(self.ranked) + len(self.weights)

    def aim(self, lo: int, hi: int) -> int | None:
        """The count to try between a failing ``lo`` and a passing ``hi`` (:func:`_aimed`), from the
        worst cosines measured there: the CPU's, or at the upper bound the simulator's probe."""
        target = self.thresholds.get("min_cosine")
        ends = self.cpu_rows.get(lo), self.cpu_rows.get(hi) or (self.top if hi == self.reach else None)
        if target is None or ends[0] is None or ends[1] is None:
            return None
        return _aimed((lo, ends[0]["worst_cosine"]), (hi, ends[1]["worst_cosine"]), target + self.gap)

    def split_count(self, k: int) -> tuple[list[str], list[str]]:
        """The activations and weights the first ``k`` of the promotion order are."""
        return self.ranked[: min(k, len(self.ranked))], self.weights[: max(0, k - len(self.ranked))]

    # ------------------------------------------------------------------ one trial

    def measure(self, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], order: list[int],
                stop_early: bool) -> tuple[dict[str, Any], int]:
        """The gate over the samples in ``order``; with ``stop_early``, over those run until one fails."""
        want, got, worst = [], [], {}
        for i in order:
            want.append(self.expected[i])
            got.append(run(self.feeds[i]))
            worst[i] = gate([want[-1]], [got[-1]], self.thresholds)["worst_cosine"]
            if stop_early and not passes(gate(want, got, self.thresholds)["outputs"], self.bounds_only):
                break
        self.hardest.sort(key=lambda i: worst.get(i, 2.0))
        return gate(want, got, self.thresholds, self.detector), len(got)

    def verdict(self, row: dict[str, Any], outputs: dict[str, dict[str, float]]) -> str:
        if row["measured_in"] == "cpu" and self.gap:
            meets = passes(outputs, raised(self.thresholds, self.gap))
            return f"{'meets' if meets else 'misses'} the gate raised by {self.gap:.4f}"
        return f"{'meets' if row['passed'] else 'misses'} the gate"

    def trial(self, k: int, where: str, probe: bool = False) -> dict[str, Any] | None:
        """The first ``k`` tensors at 16 bits, quantized and measured on the CPU or in the simulator;
        None when the budget does not allow it. One progress line. ``probe``: on the hardest sample
        alone (a failure there is the gate's failure; a pass is not the gate's pass)."""
        from edgeconv.runtime import onnx_runner

        if not self.limits.allows(where, self.confirm):
            return None
        acts, wts = self.split_count(k)
        started = time.monotonic()
        out = self.workdir / f"trial_{len(self.search.trials)}.onnx"
        encodings = promotion_encodings(acts, self.base, wts) if acts or wts or self.base else None
        self.quantize(self.statistics, encodings, out)
        simulated = where == "simulator" and self.runner_for is not None
        run = self.runner_for(out) if simulated else onnx_runner(out)
        # The simulator costs about a second a sample: it runs the hardest sample so far first and
        # stops at the first that already fails (a worst cosine or largest error cannot improve).
        result, ran = self.measure(run, self.hardest[:1] if probe else self.hardest, stop_early=simulated)
        self.outputs_of[len(self.search.trials)] = result["outputs"]
        del run
        for made in self.workdir.glob(f"{out.name.removesuffix('.onnx')}*"):
            made.unlink(missing_ok=True)
        row = {"trial": len(self.search.trials), "activations_16bit": len(acts), "weights_16bit": len(wts),
               "worst_cosine": round(result["worst_cosine"], 6), "worst_output": result["worst_output"],
               "passed": result["passed"], "measured_in": where, "seconds": round(time.monotonic() - started, 2),
               **({"map50": result["map50"]} if "map50" in result else {})}
        if ran < len(self.feeds):
            row["samples_run"] = ran
        if probe:
            row["probe"] = True
        self.search.trials.append(row)
        self.say(f"trial {row['trial']} ({where}): {len(acts)} activation(s) and {len(wts)} weight(s) of "
                 f"{self.search.candidates} at 16 bits: worst cosine {row['worst_cosine']:.6f} on {row['worst_output']!r} "
                 f"({self.verdict(row, result['outputs'])}) in {row['seconds']:.1f} s"
                 f"{f' on {ran} of {len(self.feeds)} samples' if ran < len(self.feeds) else ''}; {self.limits.left()}")
        return row

    def cpu(self, k: int) -> dict[str, Any] | None:
        """A CPU trial of count ``k`` (memoized), passed only when it clears the gate raised by the gap."""
        if k not in self.cpu_rows:
            row = self.trial(k, "cpu")
            if row is None:
                return None
            self.cpu_rows[k] = row
        row, ok = self.cpu_rows[k], self.cpu_rows[k].get("map50", 1.0) or 0.0  # a detector's mAP@0.5, when gated
        return {**row, "passed": ok >= self.thresholds.get("min_map50", 0.0) and passes(self.outputs_of[row["trial"]], raised(self.thresholds, self.gap))}

    # ------------------------------------------------------------------ the phases

    def upper_bound(self, total: int, trust_cpu: bool = True) -> int:
        """The other end: every candidate activation at 16 bits, then (only if that is not enough) their
        weights too. The first count that passes bounds the search; when none does, stop now with the
        figures. Measured in the simulator on its hardest sample (a failure there is the gate's), except
        activations the CPU passes by more than ``AGREEMENT``: on 16-bit activations the two agree, on
        16-bit weights they part (the module's docstring), so only the latter need the simulator."""
        where, acts = "simulator" if self.confirm else "cpu", len(self.ranked)
        if self.confirm and acts and trust_cpu:
            row = self.cpu(acts)
            if row is None:
                return acts
            if row["passed"] and passes(self.outputs_of[row["trial"]], raised(self.thresholds, AGREEMENT)):
                self.top = row
                self.say(f"every candidate activation at 16 bits clears the gate on the CPU by more than {AGREEMENT} (the CPU "
                         "and the simulator agree on them): the search stays within them; the simulator measures its choice")
                self.firm = False  # not measured in the simulator: weights join if it disagrees
                return acts
        rows = []
        for k in [acts, total] if 0 < acts < total else [total]:
            row = self.trial(k, where, probe=True) if where == "simulator" else self.cpu(k)
            if row is None or row["passed"]:
                self.bound = k if row is not None and where == "simulator" else 0
                self.top = row
                return k
            rows.append((k, row))
        raise _unreachable(self, rows, acts, where)

    def confirm_in_simulator(self, best: Best | None, exhausted: bool) -> tuple[Best | None, bool, int]:
        """The CPU's choice, measured where the gate is: kept if it passes; else the gap grows and the
        search goes on above that count, in growing steps (the CPU's ranking may not tell the counts
        above apart any more); after a second disagreement the simulator goes on alone.
        (best, exhausted, the last count the simulator failed)."""
        lo, step, disagreements = 0, 1, 0
        while best is not None:
            k = best[0]
            row = self.trial(k, "simulator")
            if row is None:
                return None, exhausted, lo
            if row["passed"]:
                return (k, row), exhausted, lo
            self.gap = max(self.gap, self.cpu_rows[k]["worst_cosine"] - row["worst_cosine"] + 1e-4)
            self.say(f"the simulator measured {row['worst_cosine']:.6f} where the CPU measured "
                     f"{self.cpu_rows[k]['worst_cosine']:.6f}: the CPU's figures must now clear the gate by {self.gap:.4f}")
            lo = k
            if not self.reach:
                # Plain INT8 passed on the CPU, so no end was measured; it fails in the simulator, so the
                # CPU's figures are not the simulator's on this model: the other end is measured there
                # now, before the search goes on (it stops at once when even that end fails).
                self.reach, self.firm = self.upper_bound(self.promotion_order(), trust_cpu=False), True
            total = self.reach if self.reach and self.firm else self.promotion_order()
            if lo >= total:
                return None, True, lo
            disagreements += 1
            if disagreements >= 2:
                # The CPU's choice failed in the simulator twice: the CPU no longer tells these counts
                # apart. The simulator goes on by itself, up from the last failing count in growing
                # steps (1, 2, 4 ...), then bisects.
                return _simulator_ladder(self, lo, total)
            start = min(total, lo + step)
            step *= 2
            best, exhausted = _ladder(self.cpu, total, start=start, failed_at=start - 1)
        return best, exhausted, lo

    # ------------------------------------------------------------------ the answer

    def chosen(self, best: Best) -> tuple[dict[str, Any], dict[str, Any]]:
        best[1]["chosen"] = True
        acts, wts = self.split_count(best[0])
        self.search.promoted = acts + wts
        record = self.search.record()
        record["activations_16bit"], record["weights_16bit"] = acts, wts
        self.say(f"chose {len(acts)} activation(s) and {len(wts)} weight(s) at 16 bits "
                 f"({record['share_8bit']:.1%} of the candidates stay 8-bit) after {len(self.search.trials)} trial(s), "
                 f"{self.limits.elapsed():.0f} s")
        return promotion_encodings(acts, self.base, wts), record

    def run(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if self.search.pinned_8bit:
            self.say(f"{len(self.search.pinned_8bit)} Sigmoid output(s) of a SiLU after a Conv stay 8-bit (the HTP "
                     "computes them wrong at 16 bits; docs/accuracy.md)")
        self.say(f"{self.search.candidates} tensor(s) may go to 16 bits; gate {self.thresholds} on {len(self.feeds)} "
                 f"held-back sample(s); budget {self.budget.max_trials} trials, {self.budget.max_seconds:.0f} s")
        plain = self.cpu(0)
        if plain is None:
            raise GateNotMet(f"accuracy control (qnn_htp): no trial fits the budget ({self.budget}); raise "
                             "rvc4.accuracy_control.max_seconds or max_trials")
        best: Best | None = None
        exhausted = False
        if plain["passed"]:
            best = (0, self.cpu_rows[0])
        else:
            total = self.promotion_order()
            if total:
                total = self.reach = self.upper_bound(total)
            aim = self.aim if self.top is not None else None
            best, exhausted = _ladder(self.cpu, total, aim=aim) if total else (None, True)
            if best is None and aim is not None and {total - 1, total} <= set(self.cpu_rows) and self.cpu(total)["passed"]:
                best = (total, self.cpu_rows[total])  # the upper bound, measured on the CPU: the count below it failed
        lo = 0
        if self.confirm and best is None and self.bound:
            # The CPU found no passing count up to the one the simulator's probe passed: the simulator
            # measures that one on every sample, then bisects below it (within the budget).
            row = self.trial(self.bound, "simulator")
            best = _bisect_in_simulator(self, 0, (self.bound, row)) if row is not None and row["passed"] else None
        elif self.confirm:
            best, exhausted, lo = self.confirm_in_simulator(best, exhausted)
            if best is not None and lo > 0 and best[0] - lo > 1:
                best = _bisect_in_simulator(self, lo, best)
        elif best is not None:
            best = (best[0], self.cpu_rows[best[0]])
        if best is not None and best[0] == 0:
            best[1]["chosen"] = True
            return None, self.search.record()
        if best is None:
            raise _not_met(self, exhausted)
        return self.chosen(best)


def _simulator_ladder(search: HtpSearch, lo: int, total: int) -> tuple[Best | None, bool, int]:
    """The simulator alone, up from ``lo`` in growing steps (1, 2, 4 ...): (first passing count
    above ``lo`` or None, whether ``total`` failed, last failing count)."""
    grow = 1
    while lo < total:
        k = min(total, lo + grow)
        row = search.trial(k, "simulator")
        if row is None:
            return None, False, lo
        if row["passed"]:
            return (k, row), False, lo
        lo, grow = k, grow * 2
    return None, True, lo


def _bisect_in_simulator(search: HtpSearch, lo: int, best: Best) -> Best:
    """Between the last count the simulator failed and the one it passed: bisection there."""
    return _bracket(lambda k: search.trial(k, "simulator"), lo, best[0], lambda lo, hi: None) or best
