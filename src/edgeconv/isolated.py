"""A vendor library's call that may crash or hang its process (the HTP compiler inside
onnxruntime-qnn), run in a Python process of its own: a crash is named with its signal and a call
past its time limit is stopped, as for the vendor tools run as programs (edgeconv.tools.run_tool).

A fresh process, not a fork: onnxruntime has threads by then, and a fork copies their locks in
whatever state they are. (The simplifiers, called before onnxruntime starts, are forked:
edgeconv.steps.simplify.) The call's arguments and answer travel as JSON; its output goes to the
step log as the step's own does.

Run as ``python -m edgeconv.isolated ARGS.json ANSWER.json`` by :func:`call` only.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError


def call(function: str, what: str, limit: float, *args: Any, **kwargs: Any) -> Any:
    """``module:function(*args, **kwargs)`` (JSON values) in its own process, under ``limit`` seconds.
    A ConversionError it raises is raised here with the same words."""
    from edgeconv.tools import killed, oom_kills

    with tempfile.TemporaryDirectory(prefix=".edgeconv-isolated.") as tmp:
        request, answer = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        request.write_text(json.dumps({"function": function, "args": args, "kwargs": kwargs}))
        sys.stdout.flush()
        sys.stderr.flush()
        oom_before = oom_kills()
        proc = subprocess.Popen([sys.executable, "-m", "edgeconv.isolated", str(request), str(answer)],
                                stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ConversionError(f"{what} did not finish within {limit:g} s and was stopped") from None
        ended = killed(what, proc.returncode, "local", oom_before)
        if ended:
            raise ended
        told = json.loads(answer.read_text()) if answer.exists() else {
            "error": f"{what} exited ({proc.returncode}) without an answer; see the step log"}
        if "error" in told:
            raise ConversionError(told["error"])
        return told["result"]


def main(argv: list[str]) -> int:
    request, answer = Path(argv[0]), Path(argv[1])
    asked = json.loads(request.read_text())
    module, name = asked["function"].split(":")
    try:
        result = getattr(importlib.import_module(module), name)(*asked["args"], **asked["kwargs"])
        told = {"result": result}
    except ConversionError as exc:
        told = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001  (reported to the caller with its type)
        first = str(exc).splitlines()[0] if str(exc) else ""
        told = {"error": f"unexpected {type(exc).__name__} in {asked['function']}: {first}"}
    sys.stdout.flush()
    answer.write_text(json.dumps(told))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
