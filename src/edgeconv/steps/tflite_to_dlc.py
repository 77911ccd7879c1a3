"""rvc4 step 2 for a TFLite model: ``snpe-tflite-to-dlc`` on the ``.tflite`` as it is (same
arguments as :mod:`edgeconv.steps.onnx_to_dlc`). Refused at parse time when the model would need
normalization or a frozen input put into its graph."""

from __future__ import annotations

from edgeconv.steps.base import Context, Step
from edgeconv.steps.onnx_to_dlc import ToDlcParams, configure as configure_onnx, run


def configure(ctx: Context) -> ToDlcParams:
    from edgeconv.checks import check_tflite_as_is

    check_tflite_as_is(ctx.unit, "rvc4", ctx.archive_preprocess)
    return configure_onnx(ctx, tool="snpe-tflite-to-dlc")


STEP = Step("tflite_to_dlc", run, ToDlcParams, configure, inputs=("tflite", "original", "encodings"), outputs=("dlc",), target="rvc4")
