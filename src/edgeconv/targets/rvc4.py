"""RVC4 (Qualcomm QCS8550): the one place that knows the SNPE command lines.

``snpe-onnx-to-dlc`` -> ``snpe-dlc-quant`` (per ``rvc4.quantization_mode``) ->
``snpe-dlc-graph-prepare`` -> ``snpe-dlc-info``, as Luxonis ModelConverter runs
them. The ONNX given to SNPE carries the normalization (attach_normalization),
as in the reference. The user's ``snpe_*_args`` come first and a flag given
there replaces the default for that flag; with ``quantization_mode: CUSTOM``
no mode flags are added at all.
"""

from __future__ import annotations

from edgeconv.config.resolved import ResolvedStage
from edgeconv.targets.argv import add_default, has_flag

SNPE_LAYOUTS = {"NCDHW", "NDHWC", "NCHW", "NHWC", "NFC", "NCF", "NTF", "TNF", "NF", "NC", "F", "NONTRIVIAL"}

# quantization_mode -> snpe-dlc-quant flags (FP16_STANDARD does not quantize).
MODE_QUANT_FLAGS: dict[str, list[str]] = {
    "INT8_STANDARD": [],
    "INT8_ACCURACY_FOCUSED": ["--param_quantizer", "enhanced", "--act_quantizer", "enhanced"],
    "INT8_INT16_MIXED": ["--act_bitwidth", "16"],
    "INT8_INT16_MIXED_ACCURACY_FOCUSED": [
        "--param_quantizer", "enhanced", "--act_quantizer", "enhanced", "--act_bitwidth", "16",
    ],
    "INT16_STANDARD": ["--act_bitwidth", "16", "--weights_bitwidth", "16"],
    "CUSTOM": [],
}


def snpe_layout(layout: str) -> str | None:
    if layout in ("NCD", "NDC", "D"):
        layout = layout.replace("D", "F")
    return layout if layout in SNPE_LAYOUTS else None


def onnx_to_dlc_argv(
    tool: str, onnx_path: str, dlc: str, stage: ResolvedStage, fp16: bool, user_args: list[str],
    overrides: str | None = None,
) -> list[str]:
    """``overrides``: the quantization overrides file (rvc4.encodings); not used for FP16, which
    the reference converts without them."""
    args = list(user_args)
    add_default(args, "-i", onnx_path)
    live = [i for i in stage.inputs if i.frozen_value is None]
    if not has_flag(args, "--input_dim"):
        for inp in live:
            args.extend(["--input_dim", inp.name, ",".join(map(str, inp.shape))])
    if not has_flag(args, "--input_dtype"):
        for inp in live:
            args.extend(["--input_dtype", inp.name, inp.data_type])
    if not has_flag(args, "--out_name"):
        for name in stage.outputs:
            args.extend(["--out_name", name])
    if not has_flag(args, "--input_layout"):
        for inp in live:
            layout = snpe_layout(inp.layout)
            if layout is not None:
                args.extend(["--input_layout", inp.name, layout])
    if fp16:
        add_default(args, "--float_bitwidth", "16")
    elif overrides is not None:
        add_default(args, "--quantization_overrides", overrides)
    add_default(args, "-o", dlc)  # the workflow chooses where the DLC goes
    return [tool, *args]


def dlc_quant_argv(
    tool: str,
    dlc: str,
    quantized: str,
    input_list: str,
    mode: str,
    per_channel: bool,
    per_row: bool,
    user_args: list[str],
) -> list[str]:
    args = list(user_args)
    add_default(args, "--input_list", input_list)
    add_default(args, "--input_dlc", dlc)
    add_default(args, "--output_dlc", quantized)
    if mode != "CUSTOM":
        if per_channel and "--use_per_channel_quantization" not in args:
            args.append("--use_per_channel_quantization")
        if per_row and "--use_per_row_quantization" not in args:
            args.append("--use_per_row_quantization")
        flags = MODE_QUANT_FLAGS[mode]
        for i in range(0, len(flags), 2):
            add_default(args, flags[i], flags[i + 1])
    return [tool, *args]


def graph_prepare_argv(
    tool: str,
    dlc: str,
    out: str,
    outputs: list[str],
    optimization_level: int,
    htp_socs: list[str],
    mode: str,
    user_args: list[str],
) -> list[str]:
    args = list(user_args)
    add_default(args, "--input_dlc", dlc)
    add_default(args, "--output_dlc", out)
    add_default(args, "--set_output_tensors", ",".join(outputs))
    add_default(args, "--optimization_level", str(optimization_level))
    add_default(args, "--htp_socs", ",".join(htp_socs))
    if mode == "FP16_STANDARD" and "--use_float_io" not in args:
        args.append("--use_float_io")
    return [tool, *args]


def dlc_info_argv(tool: str, dlc: str, csv: str) -> list[str]:
    return [tool, "-i", dlc, "-s", csv]


def read_back(info_tool: str, dlc: Path, tmp: Path, made_by: str) -> tuple[Path, list[str]] | None:
    """``snpe-dlc-info`` on a DLC an SNPE tool has just written, before it is placed: a tool that
    exits 0 with something that is not a DLC stops here, named as the culprit, and nothing moves on.
    Returns the info CSV and the call, or None when the tool wrote nothing (placing it says so)."""
    from edgeconv.errors import ConversionError
    from edgeconv.tools import run_tool

    if not dlc.exists() or dlc.stat().st_size == 0:
        return None
    csv = tmp / (dlc.stem + ".info.csv")
    argv = dlc_info_argv(info_tool, str(dlc), str(csv))
    try:
        run_tool(argv, "snpe-dlc-info", reads=[dlc], writes=[tmp])
    except ConversionError as exc:
        raise ConversionError(
            f"{made_by} finished but its {dlc.name} is not a DLC that snpe-dlc-info can read; nothing was "
            f"published; check {made_by}'s log above (snpe-dlc-info: {str(exc).splitlines()[0]})"
        ) from None
    return csv, argv


def input_list_lines(names: list[str], raw_paths: list[dict[str, str]]) -> list[str]:
    """One line per calibration sample: ``name:=path`` per input, space-separated (SNPE's format)."""
    return [" ".join(f"{name}:={sample[name]}" for name in names) for sample in raw_paths]
