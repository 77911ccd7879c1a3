"""Step 1: make the model take what the camera gives it.

Per input, in this order (the order ``mo`` uses, so mean and scale values are
in the original model's channel order):

1. fix the input shape to the resolved one, and cast when ``data_type`` differs;
2. reverse the channels (``encoding.from != encoding.to``) with Split + Concat;
3. subtract ``mean_values`` and divide by ``scale_values``.

Inputs with a ``frozen_value`` become constants. When ``outputs`` names
intermediate tensors, the graph is cut there first.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from edgeconv.config.resolved import ResolvedInput, ResolvedStage
from edgeconv.errors import ConversionError
from edgeconv.onnx_io import NUMPY_TO_ONNX, check_model
from edgeconv.onnx_graph import Graph, fix_shape, make_node, select_outputs, sort_nodes
from edgeconv.onnx_io import load_onnx, save_onnx
from edgeconv.preprocessing import InputPlan, normalize_numpy  # noqa: F401 (normalize_numpy: part of this step's interface)
from edgeconv.steps.base import Context, Paths, StageParams, Step


def attach_normalization(
    model: onnx.ModelProto,
    stage: ResolvedStage,
    copy_model: bool = True,
    plan: dict[str, InputPlan] | None = None,
) -> onnx.ModelProto:
    if copy_model:
        model = copy.deepcopy(model)
    if sort_nodes(model.graph):
        logging.getLogger("edgeconv.progress").warning(
            "the model's nodes were not in topological order (onnxruntime runs such a graph, the ONNX checker "
            "refuses it); they were put in order, nothing else changed")
    model = select_outputs(model, stage.outputs)
    graph = Graph(model)
    for spec in stage.inputs:
        spec = _apply_plan(spec, (plan or {}).get(spec.name, InputPlan()))
        vi = next(i for i in model.graph.input if i.name == spec.name)
        if spec.frozen_value is not None:
            _freeze(graph, vi, spec)
            continue
        fix_shape(vi, spec.shape)
        if not spec.listed:
            continue
        _attach(graph, vi, spec)
    # The new graph inputs need their shapes propagated; stale value_info could contradict them.
    del model.graph.value_info[:]
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is a convenience; the simplifier re-derives shapes
        pass
    check_model(model)
    return model


def _apply_plan(spec: ResolvedInput, plan: InputPlan) -> ResolvedInput:
    if not plan.reverse:
        spec = dataclasses.replace(spec, encoding_to=spec.encoding_from)
    if not plan.normalize:
        spec = dataclasses.replace(spec, mean=None, scale=None)
    return spec


def _freeze(graph: Graph, vi: onnx.ValueInfoProto, spec: ResolvedInput) -> None:
    value = spec.frozen_array()
    assert value is not None
    graph_dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    graph.g.initializer.append(onnx.numpy_helper.from_array(value.astype(graph_dtype), spec.name))
    graph.g.input.remove(vi)
    graph.refresh()


def _attach(graph: Graph, vi: onnx.ValueInfoProto, spec: ResolvedInput) -> None:
    model_type = vi.type.tensor_type.elem_type
    wanted_type = NUMPY_TO_ONNX[spec.data_type]
    if not spec.needs_normalization and model_type == wanted_type:
        return
    float_dtype = helper.tensor_dtype_to_np_dtype(model_type)
    if spec.needs_normalization and not np.issubdtype(float_dtype, np.floating):
        raise ConversionError(
            f"input {spec.name!r}: mean/scale/encoding need a floating-point model input, "
            f"but the model takes {np.dtype(float_dtype).name}; remove them for this input"
        )
    name = spec.name
    current = graph.unique(f"{name}__raw")
    nodes: list[onnx.NodeProto] = []
    # The original input name stays the graph input; the original graph reads the last node's output.
    first_input = name
    if model_type != wanted_type:
        vi.type.tensor_type.elem_type = wanted_type
        nodes.append(make_node("Cast", [first_input], [current], graph.unique(f"{name}__cast"), to=model_type))
    else:
        current = first_input
    axis = spec.channel_axis
    rank = len(spec.shape)
    if spec.reverse_channels:
        assert axis is not None
        parts = [graph.unique(f"{name}__ch{i}") for i in range(3)]
        split_inputs = [current]
        attrs: dict[str, object] = {"axis": axis}
        if graph.opset >= 13:
            split_inputs.append(graph.add_const(f"{name}__split", np.array([1, 1, 1], dtype=np.int64)))
        else:
            attrs["split"] = [1, 1, 1]
        nodes.append(make_node("Split", split_inputs, parts, graph.unique(f"{name}__split_channels"), **attrs))
        reversed_out = graph.unique(f"{name}__reversed")
        nodes.append(make_node("Concat", parts[::-1], [reversed_out], graph.unique(f"{name}__reverse_channels"), axis=axis))
        current = reversed_out
    bshape = [1] * rank
    if axis is not None:
        bshape[axis] = spec.channels or 1
    if spec.mean is not None and any(v != 0 for v in spec.mean):
        mean = np.asarray(spec.mean, dtype=float_dtype).reshape(bshape if axis is not None else [1] * rank)
        out = graph.unique(f"{name}__centered")
        nodes.append(make_node("Sub", [current, graph.add_const(f"{name}__mean", mean)], [out], graph.unique(f"{name}__sub_mean")))
        current = out
    if spec.scale is not None and any(v != 1 for v in spec.scale):
        scale = np.asarray(spec.scale, dtype=float_dtype).reshape(bshape if axis is not None else [1] * rank)
        out = graph.unique(f"{name}__scaled")
        nodes.append(make_node("Div", [current, graph.add_const(f"{name}__scale", scale)], [out], graph.unique(f"{name}__div_scale")))
        current = out
    if current == first_input:
        return
    graph.rename_input_uses(name, current)  # the new nodes are not in the graph yet
    existing = list(graph.g.node)
    del graph.g.node[:]
    graph.g.node.extend(nodes + existing)
    graph.refresh()


@dataclass(frozen=True, kw_only=True)
class AttachParams(StageParams):
    PARSED_STAGE = True  # reads no calibration settings: see StageParams.resolved
    # For a vendor tool that normalizes itself: "mo" (mean/scale/reversal by mo) or "hailo" (the
    # model script normalizes 3-channel inputs); only the rest goes into the graph.
    plan: str | None = None


def configure(ctx: Context, plan: str | None = None) -> AttachParams:
    if plan not in (None, "mo", "hailo"):
        raise ValueError(f"attach_normalization: unknown plan {plan!r}")
    return ctx.make(AttachParams, plan=plan)


def run(inputs: Paths, outputs: Paths, params: AttachParams) -> dict[str, Any]:
    stage = params.stage(inputs["model"])
    plan = None
    if params.plan == "mo":
        from edgeconv.targets.rvc2 import mo_plan

        plan = mo_plan(stage).onnx
    elif params.plan == "hailo":
        from edgeconv.targets.hailo import needs_graph_normalization

        plan = {k: InputPlan(*v) for k, v in needs_graph_normalization(stage).items()}
    model = attach_normalization(load_onnx(inputs["model"]), stage, copy_model=False, plan=plan)
    save_onnx(model, outputs["onnx"])
    return {
        # Calibration is resolved (and recorded) by prepare_calibration, not here.
        "resolved": [{k: v for k, v in i.to_dict().items() if k != "calibration"} for i in stage.inputs],
        "outputs_selected": stage.outputs,
        "tool_calls": [{"tool": "onnx", "call": "edgeconv.steps.attach_normalization.attach_normalization(model, stage)"}],
    }


STEP = Step("attach_normalization", run, AttachParams, configure, inputs=("model",), outputs=("onnx",))
