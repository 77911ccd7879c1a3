"""qnn_htp step 2: the QDQ model compiled to an HTP context binary (``.ctx.onnx``) for the first
of ``rvc4.htp_socs``, with onnxruntime-qnn. See :mod:`edgeconv.targets.qnn_htp`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step


@dataclass(frozen=True, kw_only=True)
class HtpParams(Params):
    soc: str  # rvc4.htp_socs[0]
    fp16: bool  # rvc4.quantization_mode == FP16_STANDARD


def configure(ctx: Context) -> HtpParams:
    from edgeconv.targets.qnn_htp import htp_runtime

    return ctx.make(HtpParams, **htp_runtime(ctx.stage))


def run(inputs: Paths, outputs: Paths, params: HtpParams) -> dict[str, Any]:
    import logging

    from edgeconv import isolated
    from edgeconv.tools import DEFAULT_TIMEOUT_S

    # The HTP compiler (onnxruntime-qnn's libQnnHtp) in a process of its own: a crash is named
    # with its signal, and a compile that never ends is stopped (edgeconv.isolated).
    call = isolated.call("edgeconv.targets.qnn_htp:compile_htp_files", f"onnxruntime-qnn (HTP compile for {params.soc})",
                         DEFAULT_TIMEOUT_S, str(inputs["onnx"]), str(outputs["ctx"]), params.soc, params.fp16)
    on_cpu = call["partition"]["cpu_layers"]
    if on_cpu:  # a deployment on onnxruntime-qnn runs them on the CPU, between HTP partitions
        logging.getLogger("edgeconv.progress").warning(
            "the HTP does not take %d layer(s); onnxruntime-qnn runs them on the CPU: %s%s (why: edgeconv analyze "
            "qnn_htp)", len(on_cpu), ", ".join(f"{n['name']} ({n['op_type']})" for n in on_cpu[:5]),
            " ..." if len(on_cpu) > 5 else "")
    return {"tool_calls": [call]}


STEP = Step("compile_htp", run, HtpParams, configure, inputs=("onnx",), outputs=("ctx",))
