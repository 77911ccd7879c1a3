"""How many CPUs a step may use. Snakemake gives every shell job its ``threads`` (1 unless a rule or
``--set-threads`` says more) as ``OMP_NUM_THREADS`` and the BLAS variables, which numpy obeys.
onnxruntime and OpenVINO do not read them: left alone, each session starts a thread per core, so
``--cores 1`` used every core and ``--cores 2`` ran two jobs with two threads each on two cores.
The steps pass the number on to them through these helpers. Outside Snakemake (no variable), the
libraries keep their own defaults.
"""

from __future__ import annotations

import os
from typing import Any


def job_threads() -> int | None:
    """The step's thread budget, or None when no one set it."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def ort_options(opts: Any) -> Any:
    """``opts`` (an onnxruntime SessionOptions) limited to the step's threads."""
    if (n := job_threads()) is not None:
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
    return opts


def measuring_config(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`openvino_config` for a run whose outputs are measured (verify, accuracy control's
    trials and rankings): f32 arithmetic. The CPU plugin computes in bf16 on CPUs that have it
    (this machine's do: avx512_bf16), which is not what the artifact's fidelity is; measured in
    bf16, MediaPipe's pose landmarks scored 0.76 with every layer in float."""
    return openvino_config({"INFERENCE_PRECISION_HINT": "f32", **(config or {})})


def openvino_config(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenVINO ``compile_model`` config limited to the step's threads."""
    config = dict(config or {})
    if (n := job_threads()) is not None:
        config.setdefault("INFERENCE_NUM_THREADS", n)
    return config
