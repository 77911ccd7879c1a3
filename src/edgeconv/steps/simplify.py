"""Step 3: simplify the static-shape graph: onnxsim, else onnxslim, else as it is (``auto``, the
default), or with the one method ``onnx_simplification`` names."""

from __future__ import annotations

import copy
import logging
import os
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


# A simplifier runs in a child process (forked: it shares the loaded model and the imports), so
# that one that crashes (onnxsim is C++) or never finishes costs a fallback, not the step.
TIME_LIMIT_S = 2 * 3600


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

        def run_onnxsim(scratch: Path) -> tuple[onnx.ModelProto | Path, bool]:
            if from_file:  # file to file: the child answers with the file, its big weights beside it
                written = scratch / "simplified.onnx"
                _, ok = onnxsim.simplify(str(source), check_n=check_n, output_path=str(written))
                return written, ok
            return onnxsim.simplify(model, check_n=check_n)

        simplified, ok = _in_child("onnxsim", run_onnxsim, workdir, "onnxslim")
        if not ok:
            raise ConversionError(
                "onnxsim's own check found the simplified model's outputs differ; "
                "set `onnx_simplification: onnxslim` or `false` in the model config"
            )
        given = "path, output_path=..." if from_file else "model"
        call = {"tool": "onnxsim", "version": onnxsim.__version__, "call": f"onnxsim.simplify({given}, check_n={check_n})"}
    else:
        import onnxslim

        simplified, _ = _in_child("onnxslim", lambda scratch: (onnxslim.slim(model), True), workdir, "onnxsim")
        call = {"tool": "onnxslim", "version": onnxslim.__version__, "call": "onnxslim.slim(model)"}
    call.update(nodes_before=nodes_before, nodes_after=len(simplified.graph.node))
    log.info("%s: %d -> %d nodes", call["tool"], nodes_before, call["nodes_after"])
    return simplified, call


def _in_child(tool: str, work, workdir: Path | None, other: str) -> tuple[onnx.ModelProto, bool]:
    """``work(scratch)`` -> (model or the file it wrote it to, ok) in a forked child, under
    TIME_LIMIT_S; the model comes back through a file in a scratch directory, under ``workdir``
    when given (where a big model's weights stay until it is saved), else removed here. Its
    exception, a crash (a signal) or the time limit is a ConversionError naming the tool."""
    import json
    import shutil
    import sys

    advice = f"set `onnx_simplification: {other}` or `onnx_simplification: false` in the model config"
    scratch = Path(tempfile.mkdtemp(prefix=f".{tool}.", dir=workdir))
    answer, result = scratch / "answer.json", scratch / "simplified.onnx"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: answer through files, and leave without the parent's exit handlers
        code = 1
        try:
            simplified, ok = work(scratch)
            if isinstance(simplified, Path):
                result = simplified
            else:
                save_onnx(simplified, result)
            answer.write_text(json.dumps({"ok": bool(ok), "model": str(result)}))
            code = 0
        except BaseException as exc:  # noqa: BLE001  (anything, reported to the parent)
            first = str(exc).splitlines()[0] if str(exc) else ""
            answer.write_text(json.dumps({"error": f"{type(exc).__name__}: {first}"}))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    try:
        return _answer(tool, pid, answer, advice)
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _answer(tool: str, pid: int, answer: Path, advice: str) -> tuple[onnx.ModelProto, bool]:
    """The child's answer (its model, loaded), or why there is none."""
    import json
    import signal
    import time

    from edgeconv.tools import _signal_of

    deadline = time.monotonic() + TIME_LIMIT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ConversionError(f"{tool} did not finish within {TIME_LIMIT_S:g} s and was stopped; {advice}")
        time.sleep(0.02)
    if os.WIFSIGNALED(status):
        # Named as run_tool names a tool's crash; a number outside the Signals enum still reads.
        crash = _signal_of(-os.WTERMSIG(status), "local") or f"signal {os.WTERMSIG(status)}"
        raise ConversionError(f"{tool} crashed on this model: {crash}; {advice}")
    told = json.loads(answer.read_text()) if answer.exists() else {"error": f"exit {os.WEXITSTATUS(status)}, no answer"}
    if "error" in told:
        raise ConversionError(f"{tool} failed on this model ({told['error']}); {advice}")
    return load_onnx(told["model"]), told["ok"]


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
