"""The steps by name: each reads its named input files and parameters and writes its named outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.config.resolve import ResolvedStage, move_preprocessing, resolve_stage
from edgeconv.config.schema import StageConfig
from edgeconv.errors import CalibrationError, VerificationError
from edgeconv.onnx_io import load_onnx, numpy_dtype, read_model_info, save_onnx
from edgeconv.records import write_json_atomic

Paths = dict[str, Path]
Step = Callable[[Paths, Paths, dict[str, Any]], dict[str, Any] | None]


def resolved_stage(original: Path, params: dict[str, Any], as_converted: bool = True) -> ResolvedStage:
    """The stage as configured, or -- ``as_converted`` with ``--archive-preprocess`` -- as the
    model is converted: with its preprocessing moved into the NN Archive."""
    stage = StageConfig.model_validate(params["io"])
    info = read_model_info(original)
    resolved = resolve_stage(stage, info, params.get("source", str(original)))
    if as_converted and params.get("archive_preprocess"):
        resolved = move_preprocessing(resolved)
    return resolved


def attach_normalization(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.attach_normalization import attach_normalization as attach

    stage = resolved_stage(inputs["model"], params)
    plan = None
    flavor = params.get("options", {}).get("plan")
    if flavor == "mo":  # mo applies mean/scale/reversal itself
        from edgeconv.targets.rvc2 import mo_plan

        plan = mo_plan(stage).onnx
    elif flavor == "hailo":  # the model script normalizes and converts 3-channel inputs
        from edgeconv.preprocessing import InputPlan
        from edgeconv.targets.hailo import needs_graph_normalization

        plan = {k: InputPlan(*v) for k, v in needs_graph_normalization(stage).items()}
    model = attach(load_onnx(inputs["model"]), stage, copy_model=False, plan=plan)
    save_onnx(model, outputs["onnx"])
    return {
        # Calibration is resolved (and recorded) by prepare_calibration, not here.
        "resolved": [{k: v for k, v in i.to_dict().items() if k != "calibration"} for i in stage.inputs],
        "outputs_selected": stage.outputs,
        "tool_calls": [{"tool": "onnx", "call": "edgeconv.steps.attach_normalization.attach_normalization(model, stage)"}],
    }


def _model_input(inputs: Paths) -> Path:
    """The model a vendor tool reads: the ONNX of the chain, or a TFLite model as it is
    (snpe-tflite-to-dlc, the DFC's TFLite parser)."""
    return inputs["onnx"] if "onnx" in inputs else inputs["tflite"]


def tflite_to_onnx(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.tflite_to_onnx import convert

    return convert(inputs["tflite"], outputs["onnx"])


def optimize_onnx(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.optimize_onnx import optimize

    stage = resolved_stage(inputs["original"], params)
    images = {i.name for i in stage.inputs if i.is_image}
    model, report = optimize(load_onnx(inputs["onnx"]), params["options"], images)
    save_onnx(model, outputs["onnx"])
    return {"optimizations": report, "tool_calls": [{"tool": "onnxruntime", "call": "check each optimization"}]}


def simplify(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.simplify import simplify as run

    model, call = run(load_onnx(inputs["onnx"]), params["options"]["method"])
    save_onnx(model, outputs["onnx"])
    return {"tool_calls": [call]}


def prepare_calibration(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.prepare_calibration import prepare_calibration as prepare

    # Calibration is made for the stage as configured (camera data, 0..255 images); with
    # --archive-preprocess the model is fed it normalized, as the archive's preprocessing will.
    stage = resolved_stage(inputs["model"], params, as_converted=False)
    linked = {k[len("linked_") :]: load_calibration(p) for k, p in inputs.items() if k.startswith("linked_")}
    data = prepare(stage, Path(params.get("root", ".")), linked)
    if params.get("archive_preprocess"):
        from edgeconv.preprocessing import normalize_numpy

        converted = {i.name: i for i in move_preprocessing(stage).inputs}
        for spec in stage.inputs:
            if spec.name in data and converted[spec.name] != spec:
                dtype = numpy_dtype(converted[spec.name].data_type)
                data[spec.name] = np.stack([normalize_numpy(x, spec) for x in data[spec.name]]).astype(dtype)
    if not data:
        raise CalibrationError("every input is frozen; there is nothing to calibrate")
    _save_npz(outputs["calibration"], data)
    return {"samples": {k: list(v.shape) for k, v in data.items()}, "sources": [i.calibration for i in stage.inputs]}


def _save_npz(path: Path, data: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        np.savez(tmp, **data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_calibration(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def convert_ir(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.openvino_ir import convert_ir as run

    call = run(inputs["onnx"], outputs["xml"], bool(params["options"].get("compress_to_fp16", True)))
    return {"tool_calls": [call]}


def quantize_ir(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.openvino_ir import quantize_ir as run

    call = run(inputs["onnx"], load_calibration(inputs["calibration"]), outputs["xml"], params["options"])
    return {"tool_calls": [call]}


def verify(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.verify import verify as run

    stage = resolved_stage(inputs["original"], params)
    options = params["options"]
    runner = None
    if options.get("runtime"):  # an HTP context model runs in the QNN HTP simulator
        from edgeconv.steps.qnn_htp import run_context

        rt = options["runtime"]

        def runner(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return run_context(path, feeds, rt["soc"], rt["fp16"])

    report = run(
        inputs["original"],
        inputs["artifact"],
        stage,
        load_calibration(inputs["calibration"]),
        options["thresholds"],
        int(options.get("max_images", 4)),
        runner,
    )
    if options.get("runtime"):
        report["runtime"] = {"simulator": "QNN HTP (onnxruntime-qnn, x86-64)", **options["runtime"]}
    failed_report = failed_report_path(outputs["report"])
    if not report["passed"]:
        # The artifact stays under results/intermediate/ and is never published; the report with
        # every figure is kept beside it (the declared report would be removed with the failed job).
        write_json_atomic(failed_report, report)
        kind = options.get("kind", "")
        keys = [k for k in ("min_cosine", "max_abs_error", "mean_abs_error") if any(k in f for f in report["failures"])]
        where = " or ".join(f"verify.{kind}.{k}" for k in keys) if kind else "the thresholds under `verify`"
        raise VerificationError(
            f"{inputs['artifact']} differs from {inputs['original']}: {'; '.join(report['failures'])}; "
            f"not published. Report: {failed_report}. Improve the conversion (e.g. calibration data, quantization "
            f"mode), or if this is expected change {where} (config/config.yaml, or the model's config)"
        )
    failed_report.unlink(missing_ok=True)
    write_json_atomic(outputs["report"], report)
    return {"verification": {"passed": True, "outputs": report["outputs"]}}


def failed_report_path(report: Path) -> Path:
    """Where a report that did not pass is kept: ``x.verify.json`` -> ``x.verify.failed.json``."""
    return report.with_name(report.name.removesuffix(".json") + ".failed.json")


def quantize_qdq(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.qnn_htp import quantize_qdq as run

    options = params["options"]
    calibration = load_calibration(inputs["calibration"]) if "calibration" in inputs else None
    call = run(inputs["onnx"], calibration, outputs["onnx"], options["quantization_mode"], options["per_channel"])
    return {"tool_calls": [call]}


def compile_htp(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.qnn_htp import compile_htp as run

    options = params["options"]
    call = run(inputs["onnx"], outputs["ctx"], options["soc"], options["fp16"])
    return {"tool_calls": [call]}


def convert_mo(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc2 import convert_mo as run

    stage = resolved_stage(inputs["original"], params)
    return {"tool_calls": [run(inputs["onnx"], stage, outputs["xml"], params["options"])]}


def compile_blob(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc2 import compile_blob as run

    options = params["options"]
    return {"tool_calls": [run(inputs["xml"], outputs["blob"], int(options["shaves"]), options)]}


def blob_patch(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc2 import blob_patch as run

    return {"tool_calls": [run(inputs["base"], inputs["blob"], outputs["patch"])]}


def assemble_superblob(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc2 import assemble_superblob as run

    patches = {int(k.split("_", 1)[1]): p for k, p in inputs.items() if k.startswith("patch_")}
    return {"tool_calls": [run(inputs["base"], patches, outputs["superblob"])]}


def prepare_snpe_inputs(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc4 import prepare_snpe_inputs as run

    stage = resolved_stage(inputs["original"], params)
    return run(load_calibration(inputs["calibration"]), stage, outputs["raw"], outputs["input_list"])


def onnx_to_dlc(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc4 import onnx_to_dlc as run

    stage = resolved_stage(inputs["original"], params)
    return {"tool_calls": [run(_model_input(inputs), stage, outputs["dlc"], params["options"])]}


def quantize_dlc(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc4 import quantize_dlc as run

    return {"tool_calls": [run(inputs["dlc"], inputs["input_list"], outputs["dlc"], params["options"])]}


def graph_prepare_dlc(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc4 import graph_prepare as run

    stage = resolved_stage(inputs["original"], params)
    return {"tool_calls": [run(inputs["dlc"], outputs["dlc"], outputs["info"], stage, params["options"])]}


def hailo_parse(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.hailo import parse

    stage = resolved_stage(inputs["original"], params)
    return {"tool_calls": [parse(_model_input(inputs), stage, outputs["har"], params["model"], params["options"])]}


def hailo_optimize(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.hailo import optimize

    stage = resolved_stage(inputs["original"], params)
    calibration = load_calibration(inputs["calibration"])
    return {"tool_calls": [optimize(inputs["har"], stage, calibration, outputs["har"], params["options"])]}


def hailo_compile(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.hailo import compile_hef

    return {"tool_calls": [compile_hef(inputs["har"], outputs["hef"], params["options"])]}


def pot_quantize(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc3 import pot_quantize as run

    stage = resolved_stage(inputs["original"], params)
    calibration = load_calibration(inputs["calibration"])
    return {"tool_calls": [run(inputs["xml"], calibration, stage, outputs["xml"], params["options"])]}


def compile_vpux_blob(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.rvc3 import compile_vpux

    return {"tool_calls": [compile_vpux(inputs["xml"], outputs["blob"], params["options"])]}


def extract_postprocessor(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.archive_input import extract_postprocessor as extract

    member = extract(inputs["archive"], outputs["model"])
    return {"member": member, "tool_calls": [{"tool": "edgeconv", "call": f"extract_member(archive, {member!r})"}]}


def stage_outputs(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.link_calibration import stage_outputs as run

    data = run(inputs["onnx"], load_calibration(inputs["calibration"]))
    _save_npz(outputs["outputs"], data)
    return {
        "output_shapes": {k: list(v.shape) for k, v in data.items()},
        "tool_calls": [{"tool": "onnxruntime", "call": f"InferenceSession({inputs['onnx']}, CPUExecutionProvider).run per sample"}],
    }


def extract_archive(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.archive_input import safe_extract

    config = safe_extract(inputs["archive"], outputs["model"].parent)
    return {"archive_config": config, "tool_calls": [{"tool": "edgeconv", "call": "safe_extract(archive)"}]}


def nn_archive(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    """One archive per model: the main artifact(s), and for a two-stage model the post-processing
    stage's artifact(s) too, linked from the first head's ``metadata.postprocessor_path`` as the
    reference links them; ``buildinfo.json`` holds each stage's build info by stage name."""
    from edgeconv import nn_archive as na

    options = params["options"]
    stages = options.get("stages") or {}

    def part(prefix: str) -> dict[str, Path]:
        return {k: p for k, p in sorted(inputs.items()) if k.startswith(f"{prefix}_artifact")}

    main_files = part("main")
    stage = resolved_stage(inputs["main_original"], params)
    info = read_model_info(inputs["main_onnx"])
    main = inputs["main_artifact_0"].name
    heads = [dict(h) for h in options.get("heads") or []]
    files: dict[str, Path | bytes] = {p.name: p for p in main_files.values()}
    if stages:
        post_files = part("post")
        files.update({p.name: p for p in post_files.values()})
        post = inputs["post_artifact_0"].name
        heads[0] = {**heads[0], "metadata": {**(heads[0].get("metadata") or {}), "postprocessor_path": post}}
        buildinfo: Path | bytes = json.dumps(
            {
                stages["main"]: json.loads(inputs["main_buildinfo"].read_text()),
                stages["post"]: json.loads(inputs["post_buildinfo"].read_text()),
            },
            indent=2,
        ).encode()
    else:
        buildinfo = inputs["main_buildinfo"]
    # An artifact that names its outputs differently (read where this machine can read it): the
    # archive lists its names and the heads are mapped to them.
    names = na.artifact_output_names(inputs["main_artifact_0"], list(stage.outputs))
    renamed = {a: b for a, b in zip(stage.outputs, names or stage.outputs) if a != b}
    if renamed:
        stage = ResolvedStage(inputs=stage.inputs, outputs=[renamed.get(o, o) for o in stage.outputs])
        info.outputs = [type(o)(renamed.get(o.name, o.name), o.shape, o.data_type) for o in info.outputs]
        heads = na.map_head_outputs(heads, renamed)
    config = na.config_json(params["model"], main, options["precision"], stage, info, heads)
    if params.get("archive_preprocess"):
        from edgeconv.config.resolve import preprocessing_block

        configured = {i.name: i for i in resolved_stage(inputs["main_original"], params, as_converted=False).inputs}
        for entry in config["model"]["inputs"]:
            spec = configured[entry["name"]]
            if spec.is_image or spec.needs_normalization:
                entry["preprocessing"] = preprocessing_block(spec)
    validator = na.validate(config)
    files["buildinfo.json"] = buildinfo
    na.write_archive(outputs["archive"], files, config)
    return {"config": config, "validated_with": validator, "members": ["config.json", *files], "renamed_outputs": renamed}


def publish(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.steps.publish import publish as run

    return run(inputs, outputs, params)


def fetch_demo(inputs: Paths, outputs: Paths, params: dict[str, Any]) -> dict[str, Any]:
    from edgeconv.demo import fetch_demo_model

    return {"tool_calls": [fetch_demo_model(params["name"], outputs["model"], Path(params["cache"]))]}


STEPS: dict[str, Step] = {
    "tflite_to_onnx": tflite_to_onnx,
    "attach_normalization": attach_normalization,
    "optimize_onnx": optimize_onnx,
    "simplify": simplify,
    "prepare_calibration": prepare_calibration,
    "convert_ir": convert_ir,
    "quantize_ir": quantize_ir,
    "quantize_qdq": quantize_qdq,
    "compile_htp": compile_htp,
    "convert_mo": convert_mo,
    "compile_blob": compile_blob,
    "blob_patch": blob_patch,
    "assemble_superblob": assemble_superblob,
    "prepare_snpe_inputs": prepare_snpe_inputs,
    "onnx_to_dlc": onnx_to_dlc,
    "tflite_to_dlc": onnx_to_dlc,
    "quantize_dlc": quantize_dlc,
    "graph_prepare_dlc": graph_prepare_dlc,
    "hailo_parse": hailo_parse,
    "hailo_optimize": hailo_optimize,
    "hailo_compile": hailo_compile,
    "pot_quantize": pot_quantize,
    "compile_vpux_blob": compile_vpux_blob,
    "nn_archive": nn_archive,
    "extract_archive": extract_archive,
    "stage_outputs": stage_outputs,
    "extract_postprocessor": extract_postprocessor,
    "verify": verify,
    "publish": publish,
    "fetch_demo": fetch_demo,
}
