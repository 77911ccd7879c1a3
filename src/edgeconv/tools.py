"""Finding and running external tools (vendor compilers, mo in its own environment).

A missing tool stops the run before any job of its target starts, with a message naming
the target, the tool and how to provide it. A failing tool shows its own error lines first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.containers import RUNTIME_KEYS, ToolCall, Toolchain, ToolTimeout, docker_output, run_in_docker
from edgeconv.errors import ConversionError
from edgeconv.lockinfo import tool_environment

# How to provide each tool; shown when it is missing.
CHECKOUT = Path(__file__).resolve().parents[2]

HOW_TO_PROVIDE: dict[tuple[str, ...], str] = {
    ("rvc2", "mo"): (
        "run `make mo-env` (creates .venvs/openvino-2022.3: Python 3.10 with openvino-dev[onnx]==2022.3.2), "
        "or set toolchains.rvc2.mo in config/config.yaml to a `mo` of OpenVINO 2022.3"
    ),
    ("rvc2", "compile_tool"): (
        "OpenVINO 2022.3's MYRIAD compile_tool is not on PyPI: take it from the OpenVINO 2022.3 Linux archive the "
        "reference's images are built from (tools/compile_tool/compile_tool) and set toolchains.rvc2.compile_tool: "
        "/path/to/compile_tool in config/config.yaml (or put it on PATH); or leave rvc2.openvino_version unset "
        "(or set it to 2021.4) to compile with the built-in OpenVINO 2021.4 compiler (make rvc2-env)"
    ),
}
# RVC2 with OpenVINO 2021.4, all from PyPI: mo 2021.4 and myriad_compile (make rvc2-env).
for _tool in ("mo", "compile_tool"):
    HOW_TO_PROVIDE[("rvc2", _tool, "2021.4")] = (
        "run `make rvc2-env` (creates .venvs/openvino-2021.4: Python 3.8 with openvino-dev==2021.4.2 and the "
        f"MYRIAD plugin, and builds myriad_compile), or set toolchains.rvc2.{_tool} in config/config.yaml"
    )

for _tool in ("snpe-onnx-to-dlc", "snpe-tflite-to-dlc", "snpe-dlc-quant", "snpe-dlc-graph-prepare", "snpe-dlc-info"):
    HOW_TO_PROVIDE[("rvc4", _tool)] = (
        "SNPE / Qualcomm AI Runtime (QAIRT) comes from Qualcomm's SDK archive (qpm.qualcomm.com), not from PyPI; "
        "unpack it and set toolchains.rvc4.bin_dir to its bin/x86_64-linux-clang directory in config/config.yaml "
        "(or put that directory on PATH, after sourcing the SDK's bin/envsetup.sh)"
    )

HOW_TO_PROVIDE[("hailo", "python")] = (
    "the Hailo Dataflow Compiler (hailo_dataflow_compiler wheel from Hailo's Developer Zone, not on PyPI) "
    "installs into its own Python environment; create one with the DFC and numpy, then set "
    "toolchains.hailo.python: /path/to/that/env/bin/python in config/config.yaml"
)

HOW_TO_PROVIDE[("rvc3", "mo")] = HOW_TO_PROVIDE[("rvc2", "mo")].replace("toolchains.rvc2", "toolchains.rvc3")
HOW_TO_PROVIDE[("rvc3", "pot")] = (
    "run `make mo-env` (POT comes with openvino-dev 2022.3 in .venvs/openvino-2022.3), "
    "or set toolchains.rvc3.pot in config/config.yaml"
)
HOW_TO_PROVIDE[("rvc3", "compile_tool")] = (
    "the compile_tool with the VPUX plugin is not on PyPI: take it from the OpenVINO 2022.3 toolkit "
    "with VPUX support that the reference's RVC3 image is built from, then set "
    "toolchains.rvc3.compile_tool: /path/to/compile_tool in config/config.yaml (or put it on PATH)"
)

DEFAULT_LOCATIONS: dict[tuple[str, ...], str] = {
    ("rvc2", "mo"): ".venvs/openvino-2022.3/bin/mo",
    ("rvc2", "mo", "2021.4"): ".venvs/openvino-2021.4/bin/mo",
    ("rvc2", "compile_tool", "2021.4"): ".venvs/openvino-2021.4/bin/myriad_compile",
    ("rvc3", "mo"): ".venvs/openvino-2022.3/bin/mo",
    ("rvc3", "pot"): ".venvs/openvino-2022.3/bin/pot",
}


# Inside the rvc2/rvc3 images (containers/rvc2/install.sh): the built-in OpenVINO 2021.4 toolchain.
IMAGE_LOCATIONS: dict[tuple[str, ...], str] = {
    ("rvc2", "mo", "2021.4"): "/opt/openvino-2021.4/bin/mo",
    ("rvc2", "compile_tool", "2021.4"): "/opt/openvino-2021.4/bin/myriad_compile",
}


def find_tool(toolchains: dict[str, Any], target: str, tool: str, root: Path = Path("."), version: str | None = None) -> str:
    """``version``: the OpenVINO release the tool must be of (rvc2: 2022.3 or 2021.4), which picks
    the environment it is looked for in when it is not configured."""
    section = toolchains.get(target) or {}
    key = (target, tool, version) if (target, tool, version) in DEFAULT_LOCATIONS else (target, tool)
    if tool in RUNTIME_KEYS:
        raise ConversionError(f"toolchains.{target}.{tool} names a runtime setting, not a tool")
    configured = section.get(tool)
    if section.get("runtime", "local") != "local":
        # A path or name inside the image; whether the image has it is checked through the runtime.
        if configured:
            return str(configured)
        if section.get("bin_dir"):
            return str(Path(section["bin_dir"]) / tool)
        return IMAGE_LOCATIONS.get(key, tool)
    label = f"toolchains.{target}.{tool}={configured}"
    if not configured and section.get("bin_dir"):
        configured = str(Path(section["bin_dir"]) / tool)
        label = f"toolchains.{target}.bin_dir: {configured}"
    looked: list[str] = []
    if configured:
        path = Path(configured) if Path(configured).is_absolute() else root / configured
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.absolute())
        looked.append(f"{label} (not an executable file)")
    else:
        default = DEFAULT_LOCATIONS.get(key)
        # `make mo-env` creates the environment in the checkout edgeconv runs from.
        for base in (root, CHECKOUT):
            if default and (base / default).is_file():
                return str((base / default).absolute())
            if default:
                looked.append(str(base / default))
        if tool != "python":  # the DFC's interpreter must be named; the PATH python is not it
            found = shutil.which(tool)
            if found:
                return found
            looked.append("PATH")
        else:
            looked.append(f"toolchains.{target}.python (not set)")
    raise ConversionError(
        f"target {target}: `{tool}` not found (looked at {', '.join(looked)}); "
        f"{HOW_TO_PROVIDE.get(key, HOW_TO_PROVIDE.get((target, tool), f'set toolchains.{target}.{tool}'))}"
    )


# How long one vendor tool call may run (toolchains.<target>.timeout overrides it): generous, since
# a Hailo compile of a large model takes hours; a tool that hangs is still stopped.
DEFAULT_TIMEOUT_S = 6 * 3600

# Locked environments of the tools this step ran locally (a `make mo-env` venv), by executable.
TOOL_ENVIRONMENTS: dict[str, dict[str, Any]] = {}

# The toolchain of the step being run (set by the step driver from the step's parameters).
_TOOLCHAIN: Toolchain = Toolchain(target="")


def use_toolchain(params: dict[str, Any] | None) -> Toolchain:
    global _TOOLCHAIN
    spec = dict(params or {})
    _TOOLCHAIN = Toolchain(target=spec.pop("target", ""), **spec)
    return _TOOLCHAIN


def runs_locally() -> bool:
    """Whether the step's tools run on this machine (not in a container)."""
    return _TOOLCHAIN.runtime == "local"


def cache_dir() -> Path:
    """Where edgeconv keeps what it may forget (``EDGECONV_CACHE_DIR``, else the XDG cache)."""
    if os.environ.get("EDGECONV_CACHE_DIR"):
        return Path(os.environ["EDGECONV_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeconv"


def script_head(path: str | Path) -> tuple[bytes, Path | None]:
    """The first bytes of an executable and, for a script, the interpreter its ``#!`` line names."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return b"", None
    if not head.startswith(b"#!"):
        return head, None
    words = head[2:].split(b"\n", 1)[0].split()
    return head, Path(words[0].decode(errors="replace")) if words else None


def _version_key(argv: list[str], tc: Toolchain, env: dict[str, Any] | None) -> str | None:
    """What a tool's version answer depends on: for a local tool the executable's path, size and
    mtime (and its interpreter's, for a script, and the lock of its environment); in an image, the
    image id. None: not cacheable (the answer is asked every time)."""
    if tc.runtime == "docker":
        return f"image {tc.image_id}: {argv}" if tc.image_id else None
    if tc.runtime != "local":
        return None
    _, interpreter = script_head(argv[0])  # a script: its interpreter's answer may change without it
    files = [Path(argv[0]), *([interpreter] if interpreter else [])]
    try:
        stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    except OSError:
        return None
    return json.dumps({"argv": argv, "files": stats, "lock": (env or {}).get("sha256")}, sort_keys=True)


def _ask_version(argv: list[str], tc: Toolchain) -> str:
    if tc.runtime == "docker":
        return docker_output(argv, tc)[1]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        return proc.stdout + proc.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"


def _cached_version_text(argv: list[str], tc: Toolchain, env: dict[str, Any] | None) -> str:
    """The tool's answer to its version query, asked once per tool build (a second Python start-up
    for `mo`, about 2 s, otherwise) and kept in ``cache_dir()/tool-versions.json``."""
    key = _version_key(argv, tc, env)
    path = cache_dir() / "tool-versions.json"
    cache: dict[str, str] = {}
    if key is not None:
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        if isinstance(cache.get(key), str):
            return cache[key]
    text = _ask_version(argv, tc)
    if key is not None and not text.startswith("unknown ("):
        cache[key] = text
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return text


def tool_version(argv: list[str]) -> str:
    """First output lines of a version query. With toolchains.<target>.version set, a tool that
    reports another version stops the step (call this before the tool runs). The answer is cached
    per tool build (see :func:`_cached_version_text`); the pin is checked against it every time."""
    tc = _TOOLCHAIN
    env = tool_environment(argv[0]) if tc.runtime == "local" else None
    text = _cached_version_text(argv, tc, env)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    version = " | ".join(lines[:2]) if lines else "unknown"
    if env:
        TOOL_ENVIRONMENTS[argv[0]] = env
    if tc.version and tc.version not in text:
        raise ConversionError(
            f"toolchains.{tc.target}.version pins {tc.version} but `{' '.join(argv)}` reports {version!r}"
            + (f" (image {tc.image})" if tc.image and tc.runtime != "local" else "")
            + "; install the pinned version or change the pin"
        )
    return version


class _Tee:
    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> None:
        for s in self.streams:
            s.write(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def run_tool(
    argv: list[str],
    what: str,
    cwd: Path | None = None,
    reads: tuple[Path | str, ...] | list[Path | str] = (),
    writes: tuple[Path | str, ...] | list[Path | str] = (),
) -> dict[str, Any]:
    """Run a tool; its output goes to the step log (our stdout). On failure raise with its error lines.
    ``reads``/``writes`` name the files and directories the call uses: with a container runtime
    they are all the container sees (read-only / read-write)."""
    tc = _TOOLCHAIN
    limit = tc.timeout or DEFAULT_TIMEOUT_S
    try:
        if tc.runtime == "docker":
            buf = _KeptOutput()
            call = ToolCall(
                argv=list(argv),
                reads=tuple(Path(p) for p in reads),
                writes=tuple(Path(p) for p in writes),
                workdir=Path(cwd or Path.cwd()),
            )
            returncode = run_in_docker(call, tc, out=_Tee(sys.stdout, buf), timeout=limit)
            output = buf.text()
        else:
            print("$ " + " ".join(argv), flush=True)
            oom_before = oom_kills()
            try:
                returncode, output = _run_local(argv, cwd, limit)
            except OSError as exc:
                raise ConversionError(_not_started(argv[0], what, exc, tc.target)) from None
    except ToolTimeout:
        key = f"toolchains.{tc.target}.timeout" if tc.target else "toolchains.<target>.timeout"
        raise ConversionError(
            f"{what} did not finish within {limit:g} s ({key}) and was stopped, with every process it started; "
            f"if it needs longer, raise {key} in config/config.yaml"
        ) from None
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    ended = killed(what, returncode, tc.runtime, None if tc.runtime == "docker" else oom_before, lines)
    if ended:
        raise ended
    if returncode != 0:
        errors = [line for line in lines if "ERROR" in line.upper()] or lines[-3:] or ["(no output)"]
        from edgeconv.op_errors import WHAT_TO_DO, describe

        model = next((Path(p) for p in reads if Path(p).suffix in (".onnx", ".xml")), None)
        named = describe(output, model)
        if named:  # a tool that cannot convert or compile an op: which, and where, first
            error = ConversionError(f"{what} cannot convert {named}: {WHAT_TO_DO}; its errors: " + " / ".join(errors[:3]))
        else:
            error = ConversionError(f"{what} failed (exit {returncode}): " + " / ".join(errors[:3]))
        error.tool_output = output  # for a caller that explains the failure better than the tool's lines
        raise error
    return {"argv": argv, "returncode": returncode}


def _not_started(tool: str, what: str, exc: OSError, target: str | None) -> str:
    """Why the system refused to start a tool (it was found before any job ran, so it was there then)."""
    import errno

    key = f"toolchains.{target}" if target else "toolchains.<target>"
    if exc.errno == errno.ENOENT and Path(tool).exists():
        why = "the file is there, but the interpreter on its #! line (or its loader) is not: reinstall the tool"
    elif exc.errno == errno.ENOENT:
        why = f"it is gone (it was there when the run began): reinstall it, or set its path under {key}"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = f"permission denied: make it executable (chmod +x), or set its path under {key}"
    elif exc.errno == errno.ENOEXEC:
        why = "not a program this machine can run (another architecture, or a script without a #! line)"
    else:
        why = exc.strerror or str(exc)
    return f"{what} could not be started ({tool}): {why}"


def _start(argv: list[str], cwd: Path | None) -> subprocess.Popen:
    """Start a tool in its own process group, with no input (a tool that asks a question reads
    end-of-file at once instead of waiting for a terminal that no one watches). A tool file that
    was just written can be "busy" (ETXTBSY) for an instant, while a process forked elsewhere still
    holds it open to write: try again, briefly, rather than fail the step."""
    import errno
    import time

    for attempt in range(6):
        try:
            return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt == 5:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


class _KeptOutput:
    """A tool's output as it comes: all of it to the step log at once, and in memory its first
    1 MB and last 4 MB only, by line (what an error message quotes and names ops from), so a tool
    that writes gigabytes costs none."""

    HEAD_CHARS, TAIL_CHARS, PIECE = 1 << 20, 4 << 20, 1 << 16

    def __init__(self) -> None:
        from collections import deque

        self.head: list[str] = []
        self.tail: deque[str] = deque()
        self.head_size = self.tail_size = self.dropped = 0
        self.partial = ""

    def keep(self, line: str) -> None:
        if self.head_size < self.HEAD_CHARS:
            self.head.append(line)
            self.head_size += len(line)
            return
        self.tail.append(line)
        self.tail_size += len(line)
        while self.tail_size > self.TAIL_CHARS and len(self.tail) > 1:
            self.tail_size -= len(self.tail.popleft())
            self.dropped += 1

    def pump(self, stream) -> None:
        """A local tool's output, as it comes: to the step log, and kept."""
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := os.read(stream.fileno(), 1 << 16):
            text = decoder.decode(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            self.write(text)

    def write(self, chunk: str) -> None:
        """Output in chunks that need not end at a line (a container's stream, beside the step log in
        a _Tee). A "line" that never ends (a progress bar redrawn with \\r) is kept in pieces of 64 kB."""
        *lines, self.partial = (self.partial + chunk).split("\n")
        for line in lines:
            self.keep(line + "\n")
        while len(self.partial) > self.PIECE:
            self.keep(self.partial[: self.PIECE] + "\n")
            self.partial = self.partial[self.PIECE :]

    def flush(self) -> None:
        pass

    def text(self) -> str:
        gap = [f"... ({self.dropped} lines, in the step log) ...\n"] if self.dropped else []
        return "".join(self.head + gap + list(self.tail)) + self.partial


def _end_group(pgid: int, grace: float = 10, proc: subprocess.Popen | None = None) -> bool:
    """End every process of a process group (SIGTERM, then SIGKILL after ``grace`` s); False when
    none was left. ``proc``, the tool itself when it still runs, is reaped here (a zombie stays in
    its group)."""
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return sig != signal.SIGTERM
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
    return True


def _run_local(argv: list[str], cwd: Path | None, limit: float) -> tuple[int, str]:
    """Run a tool in its own process group. Past ``limit`` seconds the whole group is ended
    (SIGTERM, then SIGKILL), so nothing it started is left running. When the tool exits, whatever
    it left running in its group (a helper that holds its output open, a daemon) is ended too: the
    step does not wait for it, and it does not outlive the step."""
    import threading

    proc = _start(argv, cwd)
    kept = _KeptOutput()
    reader = threading.Thread(target=kept.pump, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _end_group(proc.pid, proc=proc)
        reader.join(timeout=5)
        raise ToolTimeout(argv[0]) from None
    reader.join(timeout=0.5)  # the tool's last lines, when nothing it started holds its output open
    if _end_group(proc.pid, grace=5):
        print(f"note: {Path(argv[0]).name} exited and left processes running; they were ended", flush=True)
    reader.join(timeout=5)
    return proc.returncode, kept.text()


def killed(what: str, returncode: int, runtime: str, oom_before: int | None, output: list[str] | None = None) -> ConversionError | None:
    """The error of a tool a signal ended (None when none did), the signal by name. A SIGKILL is
    not a crash: it came from outside, and when this process's memory cgroup counted an
    out-of-memory kill since ``oom_before`` (:func:`oom_kills`), the error says that is what it was."""
    name = _signal_of(returncode, runtime)
    if not name:
        return None
    last = f"; its last output: {' / '.join(output[-2:]) or '(none)'}" if output is not None else ""
    if not name.startswith("SIGKILL"):
        return ConversionError(f"{what} was killed by {name}: the tool crashed (not a problem with the model that it reported){last}")
    more = ("give it more (a larger machine, the cluster job's mem_mb, toolchains.<target>.mem_mb with docker) "
            "or run fewer jobs at once (--cores, --resources mem_mb=N)")
    if oom_kills_since(oom_before) > 0:
        return ConversionError(f"{what} ran out of memory: the kernel's out-of-memory killer ended it with {name} (this "
                               f"job's memory cgroup counted the kill); it needs more memory than the job has: {more}{last}")
    return ConversionError(f"{what} was killed by {name} from outside the tool: most often the kernel's out-of-memory "
                           f"killer (`dmesg` says) or a scheduler's memory or time limit; if it was memory, {more}{last}")


def oom_kills_since(before: int | None) -> int:
    """How many out-of-memory kills this process's memory cgroup counted since it counted ``before``
    (:func:`oom_kills`); 0 where either count could not be read."""
    now = oom_kills()
    return now - before if now is not None and before is not None else 0


def oom_kills(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """How many processes the kernel's out-of-memory killer has ended in this process's memory
    cgroup (cgroup v1 ``memory.oom_control``, v2 ``memory.events``); None where it cannot be read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    places = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "memory" in controllers.split(","):
            places += [root / "memory" / path.lstrip("/") / "memory.oom_control", root / "memory" / "memory.oom_control"]
        elif controllers == "":
            places += [root / path.lstrip("/") / "memory.events", root / "memory.events"]
    for place in places:
        try:
            for entry in place.read_text().splitlines():
                key, _, value = entry.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def _signal_of(returncode: int, runtime: str) -> str | None:
    """``SIGSEGV (signal 11)`` for a tool killed by a signal: a negative code here, 128+N in a container."""
    import signal

    number = -returncode if returncode < 0 else (returncode - 128 if runtime == "docker" and 128 < returncode < 160 else 0)
    try:
        return f"{signal.Signals(number).name} (signal {number})" if number else None
    except ValueError:
        return None


@dataclass
class ToolRun:
    """One vendor tool call in progress: where it writes, and its version (checked against the pin)."""

    tmp: Path  # a temporary directory beside the output, removed afterwards
    produced: Path  # where the tool is told to write the output (tmp / the output's name)
    version: str | None


@contextmanager
def tool_output(out: Path, what: str, version_argv: list[str] | None = None, place: bool = True) -> Iterator[ToolRun]:
    """The frame every vendor tool call shares: the tool's version first (a pinned toolchain stops
    here), a temporary directory beside ``out`` for it to write into, and ``out`` only when the
    tool succeeded and wrote something (``place=False``: the caller moves what it wrote)."""
    version = tool_version(version_argv) if version_argv else None
    out.parent.mkdir(parents=True, exist_ok=True)
    # No dots in the directory name: mo derives the .bin path by replacing ".xml" anywhere in it.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name.replace('.', '_')}.") as tmp:
        run = ToolRun(tmp=Path(tmp), produced=Path(tmp) / out.name, version=version)
        yield run
        if place:
            place_output(run.produced, out, what)


def model_files(path: Path | str) -> list[Path]:
    """A model file and the files it needs beside it (an IR's .bin, an ONNX model's external data)."""
    path = Path(path)
    extra = [path.with_suffix(".bin")] if path.suffix == ".xml" else []
    extra += [path.with_name(path.name + "_data"), path.with_name(path.stem + ".onnx_data"), path.with_name(path.name + ".data")]
    return [path] + [p for p in extra if p.exists() and p != path]


def place_output(produced: Path, out: Path, what: str) -> None:
    """Move a tool's output from its temporary directory to its final path, refusing a missing or
    empty file (a tool that exits 0 without writing must not leave a placeholder)."""
    if not produced.exists() or produced.stat().st_size == 0:
        raise ConversionError(f"{what} finished but wrote no {produced.name}")
    os.replace(produced, out)
