"""Run one conversion step: ``python -m edgeconv.steps STEP --input k=PATH --output k=PATH --params JSON``.

This is what every Snakemake rule calls. A step reads its named inputs and
parameters and writes its named outputs, nothing else, so it runs the same on
a laptop, in a container or on a cluster node. Each step also writes a record
(argv, tool calls and versions, input/output checksums, parameters) that the
``buildinfo`` step assembles per artifact.

Tool output goes to ``--log``; the console gets one line saying what failed,
where, and what to do.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.lockinfo import environment
from edgeconv.records import parent_records, path_sha256, tool_versions, write_json_atomic
from edgeconv.steps.base import step, step_names
from edgeconv.tools import TOOL_ENVIRONMENTS, use_toolchain


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, path = v.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes key=path, got {v!r}")
        out[key] = path
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="edgeconv-step", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=step_names())
    parser.add_argument("--input", action="append", default=[], metavar="KEY=PATH")
    parser.add_argument("--output", action="append", default=[], metavar="KEY=PATH")
    parser.add_argument("--params", default="{}", help="JSON object of step parameters")
    parser.add_argument("--record", help="where to write the step record (JSON)")
    parser.add_argument("--log", help="append tool output and the step's log here")
    args = parser.parse_args(argv)
    inputs = {k: Path(v) for k, v in _pairs(args.input, "--input").items()}
    outputs = {k: Path(v) for k, v in _pairs(args.output, "--output").items()}
    params: dict[str, Any] = json.loads(args.params)
    declared = step(args.step)

    console = os.fdopen(os.dup(2), "w")
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # Tools print to stdout/stderr directly (progress bars, warnings): send them to the log.
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    log = logging.getLogger("edgeconv.step")
    label = params.get("model", "")
    # A long step's progress (accuracy control's trials): to its log, and a line each to the console,
    # which Snakemake and `edgeconv convert` show as the job runs.
    to_console = logging.StreamHandler(console)
    to_console.setFormatter(logging.Formatter(f"{args.step} ({label}): %(message)s"))
    logging.getLogger("edgeconv.progress").addHandler(to_console)
    # Every warning a step raises (layers left on the CPU, a simplifier's fallback, random
    # calibration ...) reaches the console too, where plain snakemake and `edgeconv convert` show
    # it, and the step record keeps them.
    warned = _Warnings(console, f"warning: {args.step} ({label}): ")
    logging.getLogger("edgeconv").addHandler(warned)
    log.info("step %s for %s: inputs %s", args.step, label, {k: str(v) for k, v in inputs.items()})
    started = time.time()
    toolchain = params.get("toolchain")
    try:
        use_toolchain(toolchain)
        details = declared.run(inputs, outputs, declared.load_params(params)) or {}
    except ConversionError as exc:
        _fail(console, log, outputs, f"{args.step} ({label}): {exc}")
        return 1
    except Exception as exc:  # an unexpected failure: the traceback goes to the log, one line to the console
        log.error("%s", traceback.format_exc())
        full = no_space(exc, [*outputs.values(), *([Path(args.log)] if args.log else [])])
        if full:
            _fail(console, log, outputs, f"{args.step} ({label}): {full} (see {args.log})")
            return 1
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(console, log, outputs, f"{args.step} ({label}): unexpected {type(exc).__name__}: {first} (see {args.log})")
        return 1
    duration = round(time.time() - started, 3)
    if args.record:  # checksums and parent links only when there is a record to write
        record = _record(args.step, label, argv, started, duration, inputs, outputs, params, toolchain)
        clash = sorted(details.keys() & record.keys())
        if clash:  # a step must not overwrite what the record says about its files and provenance
            _fail(console, log, outputs, f"{args.step} ({label}): internal error: the step returned record keys {clash}")
            return 1
        record.update(details)
        if warned.messages:
            record["warnings"] = warned.messages
        write_json_atomic(Path(args.record), record)
    log.info("step %s done in %.2fs", args.step, duration)
    return 0


class _Warnings(logging.Handler):
    """Warnings of the edgeconv loggers: one line each to the console, and kept for the record."""

    def __init__(self, console: Any, prefix: str) -> None:
        super().__init__(level=logging.WARNING)
        self.console, self.prefix, self.messages = console, prefix, []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno != logging.WARNING:
            return  # an error is reported once, by the step's own one-line failure
        message = record.getMessage()
        self.messages.append(message)
        if record.name.startswith("edgeconv.progress"):
            return  # already on the console
        self.console.write(f"{self.prefix}{message}\n")
        self.console.flush()


def _record(
    step: str, label: str, argv: list[str], started: float, duration: float,
    inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any], toolchain: dict[str, Any] | None,
) -> dict[str, Any]:
    # Directories too (extracted calibration sets): by the digest of their files.
    files = {k: {"path": str(p), "sha256": path_sha256(p)} for k, p in inputs.items() if p.exists()}
    return {
        "step": step,
        "model": label,
        "argv": [sys.executable, "-m", "edgeconv.steps", *argv],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": duration,
        # Peak memory and CPU time of the step and the tools it ran here (the `benchmark:` files'
        # figures; steps that Snakemake's output cache may serve have no `benchmark:`).
        "resources": _resources(),
        # Where the step ran: a record served from the output cache names the run that made it.
        "made_by": {"host": socket.gethostname(), "workdir": os.getcwd()},
        "tool_versions": tool_versions(),
        # The lock this environment (and each locally run tool's) was installed from.
        "environment": environment(),
        **({"tool_environments": dict(TOOL_ENVIRONMENTS)} if TOOL_ENVIRONMENTS else {}),
        "inputs": files,
        # Provenance: the record of the step that made each input (buildinfo walks these back).
        "parents": parent_records(files),
        "outputs": {k: {"path": str(p), "sha256": path_sha256(p)} for k, p in outputs.items() if p.exists()},
        "params": params,
        **({"toolchain": toolchain} if toolchain else {}),
    }


def _resources() -> dict[str, float]:
    own, tools = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "max_rss_mb": round(max(own.ru_maxrss, tools.ru_maxrss) / 1024, 1),  # ru_maxrss is in KiB on Linux
        "cpu_s": round(own.ru_utime + own.ru_stime + tools.ru_utime + tools.ru_stime, 3),
    }


def _space_errors(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            yield exc
        elif "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            yield exc  # a library's own exception around the system's error (protobuf, OpenVINO)
        exc = exc.__cause__ or exc.__context__


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def no_space(exc: BaseException, written: list[Path]) -> str | None:
    """For a full disk (or quota): the error with the file system it hit, and what to do."""
    found = next(_space_errors(exc), None)
    if found is None:
        return None
    named = getattr(found, "filename", None)
    candidates = [Path(named)] if named else []
    candidates += [p.parent for p in written] + [Path(tempfile.gettempdir())]
    free = {}
    for c in candidates:
        existing = next((p for p in (c, *c.parents) if p.exists()), None)
        if existing is not None:
            free.setdefault(existing, shutil.disk_usage(existing).free)
    # The file the system named, else the fullest of the places the step writes to.
    where = Path(os.path.abspath(named if named else min(free, key=free.get)))
    known = next((p for p in free if where == p.absolute() or p.absolute() in where.parents), where)
    left = free.get(known)
    first = str(found).strip().splitlines()[0] if str(found).strip() else type(found).__name__
    if isinstance(found, OSError) and found.strerror:
        first = f"[Errno {found.errno}] {found.strerror}"
    return (
        f"{type(found).__name__}: {first} on the file system of {where} (mounted at {_mount_point(known)},"
        f" {(left or 0) / 1e6:.1f} MB free): free space there, then run the same command again"
    )


def _fail(console: Any, log: logging.Logger, outputs: dict[str, Path], message: str) -> None:
    log.error("%s", message)
    for path in outputs.values():  # never leave a partial output behind
        if path.is_file():
            path.unlink()
            if path.suffix == ".xml":
                path.with_suffix(".bin").unlink(missing_ok=True)
    console.write(f"error: {message}\n")
    console.flush()


if __name__ == "__main__":
    sys.exit(main())
