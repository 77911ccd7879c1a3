"""RVC2's built-in compiler and what can be checked of a MyriadX blob with no device.

The built-in compiler is ``myriad_compile`` (``myriad_compile/myriad_compile.cpp``, built by
``make rvc2-env``): OpenVINO 2021.4's MYRIAD plugin from the PyPI wheel, driven with compile_tool's
command line through Intel's public C++ API. Before it runs, the plugin's own ``query_network``
(``myriad_compile/query_layers.py``, in that environment's Python) names the layers it will not
take (its answer names the layers when the compiler refuses a model; it is not the last word:
it names ShuffleChannels, which the compiler takes). After any compiler (the built-in one or a user's compile_tool), DepthAI reads the blob back:
inputs and outputs by name, shapes, precisions and the shave count must be what was asked, so a
tool that exits 0 with something else in the file publishes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError

BUILTIN_NAME = "myriad_compile"
QUERY_SCRIPT = Path(__file__).with_name("myriad_compile") / "query_layers.py"
# DepthAI's names of the precisions compile_tool takes.
DEPTHAI_TYPES = {"U8": "U8F", "FP16": "FP16", "FP32": "FP32", "I8": "I8", "I32": "INT", "U16": "U16F"}


def is_builtin(compile_tool: str) -> bool:
    return Path(compile_tool).name == BUILTIN_NAME


def environment_python(compile_tool: str) -> Path:
    """The Python of the environment myriad_compile was built in (``ENV/bin/python``)."""
    return Path(compile_tool).parent / "python"


def build_info(compile_tool: str) -> dict[str, Any] | None:
    """What built myriad_compile (its source's sha256, the C++ compiler, libusb), written by make rvc2-env."""
    try:
        return json.loads((Path(compile_tool).parent.parent / "myriad_compile.json").read_text())
    except (OSError, ValueError):
        return None


def query_argv(compile_tool: str, xml: Path) -> list[str]:
    return [str(environment_python(compile_tool)), str(QUERY_SCRIPT), str(xml)]


def unsupported_error(unsupported: list[dict[str, str]], layers: int, compiler_said: str = "") -> ConversionError:
    """One line: which layers, of which types, what to do, and the compiler's own words."""
    by_type: dict[str, list[str]] = {}
    for layer in unsupported:
        by_type.setdefault(layer["type"], []).append(layer["name"])
    named = "; ".join(
        f"{op} ({', '.join(repr(n) for n in names[:3])}{', ...' if len(names) > 3 else ''})" for op, names in by_type.items()
    )
    return ConversionError(
        f"the MYRIAD compiler (OpenVINO 2021.4) does not take {len(unsupported)} of {layers} layer(s): {named}; "
        "no exact rewrite exists for these: end the model before them (outputs: in the model config) and compute "
        "the rest on the host, replace them in the model you export, or convert for a target that takes them "
        "(rvc4, openvino)" + (f"; the compiler: {compiler_said}" if compiler_said else "")
    )


def check_ir_version(xml: Path) -> None:
    """OpenVINO 2021.4 reads IR v10 (mo 2021.4's); a newer IR given as the model stops here."""
    import re

    with open(xml, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    found = re.search(r"<net\b[^>]*\bversion=\"(\d+)\"", head)
    if found and int(found.group(1)) > 10:
        raise ConversionError(
            f"{xml} is IR v{found.group(1)} (OpenVINO 2022.1 or newer), and the built-in compiler (OpenVINO 2021.4) "
            "reads IR v10: give the ONNX model instead (the workflow makes the IR with mo 2021.4), an IR from mo "
            "2021.4, or set toolchains.rvc2.compile_tool to OpenVINO 2022.3's compile_tool"
        )


def compiler_error_line(output: str) -> str | None:
    """The MYRIAD compiler's own words about the layer it refused (``Failed to compile layer ...``)."""
    for line in output.splitlines():
        if "Failed to compile layer" in line:
            return line[line.index("Failed to compile layer"):].strip()
    return None


@dataclass(frozen=True)
class Expected:
    """What a blob must hold: per input and output, its shape and DepthAI data type; and its shaves."""

    inputs: dict[str, tuple[list[int], str]]
    outputs: dict[str, tuple[list[int], str]]
    shaves: int


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def _by_name(args: list[str], flag: str) -> dict[str, str]:
    text = _flag(args, flag) or ""
    pairs = [item.strip().rsplit(":", 1) for item in text.split(",") if ":" in item]
    return {name.strip(): value.strip() for name, value in pairs}


def expected(xml: Path, compile_args: list[str], shaves: int) -> Expected:
    """The blob compile_tool's arguments ask for, from the IR: compile_tool's MYRIAD defaults (float
    inputs and outputs in FP16), then ``-ip``/``-op`` for all and ``-iop`` by name. IR v10 names an
    output after the layer that makes it (``layer.port`` when that layer has several outputs)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    ip, op, iop = _flag(compile_args, "-ip"), _flag(compile_args, "-op"), _by_name(compile_args, "-iop")

    def precision(name: str, element: Any, default: str | None) -> str:
        own = "FP16" if element.is_real() else {"u8": "U8", "i8": "I8", "i32": "I32", "i64": "I32"}.get(element.get_type_name(), "?")
        return DEPTHAI_TYPES.get(iop.get(name) or default or own, "?")

    inputs = {}
    for param in model.get_parameters():
        name = param.get_friendly_name()
        inputs[name] = ([int(d) for d in param.get_output_partial_shape(0).to_shape()], precision(name, param.get_element_type(), ip))
    outputs = {}
    for result in model.get_results():
        source = result.input_value(0)
        node = source.get_node()
        name = node.get_friendly_name() + (f".{source.get_index()}" if node.get_output_size() > 1 else "")
        outputs[name] = ([int(d) for d in source.get_partial_shape().to_shape()], precision(name, source.get_element_type(), op))
    return Expected(inputs, outputs, shaves)


def _depthai() -> Any:
    os.environ.setdefault("DEPTHAI_LEVEL", "error")  # no "USB protocol not available" per import
    import depthai

    return depthai


def read_blob(path: Path) -> dict[str, Any]:
    """A MyriadX blob as DepthAI reads it: format version, shaves, CMX slices, stages, inputs and
    outputs (dims in the model's order, DepthAI's data type). Raises ConversionError when DepthAI
    cannot read it."""
    dai = _depthai()

    try:
        if path.suffix == ".superblob":  # its base blob (8 shaves) names the inputs and outputs
            blob = dai.OpenVINO.SuperBlob(str(path)).getBlobWithNumShaves(8)
        else:
            blob = dai.OpenVINO.Blob(str(path))
    except Exception as exc:  # noqa: BLE001 - DepthAI raises RuntimeError or its own types
        raise ConversionError(f"{path.name} is not a MyriadX blob DepthAI {dai.__version__} can read: {exc}") from None

    def tensors(found: Any) -> dict[str, Any]:
        return {n: {"shape": list(reversed(t.dims)), "data_type": t.dataType.name, "order": t.order.name} for n, t in found.items()}

    return {
        "depthai": dai.__version__,
        "format": blob.version.name,
        "shaves": blob.numShaves,
        "cmx_slices": blob.numSlices,
        "stages": blob.stageCount,
        "inputs": tensors(blob.networkInputs),
        "outputs": tensors(blob.networkOutputs),
    }


def mismatches(read: dict[str, Any], want: Expected) -> list[str]:
    """How the blob differs from what was asked (empty: it is what was asked)."""
    found: list[str] = []
    if read["shaves"] != want.shaves:
        found.append(f"{read['shaves']} shaves, asked {want.shaves}")
    for kind, asked in (("inputs", want.inputs), ("outputs", want.outputs)):
        have = read[kind]
        if set(have) != set(asked):
            found.append(f"{kind} {sorted(have)}, the IR has {sorted(asked)}")
            continue
        for name, (shape, data_type) in asked.items():
            if have[name]["shape"] != shape:
                found.append(f"{kind[:-1]} {name!r} has shape {have[name]['shape']}, the IR {shape}")
            if have[name]["data_type"] != data_type:
                found.append(f"{kind[:-1]} {name!r} is {have[name]['data_type']}, asked {data_type}")
    return found


def read_superblob_shaves(path: Path, shave_counts: list[int]) -> dict[int, int]:
    """DepthAI applies each patch: every shave count must give a blob it reads, with that many shaves."""
    dai = _depthai()
    read: dict[int, int] = {}
    try:
        loaded = dai.OpenVINO.SuperBlob(str(path))
        for shaves in shave_counts:
            read[shaves] = loaded.getBlobWithNumShaves(shaves).numShaves
    except Exception as exc:  # noqa: BLE001 - DepthAI raises RuntimeError or its own types
        raise ConversionError(f"DepthAI {dai.__version__} cannot read the superblob it was assembled into: {exc}") from None
    wrong = {s: n for s, n in read.items() if s != n}
    if wrong:
        raise ConversionError(f"the superblob's patches give the wrong shave counts (asked: got): {wrong}")
    return read


def read_archive(path: Path) -> str:
    """The model type DepthAI finds in an NN Archive of a blob or superblob (raises when it cannot read it)."""
    dai = _depthai()

    try:
        archive = dai.NNArchive(str(path))
        kind = archive.getModelType().name
        blob = archive.getSuperBlob().getBlobWithNumShaves(8) if kind == "SUPERBLOB" else archive.getBlob()
    except Exception as exc:  # noqa: BLE001 - DepthAI raises RuntimeError or its own types
        raise ConversionError(f"DepthAI {dai.__version__} cannot read the NN Archive {path.name}: {exc}") from None
    if blob is None:
        raise ConversionError(f"DepthAI {dai.__version__} finds no blob in the NN Archive {path.name} ({kind})")
    return kind
