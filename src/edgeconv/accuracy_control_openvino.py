"""OpenVINO accuracy control (``openvino.accuracy_control``): an NNCF INT8 IR that meets
``verify.openvino_int8``'s gate on held-back samples, keeping as many layers INT8 as it can.

Both methods start from plain ``nncf.quantize`` and stop there when it meets the gate. When it does
not (``openvino.accuracy_control.method``):

- ``ranked`` (our own): the layers NNCF quantized are ranked once (:class:`RankedSearch`: by
  their local 8-bit noise, one run; the noisiest then by what returning each alone to float gains
  on statistics samples, never the gate's), and the top ``k`` go back to float in the plain INT8
  model itself (:func:`reverted`: their quantizers bypassed, float weights and biases), ``k`` found
  by doubling and bisection, then each of them the gate holds without goes back to INT8; one
  compile and one measurement per trial, a progress line each.
  Not through ``nncf.quantize(ignored_scope=...)``: re-quantizing around ignored layers moves the
  other quantizers and bias corrections, and the figure stopped growing with ``k`` (ppocr_rec: the
  top 4 ignored scored 0.939, plain INT8 0.954), which bisection cannot work with;
- ``nncf``: NNCF's ``quantize_with_accuracy_control``, which ranks by reverting layer groups one at
  a time and measuring each (`BENCHMARKS.md` (s) has both side by side).

The measure is the verify metric (worst-output cosine, or mAP@0.5 for a detector gated on
``min_map50``) of the IR as it will be saved, run in OpenVINO's CPU runtime, against the float ONNX
model in onnxruntime: what verify measures.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np

from edgeconv.accuracy_control import Budget, GateNotMet, Samples, Search, _Budget, _ladder, gate, samples_of, split
from edgeconv.metrics import metrics
from edgeconv.threads import measuring_config

# Ops NNCF moves a quantizer across (it quantizes their input for the layer after them): the layer
# that owns a FakeQuantize is found past them.
QUANTIZE_AGNOSTIC = frozenset({
    "Concat", "Interpolate", "MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Split", "VariadicSplit",
    "StridedSlice", "Slice", "Pad", "DepthToSpace", "SpaceToDepth", "Gather", "Broadcast", "Tile", "ShuffleChannels",
})
WEIGHTED = frozenset({"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData",
                      "GroupConvolutionBackpropData"})


class _Gate:
    """The held-back samples, the float model's outputs on them, and the measure of a model."""

    def __init__(self, model: Any, calibration: Samples, thresholds: dict[str, Any], budget: Budget,
                 min_validation: int, detector: dict[str, Any] | None, compress_to_fp16: bool,
                 reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None) -> None:
        import openvino as ov

        statistics, held = split(calibration, budget.holdout, min_validation)
        names = [p.get_any_name() for p in model.inputs]
        self.stats = [{n: s[n] for n in names} for s in samples_of(statistics)]
        self.feeds = [{n: s[n] for n in names} for s in samples_of(held)]
        self.thresholds = thresholds
        self.by_detections = detector is not None and thresholds.get("min_map50") is not None
        self.detector = detector if self.by_detections else None
        self.core, self.compress_to_fp16 = ov.Core(), compress_to_fp16
        self.outputs = [o.get_any_name() for o in model.outputs]
        # The float outputs the gate compares with: the reference runtime's (verify's own, onnxruntime
        # on the float ONNX model) when given and it has every output; else OpenVINO's of the float model.
        self.reference = reference
        self.model = model
        self.expected = self.float_outputs(model, self.feeds)
        # The ranking's own samples: statistics samples (at least as many as the gate has, up to 8),
        # never the gate's.
        self.ranking = self.stats[: max(len(self.feeds), 8)]

    @cached_property
    def ranking_expected(self) -> list[dict[str, np.ndarray]]:
        """The float outputs on the ranking samples, computed only when a search ranks."""
        return self.float_outputs(self.model, self.ranking)

    def float_outputs(self, model: Any, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        expected = [self.reference(f) for f in feeds] if self.reference is not None else []
        if expected and all(n in expected[0] for n in self.outputs):
            return [{n: e[n] for n in self.outputs} for e in expected]
        return self.run(model, feeds)

    def run(self, model: Any, feeds: list[dict[str, np.ndarray]] | None = None) -> list[dict[str, np.ndarray]]:
        compiled = self.core.compile_model(model, "CPU", measuring_config())
        results = [compiled(f) for f in (self.feeds if feeds is None else feeds)]  # one inference a sample
        return [{n: result[i] for i, n in enumerate(self.outputs)} for result in results]

    def score(self, model: Any) -> float:
        """One figure on the ranking samples, for ordering layers: mAP@0.5 for a detector gated on it,
        else the mean over samples of the worst output's cosine (a mean: the worst sample of the
        ranking samples is not the gate's, and a layer that helps every sample helps there too)."""
        got = self.run(model, self.ranking)
        if self.by_detections:
            return float(gate(self.ranking_expected, got, self.thresholds, self.detector).get("map50") or 0.0)
        return float(np.mean([gate([want], [have], self.thresholds)["worst_cosine"]
                              for want, have in zip(self.ranking_expected, got)]))

    def measure(self, model: Any) -> dict[str, Any]:
        """The gate on the IR as it will be written: with ``compress_to_fp16``, the layers left in float
        keep FP16 weights (measured in memory, they would have FP32 ones and score higher)."""
        if not self.compress_to_fp16:
            return gate(self.expected, self.run(model), self.thresholds, self.detector)
        import openvino as ov

        with tempfile.TemporaryDirectory(prefix="edgeconv-trial-") as tmp:
            ov.save_model(model, f"{tmp}/trial.xml", compress_to_fp16=True)
            return gate(self.expected, self.run(self.core.read_model(f"{tmp}/trial.xml")), self.thresholds, self.detector)

    def row(self, trial: int, kind: str, result: dict[str, Any], started: float, **extra: Any) -> dict[str, Any]:
        return {"trial": trial, "kind": kind, "worst_cosine": round(result["worst_cosine"], 6),
                "worst_output": result["worst_output"], "passed": result["passed"], "measured_in": "openvino",
                **({"map50": result["map50"]} if "map50" in result else {}), **extra,
                "seconds": round(time.monotonic() - started, 2)}

    def figure(self, row: dict[str, Any]) -> str:
        text = f"worst cosine {row['worst_cosine']:.6f} on {row['worst_output']!r}"
        if "map50" in row:
            text += f", mAP@0.5 {'none' if row['map50'] is None else format(row['map50'], '.4f')}"
        return text


def openvino_search(
    model: Any,
    calibration: Samples,
    thresholds: dict[str, Any],
    budget: Budget,
    min_validation: int,
    options: dict[str, Any],
    detector: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """NNCF INT8 of an OpenVINO model that meets the gate: (the model, the search record). Plain
    ``nncf.quantize`` first; when it fails, the method ``options["accuracy_control"]["method"]``
    (``ranked`` by default, or ``nncf``). ``detector`` (what an adapted detector carries) with
    ``min_map50`` in the gate: the criterion is mAP@0.5 against the float model's detections.
    ``progress`` gets one line per trial. Every figure is the IR's as it will be saved
    (``options["compress_to_fp16"]``, default true), against ``reference``'s outputs when given (the
    float ONNX model in onnxruntime, as verify measures), every run compiled for f32
    (:func:`edgeconv.threads.measuring_config`)."""
    import nncf

    setup = _Gate(model, calibration, thresholds, budget, min_validation, detector,
                  bool(options.get("compress_to_fp16", True)), reference)
    method = (options.get("accuracy_control") or {}).get("method", "ranked")
    search = Search("openvino", thresholds, len(setup.stats), len(setup.feeds), measured_in="OpenVINO CPU")
    if setup.by_detections:
        search.criterion = "mAP@0.5 against the float model's detections"
    preset = nncf.QuantizationPreset.MIXED if options.get("preset") == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    common = {"preset": preset, "subset_size": min(int(options.get("subset_size", 300)), len(setup.stats)),
              "fast_bias_correction": bool(options.get("fast_bias_correction", True))}
    say = progress or (lambda line: None)
    started = time.monotonic()
    plain = nncf.quantize(model, nncf.Dataset(setup.stats), **common)
    layers = quantized_layers(plain)
    search.candidates = len(layers)
    search.trials.append(setup.row(0, "nncf.quantize", setup.measure(plain), started))
    row = search.trials[-1]
    say(f"trial 0: plain INT8 ({search.candidates} layers in INT8): {setup.figure(row)} "
        f"({'meets' if row['passed'] else 'misses'} the gate) in {row['seconds']:.1f} s")
    if row["passed"]:
        row["chosen"] = True
        return plain, {**search.record(), "method": "none needed"}
    if thresholds.get("min_cosine") is None and not setup.by_detections:
        raise GateNotMet("openvino.accuracy_control needs verify.openvino_int8.min_cosine (or min_map50 for a "
                         "detector): the gate it searches for")
    if method == "nncf":
        chosen = _nncf_search(model, setup, search, budget, common)
    else:
        chosen = RankedSearch(model, plain, setup, search, budget, say).run()
    search.promoted = sorted(layers - quantized_layers(chosen))
    record = search.record()
    record["method"] = method
    return chosen, record


class RankedSearch:
    """The ``ranked`` method: the layers in float are the top ``k`` of one ranking, reverted in the
    plain INT8 model (:func:`reverted`); ``k`` by doubling, then bisection, then each of the ``k``
    the gate holds without goes back to INT8 (:meth:`prune`). The ranking: every quantized layer by its
    local noise (:func:`layer_noise`, one run), then the ``REFINED`` noisiest reordered by what
    returning each alone to float gains on the ranking samples (:func:`revert_gains`: a compile
    and a run each, no quantization); the local noise alone misses how much of a layer's noise
    reaches the outputs (ppocr_rec: NNCF's choice was 10th by it, 1st by its gain)."""

    REFINED = 24

    def __init__(self, model: Any, plain: Any, setup: _Gate, search: Search, budget: Budget,
                 say: Callable[[str], None]) -> None:
        self.setup, self.search, self.say = setup, search, say
        self.limits = _Budget(budget, search)
        started = time.monotonic()
        local = [name for name, _ in layer_noise(model, plain, setup.stats)]
        self.local_seconds = round(time.monotonic() - started, 2)
        started = time.monotonic()
        self.plain, self.floats = plain, model.clone()  # the copy's weights are wired into the trials
        self.float_ops = {op.get_friendly_name(): op for op in self.floats.get_ops()}
        # Refined by their gain too: the quantize-agnostic layers (a resize reading a quantizer),
        # whose local noise says little (MediaPipe's pose landmarks: a resize of the mask's
        # decoder ranked last by it, and the one layer the gate cannot do without).
        agnostic = set(local) - owned_layers(plain)
        top = local[: self.REFINED] + [n for n in local[self.REFINED:] if n in agnostic]
        gains = revert_gains(plain, self.float_ops, top, setup.score)
        self.ranked = sorted(top, key=lambda name: -gains[name]) + [n for n in local[self.REFINED:] if n not in agnostic]
        self.refine_seconds, self.refined = round(time.monotonic() - started, 2), len(top)
        self.models: dict[int, Any] = {}  # k -> the model of the smallest passing k so far

    def measure(self, names: list[str], what: str, kind: str) -> tuple[dict[str, Any], Any] | None:
        """One trial: ``names`` back in float, measured; its row and model. None when the budget is
        spent. One progress line."""
        if not self.limits.allows("openvino", confirm=False):
            return None
        started = time.monotonic()
        quantized = reverted(self.plain, self.float_ops, names)
        kept = len(quantized_layers(quantized))
        row = self.setup.row(len(self.search.trials), kind, self.setup.measure(quantized), started,
                             in_float=len(names), layers_int8=kept)
        self.search.trials.append(row)
        self.say(f"trial {row['trial']}: {what} in float ({kept} of {self.search.candidates} layers still INT8): "
                 f"{self.setup.figure(row)} ({'meets' if row['passed'] else 'misses'} the gate) in "
                 f"{row['seconds']:.1f} s; {self.limits.left()}")
        return row, quantized

    def trial(self, k: int) -> dict[str, Any] | None:
        done = self.measure(self.ranked[:k], f"the top {k} of {len(self.ranked)} ranked layer(s)", "top k of the ranking")
        if done is None:
            return None
        row, quantized = done
        if row["passed"]:
            self.models = {k: quantized}
        return row

    def prune(self, chosen: list[str], row: dict[str, Any], model: Any) -> tuple[dict[str, Any], Any]:
        """Back to INT8, one at a time from the last ranked, each chosen layer the gate holds without
        (layers do not add up: the ranking's order is not the only set that passes); as far as the
        budget allows."""
        for name in reversed(list(chosen)):
            if len(chosen) == 1:
                break
            rest = [n for n in chosen if n != name]
            done = self.measure(rest, f"{len(rest)} layer(s) (without {name!r})", "pruning")
            if done is None:
                break
            if done[0]["passed"]:
                chosen, (row, model) = rest, done
        return row, model

    def run(self) -> Any:
        self.say(f"ranked {len(self.ranked)} quantized layer(s) by their local 8-bit noise in {self.local_seconds:.1f} s, "
                 f"the {self.refined} noisiest and quantize-agnostic by what each alone in float gains in "
                 f"{self.refine_seconds:.1f} s; searching for how many to keep in float")
        best, exhausted = _ladder(self.trial, len(self.ranked))
        if best is None:
            row = max(self.search.trials, key=lambda t: (t.get("map50") or 0.0, t["worst_cosine"]))
            where = (f"even with all {len(self.ranked)} ranked layers in float" if exhausted
                     else f"within the budget ({len(self.search.trials)} trials, {self.limits.elapsed():.0f} s)")
            raise GateNotMet(
                f"accuracy control (openvino, ranked): the gate {self.setup.thresholds} was not met {where}; best "
                f"{self.setup.figure(row)} with {row.get('in_float', 0)} ranked layer(s) in float, measured in OpenVINO "
                "CPU. Raise openvino.accuracy_control.max_trials or max_seconds, try method: nncf, use preset mixed, "
                "or give more representative calibration data")
        k, row = best
        row, model = self.prune(self.ranked[:k], row, self.models[k])
        self.search.trials[row["trial"]]["chosen"] = True
        return model


def layer_noise(model: Any, plain: Any, samples: list[dict[str, np.ndarray]]) -> list[tuple[str, float]]:
    """The layers NNCF quantized in ``plain``, most sensitive first, with their local noise: per
    layer, the noise-to-signal power ratio of its output when it reads the float model's own
    activations through its FakeQuantizes and its weights as NNCF stores them, against the float
    layer, over ``samples``. One model computes both for every layer at once: a copy of ``plain``
    whose quantizers read a copy of the float model."""
    import openvino as ov
    import openvino.opset13 as opset

    floats, quantized = model.clone(), plain.clone()  # rewired below: the caller's models stay as they are
    float_ops = {op.get_friendly_name(): op for op in floats.get_ops()}
    quantized_ops = {op.get_friendly_name(): op for op in quantized.get_ops()}  # before the rewiring joins them
    quantizers = [op for op in quantized.get_ops() if op.get_type_name() == "FakeQuantize"]
    # The layers the quantizers are for, and every op that reads a quantizer itself (a MaxPool, an
    # Interpolate: quantize-agnostic, but the search counts them as INT8 and only reverting them
    # lifts those quantizers; left out, all the ranked layers in float still kept them).
    layers = owned_layers(quantized) | quantized_layers(quantized)
    names = sorted(n for n in layers if n in float_ops and n in quantized_ops)
    if not names:
        return []
    for q in quantizers:
        source = q.input(0).get_source_output()
        q.input(0).replace_source_output(float_ops[source.get_node().get_friendly_name()].output(source.get_index()))
    for parameter in quantized.get_parameters():
        for target in list(parameter.output(0).get_target_inputs()):
            target.replace_source_output(float_ops[parameter.get_friendly_name()].output(0))
    both = ov.Model([opset.result(quantized_ops[n].output(0)) for n in names]
                    + [opset.result(float_ops[n].output(0)) for n in names], floats.get_parameters())
    compiled = ov.Core().compile_model(both, "CPU", measuring_config())
    signal, noise = np.zeros(len(names)), np.zeros(len(names))
    for sample in samples:
        values = compiled(sample)
        for j in range(len(names)):
            want = values[len(names) + j].astype(np.float64)
            error = values[j].astype(np.float64) - want
            signal[j] += float(np.sum(want * want))
            noise[j] += float(np.sum(error * error))
    ratios = np.where(signal > 0, noise / np.maximum(signal, 1e-300), 0.0)
    order = {op.get_friendly_name(): i for i, op in enumerate(plain.get_ops())}
    return sorted(zip(names, ratios.tolist()), key=lambda item: (-item[1], order.get(item[0], 0)))


def owned_layers(plain: Any) -> set[str]:
    """The layers NNCF's quantizers are for (past quantize-agnostic ops), and those with a weight
    stored in fewer bits."""
    quantizers = [op for op in plain.get_ops() if op.get_type_name() == "FakeQuantize"]
    owners = set().union(*(_owners(q) for q in quantizers)) if quantizers else set()
    return owners | {op.get_friendly_name() for op in plain.get_ops() if _has_stored_int8_weight(op)}


def revert_gains(plain: Any, float_ops: dict[str, Any], names: list[str], score: Callable[[Any], float]) -> dict[str, float]:
    """Per layer of ``names``: ``score`` of ``plain`` with that layer alone back in float
    (:func:`reverted`) minus ``score`` of ``plain``."""
    base = score(plain)
    return {name: score(reverted(plain, float_ops, [name])) - base for name in names}


def reverted(plain: Any, float_ops: dict[str, Any], names: list[str]) -> Any:
    """A copy of ``plain`` with the layers ``names`` back in float, everything else as NNCF made it:
    each reads its inputs past their FakeQuantizes (a quantizer left with no reader goes), and takes
    the float model's weight and bias (NNCF's bias correction fitted the bias to the INT8 layer).
    ``float_ops``: a float model's ops by name, wired into the copy (a copy the caller keeps apart)."""
    model = plain.clone()
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    for name in names:
        layer = ops[name]
        for i in range(layer.get_input_size()):
            source = layer.input(i).get_source_output()
            if source.get_node().get_type_name() == "FakeQuantize":
                layer.input(i).replace_source_output(source.get_node().input(0).get_source_output())
        if layer.get_type_name() not in WEIGHTED or name not in float_ops:
            continue
        if _has_stored_int8_weight(layer):
            layer.input(1).replace_source_output(float_ops[name].input(1).get_source_output())
        for target in layer.output(0).get_target_inputs():
            bias = target.get_node()
            twin = float_ops.get(bias.get_friendly_name())
            if bias.get_type_name() == "Add" and twin is not None and twin.get_type_name() == "Add":
                other = 1 - target.get_index()
                if bias.input(other).get_source_output().get_node().get_type_name() == "Constant":
                    bias.input(other).replace_source_output(twin.input(other).get_source_output())
    model.validate_nodes_and_infer_types()
    return model


def _owners(quantizer: Any) -> set[str]:
    """The layers a FakeQuantize quantizes the input of: its consumers, past quantize-agnostic ops."""
    owners: set[str] = set()
    todo = [t.get_node() for t in quantizer.output(0).get_target_inputs()]
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        name = node.get_friendly_name()
        if name in seen or node.get_type_name() in ("Result", "FakeQuantize"):
            continue
        seen.add(name)
        if node.get_type_name() in QUANTIZE_AGNOSTIC:
            todo.extend(t.get_node() for out in node.outputs() for t in out.get_target_inputs())
        else:
            owners.add(name)
    return owners


def _has_stored_int8_weight(op: Any) -> bool:
    """A weighted layer whose weight is a constant stored in fewer bits (NNCF's INT8 weight)."""
    return (op.get_type_name() in WEIGHTED and _is_constant(op.input(1).get_source_output())
            and _is_compressed(op.input(1).get_source_output()))


def _is_constant(output: Any, depth: int = 8) -> bool:
    node = output.get_node()
    if node.get_type_name() == "Constant":
        return True
    if node.get_type_name() == "Parameter" or depth == 0 or node.get_input_size() == 0:
        return False
    return all(_is_constant(node.input(i).get_source_output(), depth - 1) for i in range(node.get_input_size()))


def _is_compressed(output: Any) -> bool:
    """Whether a constant weight is stored in fewer bits (an integer Constant behind a Convert)."""
    node = output.get_node()
    if node.get_type_name() == "Convert":
        return node.input(0).get_source_output().get_element_type().is_integral()
    return any(_is_compressed(node.input(i).get_source_output()) for i in range(node.get_input_size()))


def _nncf_search(model: Any, setup: _Gate, search: Search, budget: Budget, common: dict[str, Any]) -> Any:
    """The ``nncf`` method: ``nncf.quantize_with_accuracy_control`` with the verify metric,
    ``max_drop`` = the float model's own figure (as NNCF measures it) minus ``min_cosine`` (or
    ``min_map50``)."""
    import nncf

    started = time.monotonic()
    key = "min_map50" if setup.by_detections else "min_cosine"
    # NNCF's drop is from its own figure of the float model, which against onnxruntime's outputs
    # need not be 1.0: the drop allowed is what keeps the gate met from there.
    floor = gate(setup.expected, setup.run(model), setup.thresholds, setup.detector)
    float_figure = float(floor.get("map50") or 0.0) if setup.by_detections else float(floor["worst_cosine"])
    allowed = float_figure - float(setup.thresholds[key])
    if allowed <= 0:
        raise GateNotMet(
            f"accuracy control (openvino, nncf): the gate {setup.thresholds} cannot be met: the float model itself, "
            f"run in OpenVINO, scores {float_figure:.6f} against the reference; lower {key}")
    controlled = nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(setup.stats),
        # Items carry their index: NNCF ranks on subsets and hands the validation function raw items.
        nncf.Dataset(list(enumerate(setup.feeds)), lambda item: item[1]),
        lambda compiled_model, data: _ov_metric(compiled_model, data, setup.expected, setup.outputs, setup.detector),
        max_drop=allowed,
        drop_type=nncf.DropType.ABSOLUTE,
        advanced_accuracy_restorer_parameters=nncf.AdvancedAccuracyRestorerParameters(
            max_num_iterations=max(budget.max_trials - 1, 1)),
        **common,
    )
    kept = len(quantized_layers(controlled))
    search.trials.append(setup.row(1, "nncf.quantize_with_accuracy_control", setup.measure(controlled), started,
                                   layers_int8=kept))
    row = search.trials[-1]
    if not row["passed"]:
        best = max(search.trials, key=lambda t: (t.get("map50") or 0.0, t["worst_cosine"]))
        raise GateNotMet(
            f"accuracy control (openvino, nncf): the gate {setup.thresholds} was not met; best {setup.figure(best)} "
            f"after NNCF returned {search.candidates - kept} of {search.candidates} layers to float. Raise "
            "openvino.accuracy_control.max_trials, try method: ranked, use preset mixed, or give more representative "
            "calibration data")
    row["chosen"] = True
    return controlled


def _ov_metric(compiled_model: Any, data: Any, expected: list[dict[str, np.ndarray]],
               outputs: list[str], detector: dict[str, Any] | None = None) -> tuple[float, list[float]]:
    """NNCF's validation function: the worst cosine over the given samples and every output, and
    the worst per sample (NNCF ranks layers by it). For a detector: mAP@0.5 against the float
    model's detections over the samples, and per sample the same on that sample alone (1.0 where
    the float model finds nothing)."""
    per_sample, want, got = [], [], []
    for index, feed in data:
        res = compiled_model(feed)
        have = {n: res[i] for i, n in enumerate(outputs)}
        if detector is None:
            per_sample.append(min(metrics(expected[index][n], have[n])["cosine"] for n in outputs))
            continue
        from edgeconv.comparison import detection_figures

        want.append(expected[index])
        got.append(have)
        alone = detection_figures(detector, [expected[index]], [have])["map50"]
        per_sample.append(1.0 if alone is None else alone)
    if detector is not None and want:
        overall = detection_figures(detector, want, got)["map50"]
        return (1.0 if overall is None else overall), per_sample
    return (min(per_sample) if per_sample else 1.0), per_sample


def quantized_layers(model: Any) -> set[str]:
    """The layers that compute in INT8: those reading a FakeQuantize's output, or a weight stored in
    fewer bits."""
    return {
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() not in ("FakeQuantize", "Result")
        and (any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())
             or _has_stored_int8_weight(op))
    }
