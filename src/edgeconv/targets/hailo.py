"""Hailo: the one place that knows the Dataflow Compiler calls and the model script (``.alls``).

The DFC is a Python library (``hailo_sdk_client``) installed in its own environment, so the
three calls -- parse (translate ONNX to a HAR), optimize (quantize with the calibration set and
the model script), compile (HAR to HEF) -- run in that environment's Python through
:mod:`edgeconv.targets.hailo_runner`, a script with no dependency on this package.
"""

from __future__ import annotations

import json
from pathlib import Path

from typing import Any

from edgeconv.config.resolved import ResolvedStage


def parse_spec(stage: ResolvedStage, model_path: str, har: str, net_name: str, hw_arch: str,
               force_onnx_names: bool) -> dict[str, Any]:
    live = [i for i in stage.inputs if i.frozen_value is None]
    return {
        "hw_arch": hw_arch,
        "model": model_path,  # ONNX, or a .tflite for the DFC's TFLite parser
        "har": har,
        "net_name": net_name,
        "start_node_names": [i.name for i in live],
        "net_input_shapes": {i.name: i.shape for i in live},
        "end_node_names": list(stage.outputs),
        "force_onnx_names": force_onnx_names,
    }


def model_script(stage: ResolvedStage, hn_names: dict[str, str], options: dict[str, Any]) -> list[str]:
    """The reference's model script: the user's ``alls`` lines, the optimization flavor, then per
    3-channel input a normalization layer and, when encodings differ, an input conversion."""
    lines = list(options.get("alls", []))
    lines.append(
        f"model_optimization_flavor(optimization_level={options['optimization_level']}, "
        f"compression_level={options['compression_level']}, batch_size={options['batch_size']})"
    )
    for inp in stage.inputs:
        if inp.frozen_value is not None:
            continue
        safe = inp.name.replace(".", "")
        hn = hn_names[inp.name]
        if inp.channels == 3:
            mean = inp.mean or [0.0] * 3
            scale = inp.scale or [1.0] * 3
            lines.append(f"normalization_{safe} = normalization({list(mean)},{list(scale)},{hn})")
        if inp.reverse_channels:
            lines.append(f"bgr_to_rgb_{safe} = input_conversion({hn},bgr_to_rgb)")
    return lines


def needs_graph_normalization(stage: ResolvedStage) -> dict[str, tuple[bool, bool]]:
    """Per input, (reverse, normalize) to put into the ONNX graph: the model script covers
    3-channel inputs; anything else is normalized in the graph."""
    return {i.name: (False, i.channels != 3) for i in stage.inputs}


# The DFC is called in its own Python (toolchains.hailo.python), one command per call.
RUNNER = str(Path(__file__).with_name("hailo_runner.py").resolve())


# Every HEF begins with this header magic (0x01484546, big-endian), as HailoRT reads it.
HEF_MAGIC = b"\x01HEF"


def run_dfc(python: str, command: str, spec: dict[str, Any], tmp: Path, reads: list[Path]) -> dict[str, Any]:
    """One Dataflow Compiler call: ``spec`` written beside the output, then the runner's ``command``."""
    from edgeconv.tools import run_tool

    spec_path = tmp / f"{command}.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    argv = [python, RUNNER, command, str(spec_path)]
    run_tool(argv, f"Hailo Dataflow Compiler ({command})", reads=[Path(RUNNER), *reads], writes=[tmp])
    return {"argv": argv, "spec": spec}
