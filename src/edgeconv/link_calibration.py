"""Calibration linked to another stage of a multi-stage model.

``stage_outputs`` runs the upstream stage's simplified ONNX (normalization embedded, so it is fed
exactly what its own calibration holds) on CPU with onnxruntime, one calibration sample at a
time, and keeps every output. A downstream input with ``calibration: {stage, output}`` takes that
output as its calibration data; with ``{stage, script}`` a Python script turns the outputs of each
sample into the input's data. The script is the reference's contract: it defines
``run_script(outputs: dict[str, numpy.ndarray]) -> numpy.ndarray``; it may be inline code or the
path of a ``.py`` file (relative to the project).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.arrays import sample as sample_at
from edgeconv.config.resolve import ResolvedInput
from edgeconv.errors import CalibrationError
from edgeconv.onnx_io import numpy_dtype
from edgeconv.threads import ort_options


class ScriptError(CalibrationError):
    """A calibration script that cannot be used."""


def script_file(script: str) -> str | None:
    """The path a ``script`` value names (one line ending in ``.py``), or None for inline code."""
    text = script.strip()
    return text if text.endswith(".py") and "\n" not in text else None


def _script_source(script: str, root: Path) -> tuple[str, str]:
    text = script_file(script)
    if text is not None:
        path = Path(text) if Path(text).is_absolute() else root / text
        try:
            return path.read_text(), str(path)
        except OSError as exc:
            raise ScriptError(f"cannot read the script file {path} ({exc.strerror}); give inline code or a readable .py file") from None
    return script, "<calibration script>"


def check_script(script: str, root: Path = Path(".")) -> None:
    """Syntax and a top-level ``run_script`` function, checked without running anything."""
    source, where = _script_source(script, root)
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise ScriptError(f"{where} line {exc.lineno}: {exc.msg}") from None
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "run_script" not in defined:
        raise ScriptError(f"{where} defines no function `run_script(outputs)`; define one that returns the input's array")


def load_script(script: str, root: Path = Path(".")) -> Callable[[dict[str, np.ndarray]], Any]:
    check_script(script, root)
    source, where = _script_source(script, root)
    scope: dict[str, Any] = {"__name__": "edgeconv_calibration_script"}
    try:
        exec(compile(source, where, "exec"), scope)  # noqa: S102 -- the script comes from the user's own config
    except Exception as exc:
        raise ScriptError(f"{where} failed while loading: {type(exc).__name__}: {exc}") from None
    return scope["run_script"]


def stage_outputs(model: Path, calibration: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of ``model`` for every calibration sample: ``{output: [samples, *shape]}``."""
    import onnxruntime as ort

    opts = ort_options(ort.SessionOptions())
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in calibration]
    if missing:
        raise CalibrationError(f"{model}: no calibration data for input(s) {', '.join(missing)}")
    count = min(len(calibration[n]) for n in names)
    outputs = [o.name for o in session.get_outputs()]
    results: dict[str, list[np.ndarray]] = {o: [] for o in outputs}
    for i in range(count):
        values = session.run(outputs, sample_at(calibration, i, names))
        for name, value in zip(outputs, values):
            results[name].append(np.asarray(value))
    return {name: np.stack(values) for name, values in results.items()}


def linked_calibration(spec: ResolvedInput, upstream: dict[str, np.ndarray], root: Path = Path(".")) -> np.ndarray:
    """The calibration array ``[samples, *spec.shape]`` of a linked input."""
    link = spec.calibration
    if link.get("output") is not None:
        name = link["output"]
        if name not in upstream:
            raise CalibrationError(
                f"input {spec.name!r}: stage {link['stage']!r} produced no output {name!r}; "
                f"it produced: {', '.join(upstream)}"
            )
        samples = list(upstream[name])
        what = f"output {name!r} of stage {link['stage']!r}"
    else:
        run_script = load_script(link["script"], root)
        count = min(len(v) for v in upstream.values())
        samples = []
        for i in range(count):
            try:
                samples.append(np.asarray(run_script(sample_at(upstream, i))))
            except Exception as exc:
                raise ScriptError(
                    f"input {spec.name!r}: the calibration script failed on sample {i} of stage {link['stage']!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        what = f"the script's result on stage {link['stage']!r}"
    size = int(np.prod(spec.shape))
    out = []
    for i, sample in enumerate(samples):
        if sample.size != size:
            raise CalibrationError(
                f"input {spec.name!r}: {what} has shape {list(sample.shape)} ({sample.size} values, sample {i}) "
                f"but the input is {spec.shape} ({size} values); link an output of that size or reshape it in a script"
            )
        out.append(sample.reshape(spec.shape))
    if not out:
        raise CalibrationError(f"input {spec.name!r}: stage {link['stage']!r} produced no samples")
    return np.stack(out).astype(numpy_dtype(spec.data_type))
