"""RVC2 (MyriadX): the one place that knows the command lines of ``mo`` and ``compile_tool``.

Follows what Luxonis ModelConverter runs, with one deliberate difference: the
reference passes ``--input name[1 3 H W]{f32}->value`` *and*
``--mean_values name[...]``, which stock ``mo`` 2022.3 rejects ("Specified
mean_values name 'x' do not match to any of inputs"; the reference's images
patch ``mo``). Here ``--input`` carries names only and shapes go to
``--input_shape``, which stock ``mo`` 2022.3 and 2021.4 accept; data-type
casts and frozen values are put into the ONNX graph instead (same result).

Preprocessing is split as the reference splits it: ``mo`` gets the mean/scale
values of channels-first colour inputs and ``--reverse_input_channels`` when every colour
input needs reversal; when only some do, those are reversed in the ONNX graph
(and their mean/scale values reversed to match). Mean/scale of GRAY and
non-image inputs go into the ONNX graph (the reference drops them).
"""

from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass
from typing import Any

from edgeconv.config.resolved import ResolvedStage
from edgeconv.targets.argv import add_default, has_flag
from edgeconv.preprocessing import InputPlan

SUPERBLOB_BASE_SHAVES = 8
# The release whose MYRIAD compiler comes from PyPI (openvino==2021.4.2; make rvc2-env).
BUILTIN_OPENVINO = "2021.4"
SHAVES = range(1, 17)


@dataclass
class MoInput:
    name: str
    shape: list[int]
    mean: list[float] | None
    scale: list[float] | None


@dataclass
class MoPlan:
    onnx: dict[str, InputPlan]  # what attach_normalization puts into the ONNX given to mo
    inputs: list[MoInput]  # the inputs mo sees, with the values mo applies
    reverse_input_channels: bool


def mo_plan(stage: ResolvedStage) -> MoPlan:
    live = [i for i in stage.inputs if i.frozen_value is None]
    # mo takes channels-first colour inputs; a channels-last one (NHWC, e.g. from TFLite) is
    # normalized and reversed in the graph, where its channel axis is known.
    color = [i for i in live if i.listed and i.encoding_from in ("RGB", "BGR") and not i.layout.endswith("C")]
    mismatch = [i.reverse_channels for i in color]
    partial = any(mismatch) and not all(mismatch)
    onnx_plan: dict[str, InputPlan] = {}
    inputs: list[MoInput] = []
    for spec in stage.inputs:
        if spec in color:
            in_graph = partial and spec.reverse_channels
            onnx_plan[spec.name] = InputPlan(reverse=in_graph, normalize=False)
            # After a reversal in the graph, mo's values apply to data in the reversed order.
            mean = spec.mean[::-1] if (in_graph and spec.mean) else spec.mean
            scale = spec.scale[::-1] if (in_graph and spec.scale) else spec.scale
        else:
            onnx_plan[spec.name] = InputPlan(reverse=True, normalize=True)
            mean = scale = None
        if spec.frozen_value is None:
            inputs.append(MoInput(spec.name, spec.shape, mean, scale))
    return MoPlan(onnx=onnx_plan, inputs=inputs, reverse_input_channels=any(mismatch) and not partial)


def openvino_version(configured: str | None, toolchain: dict[str, Any]) -> str:
    """The OpenVINO release an rvc2 model is converted with: ``rvc2.openvino_version`` when set;
    otherwise 2022.3 (the reference's default) when the user brings their own tools
    (``toolchains.rvc2.compile_tool`` or ``mo``, ``bin_dir``, or an image), and else 2021.4, whose
    MYRIAD compiler is built in (make rvc2-env)."""
    if configured:
        return configured
    own = ("compile_tool", "mo", "bin_dir")
    if any(toolchain.get(k) for k in own) or toolchain.get("runtime", "local") != "local":
        return "2022.3"
    return BUILTIN_OPENVINO


def _values(v: list[float]) -> str:
    return "[" + ", ".join(str(float(x)) for x in v) + "]"


def mo_argv(
    mo: str,
    plan: MoPlan,
    outputs: list[str],
    input_model: str,
    output_dir: str,
    compress_to_fp16: bool,
    openvino_version: str,
    user_args: list[str],
) -> list[str]:
    """The ``mo`` command line; a flag in ``user_args`` replaces the default for that flag."""
    args = list(user_args)

    def add(flag: str, *values: str) -> None:
        add_default(args, flag, *values)

    add("--output_dir", output_dir)
    add("--output", ",".join(outputs))
    if compress_to_fp16:
        if openvino_version == "2021.4":
            add("--data_type", "FP16")
        else:
            add("--compress_to_fp16")
    if not has_flag(args, "--input"):
        args.extend(["--input", ",".join(i.name for i in plan.inputs)])
        if not has_flag(args, "--input_shape"):
            args.extend(["--input_shape", ",".join("[" + ",".join(map(str, i.shape)) + "]" for i in plan.inputs)])
    means = [f"{i.name}{_values(i.mean)}" for i in plan.inputs if i.mean is not None]
    scales = [f"{i.name}{_values(i.scale)}" for i in plan.inputs if i.scale is not None]
    if means:
        add("--mean_values", ",".join(means))
    if scales:
        add("--scale_values", ",".join(scales))
    if plan.reverse_input_channels and "--reverse_input_channels" not in args:
        args.append("--reverse_input_channels")
    add("--input_model", input_model)
    return [mo, *args]


def mo_launcher(mo: str) -> list[str]:
    """How to start ``mo`` of a pip-installed OpenVINO 2022.3: its environment's Python on
    :mod:`edgeconv.targets.mo_runner`, which runs mo's own ``main`` in that one process. The ``mo``
    console script would start three more Python processes, only to check that mo and the runtime
    bindings import (about 2 s of the 2.8 s mo takes on a small model). Anything else (an archive
    install, a wrapper, a path inside an image) is run as it is."""
    from edgeconv.tools import script_head

    head, python = script_head(mo)
    if python is None or b"openvino.tools.mo" not in head:
        return [mo]
    mains = sorted(python.parent.parent.glob("lib/python3*/site-packages/openvino/tools/mo/main.py"))
    if not python.is_file() or len(mains) != 1:
        return [mo]
    return [str(python), str(Path(__file__).with_name("mo_runner.py"))]


def myriad_config(shaves: int, openvino_version: str) -> str:
    """The compile_tool config file: MX boot off (not known to 2021.4), shaves = CMX slices, one stream."""
    lines = [] if openvino_version == "2021.4" else ["MYRIAD_ENABLE_MX_BOOT NO"]
    lines += [
        f"MYRIAD_NUMBER_OF_SHAVES {shaves}",
        f"MYRIAD_NUMBER_OF_CMX_SLICES {shaves}",
        "MYRIAD_THROUGHPUT_STREAMS 1",
    ]
    return "\n".join(lines) + "\n"


RESERVED_COMPILE_TOOL_FLAGS = ("-m", "-o")


def compile_tool_argv(
    compile_tool: str, xml: str, blob: str, conf: str | None, user_args: list[str], device: str = "MYRIAD"
) -> list[str]:
    """``compile_tool -d <device> -ip U8 -m <xml> -o <blob> [-c <conf>]`` (RVC3 passes no config)."""
    args = list(user_args)
    for flag, value in (("-d", device), ("-ip", "U8")):
        if flag not in args:
            args.extend([flag, value])
    args += ["-m", xml, "-o", blob]
    if conf is not None and "-c" not in args:
        args += ["-c", conf]
    return [compile_tool, *args]


def check_compile_tool_args(user_args: list[str]) -> str | None:
    """The workflow owns file paths: -m and -o in compile_tool_args would bypass the DAG."""
    taken = [f for f in RESERVED_COMPILE_TOOL_FLAGS if f in user_args]
    if taken:
        return (
            f"compile_tool_args may not set {', '.join(taken)}: the workflow chooses the IR and blob paths; "
            "ask for a different output path with a Snakemake target instead"
        )
    return None


def superblob(base: bytes, patches: dict[int, bytes]) -> bytes:
    """The reference's layout: 8-byte big-endian base size, sixteen 8-byte big-endian patch sizes
    (shaves 1..16, 0 where absent), the base blob, then the patches in ascending shave order."""
    if not patches:
        raise ValueError("a superblob needs at least one patch")
    header = len(base).to_bytes(8, "big")
    for shaves in SHAVES:
        header += len(patches.get(shaves, b"")).to_bytes(8, "big")
    return header + base + b"".join(patches[s] for s in sorted(patches))


def parse_superblob(data: bytes) -> tuple[bytes, dict[int, bytes]]:
    base_size = int.from_bytes(data[:8], "big")
    sizes = [int.from_bytes(data[8 + 8 * i : 16 + 8 * i], "big") for i in range(16)]
    offset = 8 + 16 * 8
    base = data[offset : offset + base_size]
    offset += base_size
    patches: dict[int, bytes] = {}
    for shaves, size in zip(SHAVES, sizes):
        if size:
            patches[shaves] = data[offset : offset + size]
            offset += size
    if offset != len(data):
        raise ValueError(f"superblob has {len(data) - offset} trailing bytes")
    return base, patches


def mo_plan_summary(plan: MoPlan) -> dict[str, Any]:
    return {
        "reverse_input_channels": plan.reverse_input_channels,
        "in_onnx": {k: {"reverse": v.reverse, "normalize": v.normalize} for k, v in plan.onnx.items()},
        "mo_inputs": [i.__dict__ for i in plan.inputs],
    }
