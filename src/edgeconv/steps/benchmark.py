"""Speed of the openvino target's IRs (FP16 and INT8) on this machine's CPU, as OpenVINO's
``benchmark_app`` measures it: latency (sync) and throughput (async), with streams and the
precision the CPU ran at (``results/benchmark/<model>/openvino.json`` and ``.csv``, the CSV in the
Snakemake report). See :mod:`edgeconv.benchmark`. No device figures: those need the camera."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step

COLUMNS = ["model", "artifact", "mode", "hint", "streams", "infer_requests", "inference_precision", "iterations",
           "median_ms", "mean_ms", "min_ms", "max_ms", "throughput_fps", "device_name"]


@dataclass(frozen=True, kw_only=True)
class BenchmarkParams(Params):
    seconds: float  # per artifact and mode (the rule takes every core: nothing else runs beside it)


def configure(ctx: Context) -> BenchmarkParams:
    return ctx.make(BenchmarkParams, seconds=3.0)


def run(inputs: Paths, outputs: Paths, params: BenchmarkParams) -> dict[str, Any]:
    from edgeconv.benchmark import measure
    from edgeconv.records import write_json_atomic

    figures = {label: measure(inputs[key], params.seconds)
               for label, key in (("openvino_fp16", "ir_fp16"), ("openvino_int8", "ir_int8"))}
    write_json_atomic(outputs["json"], figures)
    tmp = outputs["csv"].with_name(f".{outputs['csv'].name}.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for label, result in figures.items():
            for mode in ("sync", "async"):
                w.writerow({"model": params.model, "artifact": label, "mode": mode, "device_name": result["device_name"],
                            **{k: result[mode].get(k, "") for k in COLUMNS if k in result[mode]}})
    Path(tmp).replace(outputs["csv"])
    return {"benchmark": {label: {m: {k: r[m][k] for k in ("median_ms", "throughput_fps", "streams", "inference_precision")}
                                  for m in ("sync", "async")} for label, r in figures.items()}}


STEP = Step("benchmark", run, BenchmarkParams, configure, inputs=("ir_fp16", "ir_int8"), outputs=("json", "csv"))
