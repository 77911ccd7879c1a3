"""qnn_htp/rvc4 step 0 with ``rvc4.accuracy_control``: the search for the fewest 16-bit tensors
that meet ``verify.qnn_htp``'s thresholds on held-back calibration samples (see
:mod:`edgeconv.accuracy_control`). Its output is AIMET-format encodings (the user's own
``rvc4.encodings`` plus what the search promoted): quantize_qdq applies them as onnxruntime
TensorQuantOverrides, onnx_to_dlc passes them to ``snpe-onnx-to-dlc --quantization_overrides``."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Params, Paths, Step


@dataclass(frozen=True, kw_only=True)
class HtpAccuracyParams(Params):
    quantization_mode: str
    use_per_channel_quantization: bool
    thresholds: dict[str, Any]  # verify.qnn_htp's: the gate
    accuracy_control: dict[str, Any]  # max_trials, max_seconds, holdout, margin
    verify_images: int  # the gate samples include the ones verify reads
    soc: str  # the SoC the trials are compiled for when onnxruntime-qnn is installed
    encodings: dict[str, Any] | None = None
    normalize_io_encodings: bool = True
    strict_quantization_overrides: bool = False


def configure(ctx: Context) -> HtpAccuracyParams:
    from edgeconv.checks import check_htp_accuracy_control
    from edgeconv.metrics import thresholds_for, verify_images

    check_htp_accuracy_control(ctx.unit)
    rvc4 = ctx.stage.rvc4
    if rvc4.accuracy_control is None:
        from edgeconv.errors import ConfigError

        raise ConfigError(ctx.unit.source, [f"{ctx.unit.key_prefix}rvc4.accuracy_control is not set; the search runs only with it"])
    from edgeconv.encodings import step_settings

    return ctx.make(
        HtpAccuracyParams,
        quantization_mode=rvc4.quantization_mode,
        use_per_channel_quantization=rvc4.use_per_channel_quantization,
        thresholds=thresholds_for(ctx.settings, ctx.stage, "qnn_htp"),
        accuracy_control=rvc4.accuracy_control.model_dump(),
        verify_images=verify_images(ctx.settings, ctx.stage),
        soc=rvc4.htp_socs[0],
        **step_settings(rvc4, searcher=True),
    )


def search_gate(thresholds: dict[str, Any], margin: float) -> dict[str, Any]:
    """The gate the search aims at: verify's, with ``margin`` more cosine."""
    if thresholds.get("min_cosine") is None:
        return dict(thresholds)
    return {**thresholds, "min_cosine": min(1.0, float(thresholds["min_cosine"]) + margin)}


def _runtime(soc: str) -> dict[str, Any]:
    """Where the gate is measured: the HTP simulator, where the qnn_htp artifact is verified, when
    onnxruntime-qnn is installed (x86-64 Linux); the search's trials run in onnxruntime's CPU QDQ
    simulation and the simulator confirms its choice. Without it (rvc4 alone), the CPU's figures."""
    from importlib.util import find_spec

    if find_spec("onnxruntime_qnn") is None:
        return {}
    from edgeconv.targets.qnn_htp import simulator_runner

    return {"runner_for": simulator_runner(soc), "measured_in": f"QNN HTP simulator ({soc}, onnxruntime-qnn)"}


def run(inputs: Paths, outputs: Paths, params: HtpAccuracyParams) -> dict[str, Any]:
    from edgeconv import accuracy_control as ac, encodings
    from edgeconv.arrays import load_npz
    from edgeconv.onnx_io import read_model_info
    from edgeconv.targets.qnn_htp import scheme_for, search_quantizer

    model = inputs["onnx"]
    from edgeconv.onnx_graph import comes_quantized

    if comes_quantized(model):
        # Its own quantization is kept (quantize_qdq): there is nothing to search.
        logging.getLogger("edgeconv.progress").info("the model comes quantized: its own scales are kept, no search")
        from edgeconv.records import write_json_atomic

        write_json_atomic(outputs["encodings"], {"activation_encodings": {}, "param_encodings": {}})
        return {"accuracy_control": {"skipped": "the model comes quantized; its own quantization is kept"}}
    info = read_model_info(model)
    io_names = [t.name for t in (*info.inputs, *info.outputs)]
    base, note = encodings.for_model(
        params.encodings, inputs.get("encodings"), model, io_names,
        strict=params.strict_quantization_overrides, normalize=params.normalize_io_encodings,
    )
    settings = dict(params.accuracy_control)
    budget = ac.Budget(max_trials=int(settings["max_trials"]), max_seconds=float(settings["max_seconds"]),
                       holdout=float(settings["holdout"]))
    gate = search_gate(params.thresholds, float(settings.get("margin", 0.0)))

    out = outputs["encodings"]
    progress = logging.getLogger("edgeconv.progress")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        build = search_quantizer(model, params.quantization_mode, params.use_per_channel_quantization, Path(tmp))

        def quantize(statistics: dict[str, Any], payload: dict[str, Any] | None, trial_out: Path) -> None:
            # Each trial is the model quantize_qdq will make of its encodings: IO normalized the same way.
            if payload is not None and params.normalize_io_encodings:
                payload = encodings.normalize_io(payload, io_names)
            build(statistics, payload, trial_out)

        chosen, record = ac.htp_search(
            model, load_npz(inputs["calibration"]), gate, budget, params.verify_images, quantize, Path(tmp),
            base=base, keep_8bit=set(io_names) if params.normalize_io_encodings else set(),
            activations_16bit=scheme_for(params.quantization_mode).activations in ("QUInt16", "QInt16"),
            progress=progress.info, **_runtime(params.soc), detector=_detector(model),
        )
        payload = chosen or base or {"activation_encodings": {}, "param_encodings": {}}
        staged = Path(tmp) / "encodings.json"
        staged.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        staged.replace(out)
    record["verify_gate"] = params.thresholds
    return {"accuracy_control": record, **({"encodings": note} if note else {})}


def _detector(model: Path) -> dict[str, Any] | None:
    """A recognised detector's description, carried in the model's metadata (min_map50 gates by it)."""
    from edgeconv.detectors import from_metadata
    from edgeconv.onnx_io import read_model_info

    return from_metadata(read_model_info(model).metadata)


# ``encodings``: the user's rvc4.encodings JSON file, when the config names one.
STEP = Step(
    "htp_accuracy_control", run, HtpAccuracyParams, configure,
    inputs=("onnx", "calibration", "encodings"), outputs=("encodings",),
)
