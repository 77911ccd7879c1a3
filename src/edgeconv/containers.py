"""Per-target toolchains: where a target's vendor tools run.

``toolchains.<target>.runtime`` in config/config.yaml is one of

- ``local``: the tools run on this machine (paths in ``toolchains.<target>.<tool>``).
- ``docker``: each tool call runs in a container of ``toolchains.<target>.image`` through the
  Docker Engine API (the ``docker`` SDK), so Docker and podman's API service both work. The
  edgeconv step itself runs on the host; the container sees only the files the call reads
  (read-only) and the directory it writes (read-write), at the same paths as on the host,
  runs as the invoking user, has no network, and is removed afterwards. Its output streams
  into the step log.
- ``apptainer``: Snakemake runs the whole step inside the image (``container:`` directives,
  ``snakemake --sdm apptainer``); the image carries edgeconv and the tools
  (containers/<target>/Apptainer.def).

``toolchains.<target>.version`` pins the tool version: a run whose tool reports another
version stops. The toolchain is a parameter of exactly the steps of its target, so switching
runtime, image or version reruns those steps and nothing else.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError

RUNTIMES = ("local", "docker", "apptainer")
# Keys of a toolchains.<target> section that describe the runtime, not a tool path.
RUNTIME_KEYS = ("runtime", "image", "version", "env", "cpus", "mem_mb", "timeout")

BUILD_HINT = {
    "rvc2": "containers/build-rootfs.sh rvc2 (no registry needed), or podman/docker build -f containers/rvc2/Containerfile .",
    "rvc3": "containers/build-rootfs.sh rvc3, or podman/docker build -f containers/rvc3/Containerfile . "
    "(put the VPUX toolkit archive in containers/rvc3/vendor/ first)",
    "rvc4": "podman/docker build -f containers/rvc4/Containerfile . (put Qualcomm's QAIRT/SNPE archive in "
    "containers/rvc4/vendor/ first)",
    "hailo": "podman/docker build -f containers/hailo/Containerfile . (put the hailo_dataflow_compiler wheel in "
    "containers/hailo/vendor/ first)",
}

SERVICE_HINT = (
    "start Docker, or podman's API service (`podman system service --time=0 unix:///run/podman/podman.sock &` "
    "and `export DOCKER_HOST=unix:///run/podman/podman.sock`)"
)


@dataclass(frozen=True)
class Toolchain:
    target: str
    runtime: str = "local"
    image: str | None = None
    image_id: str | None = None
    # The image's io.edgeconv.versions label: pinned versions and the digest of its lock.
    image_versions: str | None = None
    version: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    mem_mb: int | None = None
    # Seconds one tool call may run before its process group (or container) is ended.
    timeout: float | None = None
    # Tools the image declares in its io.edgeconv.tools label (not a parameter).
    image_tools: tuple[str, ...] | None = None
    # For tools on this machine: the sha256 of the lock each one's environment was installed from
    # (a parameter, so that a reinstall from another lock reruns the step and misses the cache).
    tool_locks: dict[str, str] | None = None

    def as_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {}) and k not in ("target", "image_tools")}


def toolchain_section(toolchains: dict[str, Any], target: str) -> dict[str, Any]:
    section = toolchains.get(target) or {}
    if not isinstance(section, dict):
        raise ConversionError(f"toolchains.{target} must be a mapping, got {section!r}")
    return section


def parse_toolchain(toolchains: dict[str, Any], target: str) -> Toolchain:
    """The runtime part of toolchains.<target>, checked (without contacting any engine)."""
    s = toolchain_section(toolchains, target)
    runtime = str(s.get("runtime", "local"))
    if runtime not in RUNTIMES:
        raise ConversionError(f"toolchains.{target}.runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")
    image = s.get("image")
    if runtime != "local" and not image:
        raise ConversionError(
            f"toolchains.{target}.runtime is {runtime} but toolchains.{target}.image is not set; "
            f"name the image (build one with {BUILD_HINT.get(target, 'its recipe in containers/<target>/ (docs/targets.md, Containers)')})"
        )
    env = s.get("env") or {}
    if not isinstance(env, dict):
        raise ConversionError(f"toolchains.{target}.env must be a mapping of NAME: value, got {env!r}")
    try:
        cpus = float(s["cpus"]) if s.get("cpus") is not None else None
        mem_mb = int(s["mem_mb"]) if s.get("mem_mb") is not None else None
        timeout = float(s["timeout"]) if s.get("timeout") is not None else None
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"toolchains.{target}.cpus / mem_mb / timeout must be numbers: {exc}") from None
    if timeout is not None and timeout <= 0:
        raise ConversionError(f"toolchains.{target}.timeout must be a number of seconds above 0, got {timeout:g}")
    version = s.get("version")
    return Toolchain(
        target=target,
        runtime=runtime,
        image=str(image) if image else None,
        version=str(version) if version is not None else None,
        env={str(k): str(v) for k, v in env.items()},
        cpus=cpus,
        mem_mb=mem_mb,
        timeout=timeout,
    )


# ----------------------------------------------------------------------------- docker


@dataclass(frozen=True)
class ToolCall:
    """One tool invocation: its argv and the host paths it reads and the directories it writes."""

    argv: list[str]
    reads: tuple[Path, ...] = ()
    writes: tuple[Path, ...] = ()
    workdir: Path = field(default_factory=Path.cwd)


def _within(path: Path, parents: list[Path]) -> bool:
    return any(path == p or p in path.parents for p in parents)


def mounts_for(call: ToolCall) -> list[dict[str, Any]]:
    """Bind mounts at the same absolute paths as on the host: written directories read-write,
    read files and directories read-only, nothing nested twice, symlinks followed."""
    writes: list[Path] = []
    for w in sorted({Path(os.path.abspath(call.workdir / p)) for p in call.writes}, key=lambda p: len(p.parts)):
        if not _within(w, writes):
            writes.append(w)
    reads: list[Path] = []
    for r in sorted({Path(os.path.abspath(call.workdir / p)) for p in call.reads}, key=lambda p: len(p.parts)):
        if not r.exists():
            raise ConversionError(f"cannot mount {r} into the container: it does not exist")
        if not _within(r, writes + reads):
            reads.append(r)
    return [
        {"Type": "bind", "Source": str(p.resolve()), "Target": str(p), "ReadOnly": ro}
        for ro, paths in ((False, writes), (True, reads))
        for p in paths
    ]


def docker_create_args(call: ToolCall, tc: Toolchain, uid: int, gid: int, name: str) -> dict[str, Any]:
    """Keyword arguments of ``docker.client.containers.create`` for one tool call."""
    args: dict[str, Any] = {
        "image": tc.image_id or tc.image,
        "command": list(call.argv),
        "name": name,
        "user": f"{uid}:{gid}",
        "working_dir": str(Path(os.path.abspath(call.workdir))),
        # No host environment leaks in; HOME points at a writable place for tools' caches.
        "environment": {"HOME": "/tmp", **tc.env},
        "mounts": mounts_for(call),
        "network_mode": "none",
        "labels": {"io.edgeconv.target": tc.target, "io.edgeconv.job": name},
        "detach": True,
    }
    if tc.cpus:
        args["nano_cpus"] = int(tc.cpus * 1e9)
    if tc.mem_mb:
        args["mem_limit"] = f"{tc.mem_mb}m"
    return args


def docker_client():
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a dependency
        raise ConversionError("the docker Python package is missing; reinstall edgeconv (pip install -e .)") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST", "the default socket /var/run/docker.sock")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConversionError(f"cannot reach the Docker Engine API at {where} ({first}); {SERVICE_HINT}") from None
    return client


def _mount_objects(mounts: list[dict[str, Any]]):
    from docker.types import Mount

    return [Mount(target=m["Target"], source=m["Source"], type="bind", read_only=m["ReadOnly"]) for m in mounts]


class ToolTimeout(Exception):
    """A tool call ran past its time limit and was stopped."""


def run_in_docker(call: ToolCall, tc: Toolchain, out=None, announce: bool = True, timeout: float | None = None) -> int:
    """Run one tool call in a fresh container, streaming its output to ``out``; always remove it.
    Past ``timeout`` seconds the container is killed (everything in it ends) and ToolTimeout raised."""
    out = out or sys.stdout
    client = docker_client()
    name = f"edgeconv-{tc.target}-{uuid.uuid4().hex[:12]}"
    args = docker_create_args(call, tc, os.getuid(), os.getgid(), name)
    args["mounts"] = _mount_objects(args["mounts"])
    args.pop("detach")
    if announce:
        print(f"[container {tc.image} ({(tc.image_id or '')[:19]}) as {args['user']}] " + shlex.join(call.argv), file=out, flush=True)
    container = client.containers.create(**args)
    try:
        container.start()

        def pump() -> None:
            try:
                for chunk in container.logs(stream=True, follow=True):
                    out.write(chunk.decode("utf-8", "replace"))
                    out.flush()
            except Exception:  # the container was killed and removed (a time limit): its stream ends
                pass

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            status = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout / ConnectionError when the limit passes
            if timeout is None:
                raise
            container.kill()
            raise ToolTimeout(f"container {name}") from exc
        reader.join(timeout=30)
        return int(status.get("StatusCode", 1))
    finally:
        try:
            container.remove(force=True)
        except Exception as exc:  # pragma: no cover - best effort; the name says what to remove
            print(f"warning: could not remove container {name}: {exc}", file=out)


def docker_output(argv: list[str], tc: Toolchain) -> tuple[int, str]:
    """Run a short query (a version, `command -v`) in the image, no mounts; returns (exit code, output)."""
    import io

    buf = io.StringIO()
    code = run_in_docker(ToolCall(argv=argv, workdir=Path("/")), tc, out=buf, announce=False)
    return code, buf.getvalue()


def resolve_docker_image(tc: Toolchain) -> Toolchain:
    """Check the engine, the image and its pinned version; returns the toolchain with the image id,
    so that a rebuilt image reruns the target's steps."""
    client = docker_client()
    import docker.errors

    try:
        image = client.images.get(tc.image)
    except docker.errors.ImageNotFound:
        raise ConversionError(
            f"target {tc.target}: image {tc.image} (toolchains.{tc.target}.image) is not in the engine at "
            f"{os.environ.get('DOCKER_HOST', 'the default socket')}; build it with {BUILD_HINT.get(tc.target, 'its recipe in containers/')}"
        ) from None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    declared = tuple((labels.get("io.edgeconv.tools") or "").split())
    versions = labels.get("io.edgeconv.versions")
    tc = Toolchain(**{**tc.__dict__, "image_id": image.id, "image_versions": versions, "image_tools": declared})
    if tc.version and versions is not None and tc.version not in versions:
        raise ConversionError(
            f"target {tc.target}: toolchains.{tc.target}.version pins {tc.version} but image {tc.image} has "
            f"{versions}; rebuild the image or change the pin"
        )
    return tc


def check_docker_tool(tc: Toolchain, tool: str) -> None:
    """The tool is in the image: declared by its io.edgeconv.tools label, or found by a probe."""
    if tool in (tc.image_tools or ()):
        return
    if docker_output(["sh", "-c", f"command -v {shlex.quote(tool)}"], tc)[0] != 0:
        raise ConversionError(
            f"target {tc.target}: image {tc.image} has no `{tool}`; rebuild it with "
            f"{BUILD_HINT.get(tc.target, 'its recipe in containers/')} (vendor archives go in "
            f"containers/{tc.target}/vendor/), or set toolchains.{tc.target}.{os.path.basename(tool)} to its path in the image"
        )


# ----------------------------------------------------------------------------- apptainer


def check_apptainer(tc: Toolchain, enabled: bool, root: Path) -> None:
    """Snakemake runs `container:` only with --sdm apptainer and an apptainer (or singularity)
    binary; without them the steps would silently run on the host, so stop instead."""
    import shutil

    if not enabled:
        raise ConversionError(
            f"target {tc.target}: toolchains.{tc.target}.runtime is apptainer, so run snakemake with "
            "`--sdm apptainer` (Snakemake runs container: directives only through Apptainer)"
        )
    if not (shutil.which("apptainer") or shutil.which("singularity")):
        raise ConversionError(
            f"target {tc.target}: toolchains.{tc.target}.runtime is apptainer but neither `apptainer` nor "
            "`singularity` is on PATH; install Apptainer (https://apptainer.org/docs/admin/main/installation.html)"
        )
    image = tc.image or ""
    if "://" not in image and not (root / image).is_file():
        raise ConversionError(
            f"target {tc.target}: image file {image} (toolchains.{tc.target}.image) does not exist; build it with "
            f"`apptainer build {image} containers/{tc.target}/Apptainer.def`, or name a docker:// or oras:// image"
        )
