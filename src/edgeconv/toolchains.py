"""Where each target's vendor tools run (``toolchains.<target>`` in config.yaml): on this
machine, in a docker/podman image, or under Apptainer. Checked once per parse, before any job."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Every tool of a target, in chain order (checked up front for a target in the matrix).
TARGET_TOOLS = {
    "rvc2": ("mo", "compile_tool"),
    "rvc4": ("snpe-onnx-to-dlc", "snpe-dlc-quant", "snpe-dlc-graph-prepare", "snpe-dlc-info"),
    "hailo": ("python",),
    "rvc3": ("mo", "pot", "compile_tool"),
}


@dataclass
class Toolchains:
    settings: dict[str, Any]  # the toolchains: section
    root: Path = Path(".")
    # Whether Snakemake runs with --sdm apptainer (set by the workflow).
    apptainer_enabled: bool = False
    _toolchains: dict[str, Any] = field(default_factory=dict)
    _tools: dict[tuple[str, str, str | None], str] = field(default_factory=dict)
    _locks: dict[str, dict[str, str]] = field(default_factory=dict)

    def toolchain(self, target: str) -> Any:
        """The runtime of a target's tools; for docker, the engine, image and tools are checked
        and the image id resolved (once per parse)."""
        from edgeconv.containers import check_apptainer, parse_toolchain, resolve_docker_image

        if target not in self._toolchains:
            tc = parse_toolchain(self.settings, target)
            if tc.runtime == "docker":
                tc = resolve_docker_image(tc)
            elif tc.runtime == "apptainer":
                check_apptainer(tc, self.apptainer_enabled, self.root)
            self._toolchains[target] = tc
        return self._toolchains[target]

    def tool(self, target: str, tool: str, version: str | None = None) -> str:
        """The tool's path (on this machine, or in the target's image), checked once per parse.
        ``version``: the OpenVINO release it must belong to (rvc2), default the target's default."""
        from edgeconv.containers import check_docker_tool
        from edgeconv.tools import find_tool

        version = version or self.openvino_version(target)
        key = (target, tool, version)
        if key not in self._tools:
            path = find_tool(self.settings, target, tool, self.root, version)
            tc = self.toolchain(target)
            if tc.runtime == "docker":
                check_docker_tool(tc, path)
            self._tools[key] = path
        return self._tools[key]

    def openvino_version(self, target: str, configured: str | None = None) -> str | None:
        """The OpenVINO release of an rvc2 model's tools (see :func:`edgeconv.targets.rvc2.openvino_version`)."""
        if target != "rvc2":
            return None
        from edgeconv.targets.rvc2 import openvino_version

        return openvino_version(configured, self.settings.get("rvc2") or {})

    def as_params(self, target: str) -> dict[str, Any]:
        """What a step record says about the toolchain its tools ran in; for tools on this machine,
        the locks of the environments they were installed from (so that a step reruns, and the
        output cache misses, when one is reinstalled from another lock)."""
        tc = self.toolchain(target)
        if tc.runtime == "local":
            tc = dataclasses.replace(tc, tool_locks=self._tool_locks(target) or None)
        return tc.as_params() | {"target": target}

    def _tool_locks(self, target: str) -> dict[str, str]:
        """Once per target and parse: every step of every model asks."""
        if target not in self._locks:
            self._locks[target] = self._find_tool_locks(target)
        return self._locks[target]

    def _find_tool_locks(self, target: str) -> dict[str, str]:
        from edgeconv.errors import ConversionError
        from edgeconv.lockinfo import tool_environment

        locks = {}
        for tool in TARGET_TOOLS.get(target, ()):
            try:
                path = self.tool(target, tool)
            except ConversionError:
                continue  # a missing tool stops the step that needs it, with its own message
            env = tool_environment(path) if path and "/" in path else None
            if env and env.get("sha256"):
                locks[tool] = env["sha256"]
        return locks

    def container_image(self, target: str) -> str | None:
        """The image of Snakemake's `container:` directive: only for runtime apptainer."""
        tc = self.toolchain(target)
        return tc.image if tc.runtime == "apptainer" else None

    def check_target_tools(self, target: str) -> None:
        """Every tool of a target in the matrix, in chain order, before any job starts (for a
        container runtime: the engine, the image and the tools in it)."""
        if self.toolchain(target).runtime == "apptainer":
            return  # the tools are inside the image, which only Apptainer can look into
        for tool in TARGET_TOOLS.get(target, ()):
            self.tool(target, tool)
