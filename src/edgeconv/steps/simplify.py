"""Step 3: simplify the static-shape graph with onnxsim (default) or onnxslim, or pass it through."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import onnx

from edgeconv.errors import ConversionError
from edgeconv.onnx_io import fits_in_protobuf, load_onnx, save_onnx
from edgeconv.steps.base import Context, Params, Paths, Step

log = logging.getLogger(__name__)


def simplify(model: onnx.ModelProto, method: str | bool) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Return the simplified model and a record of the tool call.

    The input shapes are already fixed by ``attach_normalization``, so the
    simplifier folds every shape computation.
    """
    nodes_before = len(model.graph.node)
    if method in (False, None, "false", "none"):
        return model, {"tool": None, "nodes_before": nodes_before, "nodes_after": nodes_before}
    if method == "onnxsim":
        import onnxsim

        # onnxsim checks its result in onnxruntime from memory, which cannot hold a model over
        # 2 GB; such a model is checked by verify_onnx_stage (simplified vs original) instead.
        check_n = 1 if fits_in_protobuf(model) else 0
        try:
            simplified, ok = onnxsim.simplify(model, check_n=check_n)
        except Exception as exc:
            raise ConversionError(
                f"onnxsim failed on this model ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "set `onnx_simplification: onnxslim` or `onnx_simplification: false` in the model config"
            ) from None
        if not ok:
            raise ConversionError(
                "onnxsim's own check found the simplified model's outputs differ; "
                "set `onnx_simplification: onnxslim` or `false` in the model config"
            )
        call = {"tool": "onnxsim", "version": onnxsim.__version__, "call": f"onnxsim.simplify(model, check_n={check_n})"}
    elif method == "onnxslim":
        import onnxslim

        try:
            simplified = onnxslim.slim(model)
        except Exception as exc:
            raise ConversionError(
                f"onnxslim failed on this model ({type(exc).__name__}: {exc}); "
                "set `onnx_simplification: onnxsim` or `false` in the model config"
            ) from None
        call = {"tool": "onnxslim", "version": onnxslim.__version__, "call": "onnxslim.slim(model)"}
    else:
        raise ConversionError(f"onnx_simplification: unknown method {method!r}; use onnxsim, onnxslim or false")
    call.update(nodes_before=nodes_before, nodes_after=len(simplified.graph.node))
    log.info("%s: %d -> %d nodes", call["tool"], nodes_before, call["nodes_after"])
    return simplified, call


@dataclass(frozen=True, kw_only=True)
class SimplifyParams(Params):
    onnx_simplification: str | bool


def configure(ctx: Context) -> SimplifyParams:
    return ctx.make(SimplifyParams, onnx_simplification=ctx.stage.onnx_simplification)


def run(inputs: Paths, outputs: Paths, params: SimplifyParams) -> dict[str, Any]:
    model, call = simplify(load_onnx(inputs["onnx"]), params.onnx_simplification)
    save_onnx(model, outputs["onnx"])
    return {"tool_calls": [call]}


STEP = Step("simplify", run, SimplifyParams, configure, inputs=("onnx",), outputs=("onnx",))
