"""Step 3: simplify the static-shape graph: onnxsim, else onnxslim, else as it is (``auto``, the
default), or with the one method ``onnx_simplification`` names."""

from __future__ import annotations

import copy
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from edgeconv.errors import ConversionError
from edgeconv.onnx_io import fits_in_protobuf, load_onnx, save_onnx
from edgeconv.steps.base import Context, Params, Paths, Step

log = logging.getLogger(__name__)


def simplify(
    model: onnx.ModelProto, method: str | bool, source: Path | None = None, workdir: Path | None = None
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Return the simplified model and a record of the tool call.

    The input shapes are already fixed by ``attach_normalization``, so the simplifier folds every
    shape computation. ``auto`` tries onnxsim, then onnxslim, then keeps the model as it is, as the
    reference goes on when onnxsim raises (models with ``If`` subgraphs that read outer-scope values
    are a known case); the record says which one produced the file and why the others did not.
    A method named explicitly that fails stops the step.

    A model over 2 GB read from ``source`` is simplified by onnxsim file to file (it maps the
    weights instead of holding copies of them); the result is written under ``workdir``, which
    must live as long as the returned model, whose weights stay there until it is saved.
    """
    nodes_before = len(model.graph.node)
    if method in (False, None, "false", "none"):
        return model, {"tool": None, "nodes_before": nodes_before, "nodes_after": nodes_before}
    if method == "auto":
        skipped: list[dict[str, str]] = []
        for tool in ("onnxsim", "onnxslim"):
            # onnxsim works on a serialized copy; onnxslim may change the graph it is given.
            candidate = model if tool == "onnxsim" else copy.deepcopy(model)
            try:
                simplified, call = _simplify_with(tool, candidate, nodes_before, source, workdir)
            except ConversionError as exc:
                log.warning("%s did not simplify this model, trying the next: %s", tool, exc)
                skipped.append({"tool": tool, "reason": str(exc).split("; set `onnx_simplification")[0]})
                continue
            return simplified, {**call, "method": "auto", "skipped": skipped}
        log.warning("no simplifier could simplify this model; it goes on as it is")
        return model, {"tool": None, "method": "auto", "skipped": skipped, "nodes_before": nodes_before,
                       "nodes_after": nodes_before}
    if method not in ("onnxsim", "onnxslim"):
        raise ConversionError(f"onnx_simplification: unknown method {method!r}; use auto, onnxsim, onnxslim or false")
    return _simplify_with(method, model, nodes_before, source, workdir)


def _import_onnxsim() -> Any:
    """onnxsim, without sympy: onnxsim imports it (0.4 s, half of onnxsim's import) only to print
    the MAC count of dynamic shapes as a formula, and goes without it when it is missing (checked:
    the same bytes either way). The shapes here are static. Other imports of sympy still work."""
    import sys

    if "onnxsim" in sys.modules or "sympy" in sys.modules:
        import onnxsim

        return onnxsim
    sys.modules["sympy"] = None  # type: ignore[assignment]  # `import sympy` raises ImportError
    try:
        import onnxsim
    finally:
        del sys.modules["sympy"]
    return onnxsim


def _simplify_with(
    method: str, model: onnx.ModelProto, nodes_before: int, source: Path | None = None, workdir: Path | None = None
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    if method == "onnxsim":
        onnxsim = _import_onnxsim()

        # No second check here (check_n=0, as the reference runs it): the simplified model is
        # checked against the original by verify_onnx_stages, and every artifact made from it by its
        # own check, which also holds for models over 2 GB that onnxruntime cannot take from memory.
        check_n = 0
        from_file = source is not None and workdir is not None and not fits_in_protobuf(model)
        try:
            if from_file:
                written = Path(workdir) / "simplified.onnx"
                _, ok = onnxsim.simplify(str(source), check_n=check_n, output_path=str(written))
                simplified = load_onnx(written)  # its big weights stay in workdir
            else:
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
        given = "path, output_path=..." if from_file else "model"
        call = {"tool": "onnxsim", "version": onnxsim.__version__, "call": f"onnxsim.simplify({given}, check_n={check_n})"}
    else:
        import onnxslim

        try:
            simplified = onnxslim.slim(model)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ConversionError(
                f"onnxslim failed on this model ({type(exc).__name__}: {first}); "
                "set `onnx_simplification: onnxsim` or `false` in the model config"
            ) from None
        call = {"tool": "onnxslim", "version": onnxslim.__version__, "call": "onnxslim.slim(model)"}
    call.update(nodes_before=nodes_before, nodes_after=len(simplified.graph.node))
    log.info("%s: %d -> %d nodes", call["tool"], nodes_before, call["nodes_after"])
    return simplified, call


@dataclass(frozen=True, kw_only=True)
class SimplifyParams(Params):
    onnx_simplification: str | bool


def configure(ctx: Context) -> SimplifyParams:
    return ctx.make(SimplifyParams, onnx_simplification=ctx.stage.onnx_simplification)


def run(inputs: Paths, outputs: Paths, params: SimplifyParams) -> dict[str, Any]:
    out = Path(outputs["onnx"])
    out.parent.mkdir(parents=True, exist_ok=True)
    # Beside the output, not in /tmp: a model over 2 GB is written there once before it is saved.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as workdir:
        model, call = simplify(load_onnx(inputs["onnx"]), params.onnx_simplification, Path(inputs["onnx"]), Path(workdir))
        save_onnx(model, out)
    return {"tool_calls": [call]}


STEP = Step("simplify", run, SimplifyParams, configure, inputs=("onnx",), outputs=("onnx",))
