"""Step 2: the reference's six ONNX graph optimizations, each checked and rolled back if it changes outputs.

They exist mainly to fold the normalization that step 1 attached into the
first convolution, so the camera runs no extra layers:

- ``substitute_sub_with_add``: ``Sub(x, c)`` -> ``Add(x, -c)``
- ``substitute_div_with_mul``: ``Div(x, c)`` -> ``Mul(x, 1/c)``
- ``fuse_add_mul_to_bn``: ``Conv`` followed by per-channel ``Mul``/``Add`` -> ``Conv`` + ``BatchNormalization``
- ``fuse_single_add_mul_to_conv``: one per-channel ``Mul``/``Add`` before a ``Conv`` -> folded into its weights/bias
- ``fuse_comb_add_mul_to_conv``: a chain of them before a ``Conv`` -> folded likewise
- ``fuse_split_concat_to_conv``: channel ``Split`` + reordered ``Concat`` before a ``Conv`` -> permuted weights

An additive term is folded into a convolution only when it has no padding:
zero padding of ``x`` is not zero padding of ``x + c``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from edgeconv.onnx_io import check_model, load_onnx, save_onnx
from edgeconv.runtime import random_feeds, run_onnx
from edgeconv.onnx_graph import Graph, constants_to_initializers, per_channel
from edgeconv.steps.base import Context, Paths, StageParams, Step

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- substitutions


def substitute_sub_with_add(model: onnx.ModelProto) -> int:
    return _substitute(model, "Sub", "Add", lambda c: -c)


def substitute_div_with_mul(model: onnx.ModelProto) -> int:
    return _substitute(model, "Div", "Mul", lambda c: (1.0 / c).astype(c.dtype))


def _substitute(model: onnx.ModelProto, op: str, new_op: str, fn: Callable[[np.ndarray], np.ndarray]) -> int:
    graph = Graph(model)
    count = 0
    for node in graph.g.node:
        if node.op_type != op or len(node.input) != 2:
            continue
        c = graph.const(node.input[1])
        if c is None or not np.issubdtype(c.dtype, np.floating) or (op == "Div" and np.any(c == 0)):
            continue
        node.input[1] = graph.add_const(f"{node.input[1]}__{new_op.lower()}", fn(c))
        node.op_type = new_op
        count += 1
    graph.prune_unused_initializers()
    return count


# --------------------------------------------------------------------------- affine chains before a Conv


@dataclass
class _Affine:
    nodes: list[onnx.NodeProto]
    source: str  # tensor entering the chain
    scale: np.ndarray  # per channel
    shift: np.ndarray


def _chain_before(graph: Graph, conv: onnx.NodeProto, rank: int, channels: int, max_len: int) -> _Affine | None:
    """Walk back from ``conv`` over Add/Mul nodes with per-channel constants, each feeding only the next."""
    nodes: list[onnx.NodeProto] = []
    tensor = conv.input[0]
    while len(nodes) < max_len:
        node = graph.producer.get(tensor)
        if node is None or node.op_type not in ("Add", "Mul") or len(node.input) != 2:
            break
        if graph.single_consumer(tensor) is not (nodes[-1] if nodes else conv):
            break
        consts = [graph.const(i) for i in node.input]
        if consts[1] is not None and consts[0] is None:
            value, data = consts[1], node.input[0]
        elif consts[0] is not None and consts[1] is None:
            value, data = consts[0], node.input[1]
        else:
            break
        vec = per_channel(value, rank)
        if vec is None or vec.size not in (1, channels):
            break
        nodes.append(node)
        tensor = data
    if not nodes:
        return None
    scale = np.ones(channels, dtype=np.float64)
    shift = np.zeros(channels, dtype=np.float64)
    for node in reversed(nodes):  # apply in data-flow order
        consts = [graph.const(i) for i in node.input]
        vec = per_channel(consts[1] if consts[1] is not None else consts[0], rank).astype(np.float64)
        if node.op_type == "Mul":
            scale, shift = scale * vec, shift * vec
        else:
            shift = shift + vec
    return _Affine(nodes=nodes, source=tensor, scale=scale, shift=shift)


def _conv_has_padding(conv: onnx.NodeProto) -> bool:
    for a in conv.attribute:
        if a.name == "pads" and any(a.ints):
            return True
        if a.name == "auto_pad" and a.s not in (b"NOTSET", b"VALID"):
            return True
    return False


def _group(conv: onnx.NodeProto) -> int:
    return next((a.i for a in conv.attribute if a.name == "group"), 1)


def _fold_into_convs(model: onnx.ModelProto, min_len: int, max_len: int) -> int:
    graph = Graph(model)
    count = 0
    for conv in list(graph.g.node):
        if conv.op_type != "Conv" or _group(conv) != 1:
            continue
        w = graph.const(conv.input[1])
        if w is None or conv.input[1] not in graph.inits or len(graph.consumers[conv.input[1]]) != 1:
            continue
        chain = _chain_before(graph, conv, w.ndim, w.shape[1], max_len)
        if chain is None or len(chain.nodes) < min_len:
            continue
        if np.any(chain.shift != 0) and _conv_has_padding(conv):
            continue
        bias = graph.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0], w.dtype)
        if len(conv.input) > 2 and conv.input[2] and (conv.input[2] not in graph.inits or len(graph.consumers[conv.input[2]]) != 1):
            continue
        w64 = w.astype(np.float64)
        bshape = [1, -1] + [1] * (w.ndim - 2)
        new_w = w64 * chain.scale.reshape(bshape)
        new_b = bias.astype(np.float64) + (w64 * chain.shift.reshape(bshape)).sum(axis=tuple(range(1, w.ndim)))
        graph.set_init(conv.input[1], new_w)
        if len(conv.input) > 2 and conv.input[2]:
            graph.set_init(conv.input[2], new_b)
        else:
            if len(conv.input) == 2:
                conv.input.append(graph.add_const(f"{conv.name or 'conv'}__bias", new_b.astype(w.dtype)))
            else:
                conv.input[2] = graph.add_const(f"{conv.name or 'conv'}__bias", new_b.astype(w.dtype))
        conv.input[0] = chain.source
        graph.remove_nodes(chain.nodes)
        graph.refresh()
        count += 1
    graph.prune_unused_initializers()
    return count


def fuse_single_add_mul_to_conv(model: onnx.ModelProto) -> int:
    return _fold_into_convs(model, 1, 1)


def fuse_comb_add_mul_to_conv(model: onnx.ModelProto) -> int:
    return _fold_into_convs(model, 2, 64)


# --------------------------------------------------------------------------- Conv -> Mul/Add -> BatchNormalization


def fuse_add_mul_to_bn(model: onnx.ModelProto) -> int:
    graph = Graph(model)
    count = 0
    eps = 1e-5
    for conv in list(graph.g.node):
        if conv.op_type != "Conv":
            continue
        w = graph.const(conv.input[1])
        if w is None:
            continue
        rank, channels = w.ndim, w.shape[0]
        chain: list[onnx.NodeProto] = []
        tensor = conv.output[0]
        scale = np.ones(channels)
        shift = np.zeros(channels)
        while True:
            node = graph.single_consumer(tensor)
            if node is None or node.op_type not in ("Add", "Mul", "Sub") or len(node.input) != 2:
                break
            other = node.input[1] if node.input[0] == tensor else node.input[0]
            if node.op_type == "Sub" and node.input[0] != tensor:
                break
            c = graph.const(other)
            vec = None if c is None else per_channel(c, rank)
            if vec is None or vec.size not in (1, channels):
                break
            vec = vec.astype(np.float64)
            if node.op_type == "Mul":
                scale, shift = scale * vec, shift * vec
            elif node.op_type == "Add":
                shift = shift + vec
            else:
                shift = shift - vec
            chain.append(node)
            tensor = node.output[0]
        if not chain:
            continue
        dtype = w.dtype
        names = [
            graph.add_const(f"{conv.name or 'conv'}__bn_{n}", v.astype(dtype))
            for n, v in (
                ("scale", scale * np.ones(channels)),
                ("bias", shift * np.ones(channels)),
                ("mean", np.zeros(channels)),
                ("var", np.full(channels, 1.0 - eps)),
            )
        ]
        bn = helper.make_node(
            "BatchNormalization",
            [conv.output[0], *names],
            [chain[-1].output[0]],
            name=graph.unique(f"{conv.name or 'conv'}__bn"),
            epsilon=eps,
        )
        position = list(graph.g.node).index(chain[-1])
        graph.g.node.insert(position, bn)
        graph.remove_nodes(chain)
        graph.refresh()
        count += 1
    graph.prune_unused_initializers()
    return count


# --------------------------------------------------------------------------- Split + Concat before a Conv


def fuse_split_concat_to_conv(model: onnx.ModelProto) -> int:
    graph = Graph(model)
    count = 0
    for conv in list(graph.g.node):
        if conv.op_type != "Conv" or _group(conv) != 1:
            continue
        concat = graph.producer.get(conv.input[0])
        if concat is None or concat.op_type != "Concat" or graph.single_consumer(concat.output[0]) is not conv:
            continue
        if next((a.i for a in concat.attribute if a.name == "axis"), None) != 1:
            continue
        split = graph.producer.get(concat.input[0])
        if split is None or split.op_type != "Split" or sorted(concat.input) != sorted(split.output):
            continue
        if next((a.i for a in split.attribute if a.name == "axis"), 0) != 1:
            continue
        if any(len(graph.consumers[o]) != 1 for o in split.output):
            continue
        w = graph.const(conv.input[1])
        if w is None or conv.input[1] not in graph.inits or len(graph.consumers[conv.input[1]]) != 1:
            continue
        sizes = _split_sizes(graph, split, w.shape[1])
        if sizes is None:
            continue
        starts = np.cumsum([0, *sizes[:-1]])
        by_name = {o: list(range(s, s + n)) for o, s, n in zip(split.output, starts, sizes)}
        perm = [c for name in concat.input for c in by_name[name]]  # concat channel j = source channel perm[j]
        new_w = np.zeros_like(w)
        new_w[:, perm] = w
        graph.set_init(conv.input[1], new_w)
        conv.input[0] = split.input[0]
        graph.remove_nodes([split, concat])
        graph.refresh()
        count += 1
    graph.prune_unused_initializers()
    return count


def _split_sizes(graph: Graph, split: onnx.NodeProto, channels: int) -> list[int] | None:
    if len(split.input) > 1 and split.input[1]:
        sizes = graph.const(split.input[1])
        return None if sizes is None else [int(s) for s in sizes]
    attr = next((a for a in split.attribute if a.name == "split"), None)
    if attr is not None:
        return list(attr.ints)
    n = len(split.output)
    return [channels // n] * n if channels % n == 0 else None


# --------------------------------------------------------------------------- driver

OPTIMIZATIONS: dict[str, Callable[[onnx.ModelProto], int]] = {
    # Order matters: substitutions first, so Sub/Div become Add/Mul that the fusions can fold.
    "substitute_sub_with_add": substitute_sub_with_add,
    "substitute_div_with_mul": substitute_div_with_mul,
    "fuse_comb_add_mul_to_conv": fuse_comb_add_mul_to_conv,
    "fuse_single_add_mul_to_conv": fuse_single_add_mul_to_conv,
    "fuse_split_concat_to_conv": fuse_split_concat_to_conv,
    "fuse_add_mul_to_bn": fuse_add_mul_to_bn,
}


def outputs_match(ref: dict[str, np.ndarray], new: dict[str, np.ndarray], rel_tol: float) -> tuple[bool, float]:
    worst = 0.0
    for name, a in ref.items():
        b = new.get(name)
        if b is None or a.shape != b.shape:
            return False, float("inf")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if not np.all(np.isfinite(b64) == np.isfinite(a64)):
            return False, float("inf")
        err = float(np.max(np.abs(a64 - b64), initial=0.0)) / (float(np.max(np.abs(a64), initial=0.0)) + 1e-6)
        worst = max(worst, err)
    return worst <= rel_tol, worst


def optimize(
    model: onnx.ModelProto,
    enabled: dict[str, bool],
    image_inputs: set[str] | None = None,
    rel_tol: float = 1e-3,
    source: Path | None = None,
) -> tuple[onnx.ModelProto, list[dict[str, object]]]:
    """Apply each enabled optimization; keep it only if onnxruntime gives the same outputs.

    ``source`` is the file ``model`` was read from: the reference outputs come from it, so that a
    model over 2 GB is not written out once more just to be run.
    """
    model = copy.deepcopy(model)
    constants_to_initializers(model)
    # Fast path: every enabled optimization applied in turn, one check of the result (two
    # onnxruntime sessions in all, none when nothing matched). Only when that check fails is each
    # optimization checked on its own, in order, so that just the ones that change the outputs are
    # rolled back.
    report: dict[str, dict[str, object]] = {}
    work = copy.deepcopy(model)
    candidates: list[str] = []
    for name, fn in OPTIMIZATIONS.items():
        if not enabled.get(name, True):
            report[name] = {"optimization": name, "status": "disabled"}
            continue
        before = copy.deepcopy(work)
        try:
            changed = fn(work)
        except Exception as exc:  # a pattern we do not handle must never break the conversion
            work = before
            report[name] = {"optimization": name, "status": "rolled back", "reason": f"{type(exc).__name__}: {exc}"}
            continue
        if changed == 0:
            report[name] = {"optimization": name, "status": "no match"}
            continue
        report[name] = {"optimization": name, "status": "applied", "count": changed}
        candidates.append(name)
    if not candidates:
        return model, [report[name] for name in OPTIMIZATIONS]
    feeds = random_feeds(model, image_inputs)
    try:
        reference = run_onnx(source if source is not None else model, feeds)
    except Exception as exc:
        # Without a reference run no optimization can be checked, so none is applied.
        reason = f"the model does not run on random inputs ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        log.warning("all optimizations skipped: %s", reason)
        return model, [
            report[name] if report[name]["status"] == "disabled" else {"optimization": name, "status": "skipped", "reason": reason}
            for name in OPTIMIZATIONS
        ]
    ok, err, reason = _same_outputs(reference, work, feeds, rel_tol)
    if ok:
        for name in candidates:  # the error of them all together
            report[name]["max_rel_error"] = err
            log.info("%s: applied %d time(s)", name, report[name]["count"])
        model = work
    else:
        log.info("the optimizations together change the outputs (%s); checking each on its own", reason)
        model = _one_by_one(model, candidates, reference, feeds, rel_tol, report)
    return model, [report[name] for name in OPTIMIZATIONS]


def _same_outputs(
    reference: dict[str, np.ndarray], candidate: onnx.ModelProto, feeds: dict[str, np.ndarray], rel_tol: float
) -> tuple[bool, float, str]:
    try:
        check_model(candidate)
        ok, err = outputs_match(reference, run_onnx(candidate, feeds), rel_tol)
    except Exception as exc:
        return False, float("nan"), f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ok, err, f"outputs changed (max relative error {err:.3g} > {rel_tol})"


def _one_by_one(
    model: onnx.ModelProto,
    names: list[str],
    reference: dict[str, np.ndarray],
    feeds: dict[str, np.ndarray],
    rel_tol: float,
    report: dict[str, dict[str, object]],
) -> onnx.ModelProto:
    """Each optimization on the model as the ones before it left it, kept only when the outputs stay."""
    for name in names:
        candidate = copy.deepcopy(model)
        try:
            changed = OPTIMIZATIONS[name](candidate)
        except Exception as exc:
            report[name] = {"optimization": name, "status": "rolled back", "reason": f"{type(exc).__name__}: {exc}"}
            continue
        if changed == 0:  # an earlier optimization was rolled back, or took its pattern
            report[name] = {"optimization": name, "status": "no match"}
            continue
        ok, err, reason = _same_outputs(reference, candidate, feeds, rel_tol)
        if ok:
            model = candidate
            report[name] = {"optimization": name, "status": "applied", "count": changed, "max_rel_error": err}
            log.info("%s: applied %d time(s), max relative error %.3g", name, changed, err)
        else:
            report[name] = {"optimization": name, "status": "rolled back", "count": changed, "reason": reason}
            log.warning("%s: rolled back, %s", name, reason)
    return model


@dataclass(frozen=True, kw_only=True)
class OptimizeParams(StageParams):
    PARSED_STAGE = True  # reads no calibration settings: see StageParams.resolved
    onnx_optimizations: dict[str, bool]


def configure(ctx: Context) -> OptimizeParams:
    return ctx.make(OptimizeParams, onnx_optimizations=ctx.stage.onnx_optimizations.model_dump())


def run(inputs: Paths, outputs: Paths, params: OptimizeParams) -> dict[str, Any]:
    stage = params.stage(Path(inputs["original"]))
    images = {i.name for i in stage.inputs if i.is_image}
    model, report = optimize(load_onnx(inputs["onnx"]), params.onnx_optimizations, images, source=Path(inputs["onnx"]))
    save_onnx(model, outputs["onnx"])
    return {"optimizations": report, "tool_calls": [{"tool": "onnxruntime", "call": "check each optimization"}]}


STEP = Step("optimize_onnx", run, OptimizeParams, configure, inputs=("onnx", "original"), outputs=("onnx",))
