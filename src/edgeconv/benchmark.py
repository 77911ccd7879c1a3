"""Speed of the openvino target's IRs on this machine's CPU, measured as OpenVINO's
``benchmark_app`` measures it: a synchronous loop of one infer request (latency), and an
asynchronous queue of the plugin's optimal number of requests under the THROUGHPUT hint
(throughput, with the streams the plugin chose). The precision the CPU plugin ran at is read back
from the compiled model. Random inputs of the IR's own types and shapes; a warm-up run first.

These are CPU figures of this machine, not a camera's: an RVC2/RVC4 figure needs the device.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _inputs(compiled: Any, seed: int = 0) -> dict[Any, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for port in compiled.inputs:
        shape = [int(d) for d in port.get_partial_shape().to_shape()]
        dtype = port.get_element_type().to_dtype()
        if np.issubdtype(dtype, np.floating):
            feeds[port] = rng.uniform(0, 255, size=shape).astype(dtype)
        else:
            feeds[port] = rng.integers(0, 255, size=shape).astype(dtype)
    return feeds


def _stats(latencies_ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(latencies_ms), 3), "mean_ms": round(statistics.fmean(latencies_ms), 3),
            "min_ms": round(min(latencies_ms), 3), "max_ms": round(max(latencies_ms), 3)}


def measure(xml: Path, seconds: float = 3.0, threads: int | None = None) -> dict[str, Any]:
    """Latency (sync, one request) and throughput (async, the THROUGHPUT hint) of one IR."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    core = ov.Core()
    model = core.read_model(str(xml))
    config: dict[str, Any] = {}
    if threads:
        config[props.inference_num_threads] = threads
    result: dict[str, Any] = {"ir": str(xml), "device": "CPU", "device_name": core.get_property("CPU", "FULL_DEVICE_NAME"),
                              "openvino": ov.get_version(), "seconds_per_mode": seconds}

    # Sync: one request, one inference after another (benchmark_app -api sync -hint latency).
    compiled = core.compile_model(model, "CPU", {**config, hints.performance_mode: hints.PerformanceMode.LATENCY})
    request = compiled.create_infer_request()
    feeds = _inputs(compiled)
    request.infer(feeds)  # warm-up
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(latencies) < 3:
        start = time.perf_counter()
        request.infer(feeds)
        latencies.append((time.perf_counter() - start) * 1000)
    result["sync"] = {"hint": "LATENCY", "streams": int(compiled.get_property(props.num_streams)),
                      "inference_precision": compiled.get_property(hints.inference_precision).to_string(),
                      "iterations": len(latencies), **_stats(latencies),
                      "throughput_fps": round(1000 * len(latencies) / sum(latencies), 2)}
    del request, compiled

    # Async: the plugin's optimal number of requests kept busy (benchmark_app -api async -hint throughput).
    compiled = core.compile_model(model, "CPU", {**config, hints.performance_mode: hints.PerformanceMode.THROUGHPUT})
    nireq = int(compiled.get_property(props.optimal_number_of_infer_requests))
    queue = ov.AsyncInferQueue(compiled, nireq)
    feeds = _inputs(compiled)
    started: dict[int, float] = {}
    done: list[float] = []

    def finished(_request: Any, job: int) -> None:
        done.append((time.perf_counter() - started[job]) * 1000)

    queue.set_callback(finished)
    for job in range(nireq):  # warm-up
        started[job] = time.perf_counter()
        queue.start_async(feeds, job)
    queue.wait_all()
    done.clear()
    job = 0
    begin = time.perf_counter()
    end = begin + seconds
    while time.perf_counter() < end:
        job += 1
        started[job] = time.perf_counter()
        queue.start_async(feeds, job)
    queue.wait_all()
    wall = time.perf_counter() - begin
    result["async"] = {"hint": "THROUGHPUT", "streams": int(compiled.get_property(props.num_streams)),
                       "infer_requests": nireq,
                       "inference_precision": compiled.get_property(hints.inference_precision).to_string(),
                       "iterations": len(done), **_stats(done), "throughput_fps": round(len(done) / wall, 2)}
    return result
