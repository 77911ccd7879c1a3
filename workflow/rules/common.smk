# Config loading, validation, path helpers and input functions. Everything that can be checked
# before a job runs is checked here, while Snakemake parses the workflow.
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from edgeconv import cluster_batches, layout, runlock
from edgeconv.demo import DEMO_MODELS
from edgeconv.errors import ConversionError
from edgeconv.inputs.table import KINDS
from edgeconv.project import Project, int8_skipped_note
from edgeconv.targets_report import TargetsReport


envvars:
    "PATH",


if not (workflow.remote_exec or workflow.subprocess_exec):
    # The main Snakemake process joins the directory's runs: what a killed run left behind (its
    # locks) is cleared when no other run is live (src/edgeconv/runlock.py).
    _cleared = runlock.enter().cleared
    if _cleared:
        print(
            f"note: cleared {len(_cleared)} lock(s) left by a run that was killed or crashed;"
            " its unfinished steps run again",
            file=sys.stderr,
        )

PROJECT = Project(config)
# `snakemake --report report.html [targets]`: the description (workflow/report/workflow.rst) shows
# the artifacts of the targets' DAG through this (src/edgeconv/targets_report.py).
config["targets_report"] = TargetsReport(workflow)
PROJECT.apptainer_enabled = "APPTAINER" in {
    m.name for m in workflow.deployment_settings.deployment_method
}
# Steps run as `edgeconv-step`, installed beside the Python running Snakemake, so the
# workflow works from an unactivated virtualenv too.
os.environ["PATH"] = (
    f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
)
# Every path pattern comes from edgeconv.layout.
RESULTS, INTERMEDIATE, RECORDS = layout.RESULTS, layout.INTERMEDIATE, layout.RECORDS
# The models fetch_demo_model fetches by name (src/edgeconv/demo.py).
DEMO_NAMES = "|".join(DEMO_MODELS)
LOGS, BENCH = layout.LOGS, layout.BENCH
REMOTE = layout.REMOTE
# The URL schemes whose objects the fetch_remote rule downloads (src/edgeconv/inputs/table.py).
FETCHED = "|".join(k.scheme.removesuffix("://") for k in KINDS if k.scheme)
# The group of every conversion step: on a cluster, a model's whole chain (all its targets) is one
# job, and `all` with cluster_batch=N (profiles/slurm) puts N models in one job. Local runs
# ignore groups.
CHAIN = "chain"
# Snakemake's between-workflow output cache, on with `--cache` and $SNAKEMAKE_OUTPUT_CACHE (README.md,
# "A cache a team shares"): the steps that make something and record it are eligible. Off, the
# rules do not declare it, so that runs without --cache print no note per rule.
CACHING = workflow.enable_cache


# A zoo's disk (docs/reliability.md, "A zoo's disk"): with `keep_intermediate_outputs: false` in
# config/config.yaml, every file a model's chain makes on the way to what it publishes (the ONNX
# intermediates, the calibration samples, each target's artifacts before publish, rvc2's per-shave
# blobs) is a temp() file, removed once the jobs that read it are done: what stays is what is
# published, the step records and the check reports. A change then reruns that model's chain from
# its source. The default keeps them, so that a change reruns exactly the steps that read it.
# Not dropped: files the workflow reads while it plans (an adapted detector, an NN Archive's
# extracted model) and the outputs one stage hands to another's calibration.
def droppable(path):
    return path if config.get("keep_intermediate_outputs", True) else temp(path)


wildcard_constraints:
    model=r"[A-Za-z0-9_][A-Za-z0-9_-]*",
    flavor="mo|hailo",
    mo_target="rvc2|rvc3",


def recap_warnings():
    """The warnings of every step this run ran, wherever it ran (a cluster job's went to its own
    log), printed by the Snakemake the user started (the Snakefile's onsuccess and onerror).
    """
    from edgeconv.run_warnings import recap

    if not (workflow.remote_exec or workflow.subprocess_exec):
        print(
            recap(Path(RESULTS) / "intermediate", RUN_STARTED), end="", file=sys.stderr
        )


def _checked(fn, *args, **kwargs):
    """Turn a config or model problem into a one-line Snakemake error instead of a traceback."""
    try:
        return fn(*args, **kwargs)
    except ConversionError as exc:
        # Printed first and alone, before Snakemake's own report of where it was raised.
        print(f"error: {exc}", file=sys.stderr)
        raise WorkflowError("stopped before any job ran: fix the error above") from None


MATRIX = _checked(PROJECT.matrix_units)


def all_targets(wildcards):
    """Everything the matrix asks for (evaluated only when `all` is built). With
    `cluster_batch: N` or `auto` (profiles/slurm), the summaries of batches of models instead: each
    batch is one connected part of the DAG, so one cluster job that runs its models side by side
    (src/edgeconv/cluster_batches.py: auto makes one batch per job the cluster runs at once).
    """
    for target in PROJECT.targets:
        _checked(PROJECT.check_target_tools, target)
    setting = config.get("cluster_batch")
    if setting:
        size = _checked(
            cluster_batches.batch_size, setting, len(MATRIX), workflow.cores
        )
        targets = [
            layout.batch_summary(b) for b in cluster_batches.batches(list(MATRIX), size)
        ]
    else:
        targets = matrix_targets(wildcards)
    note_int8_skipped(MATRIX)
    return targets


def note_int8_skipped(names):
    """One note for the models that get no openvino INT8 IR for want of calibration data."""
    note = _checked(int8_skipped_note, PROJECT, names)
    if note:
        print(note, file=sys.stderr)


def matrix_targets(wildcards):
    """Every model's targets (whether or not `all` asks for them in batches)."""
    return [t for name in MATRIX for t in model_targets(name)]


def model_targets(name):
    """What the matrix asks for one model: its ONNX stages' checks and its published artifacts."""
    targets = []
    if _checked(PROJECT.is_ir, name):
        # An OpenVINO IR given as the model: compiled for rvc2/rvc3 as it is.
        _checked(PROJECT.check_ir_targets, name)
    elif _checked(PROJECT.is_tflite, name) and set(PROJECT.targets) <= set(
        PROJECT.TFLITE_NATIVE
    ):
        pass  # rvc4 and hailo read the TFLite model themselves: no ONNX chain
    else:
        targets += layout.onnx_stage_reports(name)
    if "qnn_htp" in PROJECT.targets:
        _checked(PROJECT.check_qnn, name)
    kinds = _checked(PROJECT.artifact_kinds, name)
    for target in PROJECT.targets:
        targets += layout.published(target, name, **kinds)
        if _checked(PROJECT.uploads, name):
            targets.append(layout.remote_upload_manifest(target, name))
    return targets


def batch_inputs(wildcards):
    """Every target of the batch's models; the build infos are what its summary lists."""
    files = [
        t
        for name in _checked(
            cluster_batches.batch_models, list(MATRIX), wildcards.batch
        )
        for t in model_targets(name)
    ]
    return {
        f"{'buildinfo' if f.endswith('.buildinfo.json') else 'target'}_{i:04d}": f
        for i, f in enumerate(files)
    }


def buildinfo_args(wildcards, input):
    """`--input key=path` for the build infos among a rule's inputs."""
    return " ".join(
        f"--input {k}={v}" for k, v in input.items() if k.startswith("buildinfo_")
    )


def upload_inputs(wildcards):
    """The published files of one artifact, for upload_remote."""
    kinds = _checked(PROJECT.artifact_kinds, wildcards.model)
    files = layout.published(wildcards.target, wildcards.model, **kinds)
    return {f"artifact_{i:02d}": f for i, f in enumerate(files)}


def report_inputs(wildcards):
    """The report's figures read every published build info and the ONNX stages' checks."""
    files = matrix_targets(wildcards)
    buildinfos = [f for f in files if f.endswith(".buildinfo.json")]
    stages = [f for f in files if f.endswith(".verify.json") and "/intermediate/" in f]
    return {
        **{f"buildinfo_{i:04d}": f for i, f in enumerate(buildinfos)},
        **{f"stage_{i:04d}": f for i, f in enumerate(stages)},
    }


def input_archive(wildcards):
    """The NN Archive a model is given as (under models_dir, which `edgeconv convert` points at)."""
    path = _checked(PROJECT.archive_path, wildcards.model)
    if path is None:
        raise WorkflowError(f"{wildcards.model} is not given as an NN Archive")
    return str(path)


def encodings_input(wildcards):
    """The encodings quantize_qdq and onnx_to_dlc apply: the accuracy-control search's (with
    rvc4.accuracy_control), else the rvc4.encodings JSON file the config names (inline: a parameter).
    """
    return _checked(PROJECT.encodings_input, wildcards.model)


def user_encodings_input(wildcards):
    """The rvc4.encodings JSON file the config names, for the accuracy-control search."""
    return _checked(PROJECT.user_encodings_input, wildcards.model)


def qdq_inputs(wildcards):
    """The QDQ step reads calibration data unless the mode keeps the model in float (FP16)."""
    inputs = {"onnx": layout.simplified(wildcards.model), **encodings_input(wildcards)}
    if _checked(PROJECT.qdq_needs_calibration, wildcards.model):
        inputs["calibration"] = layout.calibration(wildcards.model)
    return inputs


def analysis_inputs(wildcards):
    """The artifacts of one target to analyse, the float model they were made from, the original
    and the samples; for qnn_htp the context model only where onnxruntime-qnn can build it.
    """
    from importlib.util import find_spec

    model, target = wildcards.model, wildcards.analysis_target
    where = layout.target_dir(model, target)
    inputs = {
        "original": source_model(wildcards),
        "float": layout.simplified(model),
        "calibration": layout.calibration(model),
    }
    if target in ("openvino", "rvc3"):  # FP16 and INT8 IR (rvc3: mo's and POT's)
        inputs |= {
            "ir_fp16": f"{where}/{model}.xml",
            "ir_int8": f"{where}/{model}.int8.xml",
            "ir_fp16_bin": f"{where}/{model}.bin",
            "ir_int8_bin": f"{where}/{model}.int8.bin",
        }
    elif target == "rvc2":  # mo's IR, what compile_tool reads
        inputs |= {
            "ir_fp16": f"{where}/{model}.xml",
            "ir_fp16_bin": f"{where}/{model}.bin",
        }
    else:
        inputs |= {"qdq": f"{where}/{model}.quant.onnx", **encodings_input(wildcards)}
        if find_spec("onnxruntime_qnn") is not None:
            inputs |= {
                "ctx": f"{where}/{model}.ctx.onnx",
                "bin": f"{where}/{model}.ctx_qnn.bin",
            }
    return inputs


def graph_prepare_inputs(wildcards):
    """The quantized DLC, or the float one when the mode does not quantize (FP16_STANDARD)."""
    rvc4 = layout.target_dir(wildcards.model, "rvc4")
    quantized = _checked(PROJECT.dlc_quantized, wildcards.model)
    dlc = (
        f"{rvc4}/{wildcards.model}.quantized.dlc" if quantized else float_dlc(wildcards)
    )
    return {"dlc": dlc, "original": interface_model(wildcards)}


def float_dlc(wildcards):
    """snpe-onnx-to-dlc's DLC, or snpe-tflite-to-dlc's for a TFLite model."""
    rvc4 = layout.target_dir(wildcards.model, "rvc4")
    if _checked(PROJECT.is_tflite, wildcards.model):
        return f"{rvc4}/{wildcards.model}.tflite.dlc"
    return f"{rvc4}/{wildcards.model}.dlc"


def rvc4_publish_inputs(wildcards):
    """The prepared DLC and, unless SNPE read a TFLite model as it is, the check of its ONNX."""
    model = wildcards.model
    rvc4 = layout.target_dir(model, "rvc4")
    inputs = {
        "artifact_dlc": f"{rvc4}/{model}.prepared.dlc",
        "artifact_info": f"{rvc4}/{model}.info.csv",
    }
    if not _checked(PROJECT.is_tflite, model):
        # SNPE's DLC cannot run here: the ONNX it was converted from must have passed its check.
        inputs["verify"] = f"{layout.intermediate(model)}/simplified.verify.json"
    return inputs


def hailo_publish_inputs(wildcards):
    """The Hailo artifact asked for: HEF, quantized HAR or parsed HAR."""
    model, kind = wildcards.model, wildcards.kind
    return {"artifact_artifact": f"{layout.target_dir(model, 'hailo')}/{model}.{kind}"}


def mo_onnx(wildcards):
    """The ONNX mo reads: for rvc2 with OpenVINO 2021.4 (the built-in compiler) the one rewritten
    for it (rule rewrite_for_myriad), otherwise the mo-flavor simplified ONNX."""
    base = f"{layout.intermediate(wildcards.model)}/mo"
    if (
        wildcards.mo_target == "rvc2"
        and _checked(PROJECT.openvino_version, wildcards.model) == "2021.4"
    ):
        return f"{base}/myriad.onnx"
    return f"{base}/simplified.onnx"


def vendor_ir(target):
    """The IR a target compiles: mo's, or the OpenVINO IR given as the model."""

    def ir(wildcards):
        model = wildcards.model
        if _checked(PROJECT.is_ir, model):
            xml = str(PROJECT.unit(model).model_path)
        else:
            xml = f"{layout.target_dir(model, target)}/{model}.xml"
        return {"xml": xml, "bin": xml[: -len(".xml")] + ".bin"}

    return ir


def superblob_base(wildcards):
    """The other shave variants of a superblob wait for the record of its base variant (the one
    blob_patch patches the others against)."""
    if wildcards.shaves == "8":
        return []
    return expand(f"{RECORDS}/compile_blob_8shave.json", model=wildcards.model)


def rvc3_blob_inputs(wildcards):
    """The POT INT8 IR, or the float IR (mo's, or the one given) when calibration is disabled."""
    if _checked(PROJECT.rvc3_fp16, wildcards.model):
        return vendor_ir("rvc3")(wildcards)
    stem = f"{layout.target_dir(wildcards.model, 'rvc3')}/{wildcards.model}.int8"
    return {"xml": f"{stem}.xml", "bin": f"{stem}.bin"}


def rvc3_publish_inputs(wildcards):
    """The VPUX blob and the check of the IR it compiled (none for an IR given as the model)."""
    model = wildcards.model
    inter = layout.target_dir(model, "rvc3")
    inputs = {"artifact_blob": f"{inter}/{model}.blob"}
    if not _checked(PROJECT.rvc3_fp16, model):
        inputs["verify"] = f"{inter}/{model}.int8.verify.json"
    elif not _checked(PROJECT.is_ir, model):
        inputs["verify"] = f"{inter}/{model}.verify.json"
    return inputs


def archive_inputs(wildcards):
    return _checked(PROJECT.archive_inputs, wildcards.model, wildcards.target)


def archive_params(wildcards):
    return _checked(PROJECT.archive_params, wildcards.model, wildcards.target)


def superblob_inputs(wildcards):
    """The 8-shave base blob and a bsdiff4 patch for every other shave count (1..16)."""
    blobs = f"{layout.target_dir(wildcards.model, 'rvc2')}/blobs"
    inputs = {"base": f"{blobs}/8shave.blob"}
    inputs.update(
        {f"patch_{s}": f"{blobs}/{s}shave.patch" for s in range(1, 17) if s != 8}
    )
    return inputs


def rvc2_publish_inputs(wildcards):
    """The blob or superblob, and the check of mo's IR (an IR given as the model is compiled as it is)."""
    model, kind = wildcards.model, wildcards.kind
    rvc2 = layout.target_dir(model, "rvc2")
    inputs = {"artifact_blob": f"{rvc2}/{model}.{kind}"}
    if not _checked(PROJECT.is_ir, model):
        inputs["verify"] = f"{rvc2}/{model}.verify.json"
    return inputs


def mem_mb(base, per_input_mb):
    """A step's peak memory for `resources: mem_mb`: a base plus a multiple of the size of what it
    reads (measured in BENCHMARKS.md (b) and (d)), so `--resources mem_mb=N` and a cluster's
    scheduler pack jobs without running out of memory on a large model."""

    def mem(wildcards, input):
        return int(base + per_input_mb * input.size_mb)

    return mem


def input_args(wildcards, input):
    """`--input key=path` for every named input of a rule whose inputs come from a function."""
    return " ".join(f"--input {k}={v}" for k, v in input.items())


def output_args(wildcards, output):
    """`--output key=path` for every named output of a rule."""
    return " ".join(f"--output {k}={v}" for k, v in output.items())


def source_model(wildcards):
    """The ONNX model the chain starts from (for a TFLite model: tflite_to_onnx's ONNX)."""
    return _checked(PROJECT.onnx_source, wildcards.model)


def interface_model(wildcards):
    """The model file steps read the inputs and outputs from: as given (ONNX, IR or TFLite), or a
    recognised detector's adapted model."""
    return _checked(PROJECT.interface_model, wildcards.model)


def model_as_given(wildcards):
    """The model file exactly as given (what adapt_detector reads)."""
    return str(_checked(PROJECT.unit, wildcards.model).model_path)


def hailo_parse_inputs(wildcards):
    """The DFC parses the hailo-flavor ONNX, or a TFLite model as it is."""
    model = interface_model(wildcards)
    if _checked(PROJECT.is_tflite, wildcards.model):
        return {"tflite": model, "original": model}
    onnx = f"{layout.target_dir(wildcards.model, 'hailo')}/simplified.onnx"
    return {"onnx": onnx, "original": model}


def source_external_data(wildcards):
    """An ONNX model's external weights (`<model>.onnx_data`), so that changing them rebuilds.
    (For an adapted detector, adapt_detector reads them.)"""
    model = _checked(PROJECT.unit, wildcards.model).model_path
    data = model.with_name(f"{model.name}_data")
    return [str(data)] if model.suffix == ".onnx" and data.exists() else []


def calibration_inputs(wildcards):
    """The model, the calibration files, and the upstream stages' outputs a linked input reads."""
    files = _checked(PROJECT.calibration_files, wildcards.model)
    inputs = {"model": interface_model(wildcards)}
    inputs.update({f"file_{i:05d}": f for i, f in enumerate(files)})
    dirs = _checked(PROJECT.calibration_dirs, wildcards.model)
    inputs.update({f"images_{i:02d}": d for i, d in enumerate(dirs)})
    inputs.update(_checked(PROJECT.linked_inputs, wildcards.model))
    return inputs


def named_input_args(wildcards, input):
    """`--input key=path` for the inputs a step reads by name (not the calibration files)."""
    return " ".join(
        f"--input {k}={v}" for k, v in input.items() if not k.startswith("file_")
    )


def step_params(step, **variant):
    """Parameters of one step for one model, built by the step's declaration
    (src/edgeconv/steps/<step>.py): only the config keys that step reads. ``variant`` values may
    name wildcards, e.g. ``target="{mo_target}"``."""

    def params(wildcards):
        chosen = {
            k: v.format(**dict(wildcards.items())) if isinstance(v, str) else v
            for k, v in variant.items()
        }
        return _checked(PROJECT.params, wildcards.model, step, **chosen)

    return params


def remote_params(wildcards):
    """The URL of a mirror file and its version (an ETag ...) as this run found it."""
    path = f"{REMOTE}/{wildcards.scheme}/{wildcards.path}"
    return json.dumps(_checked(PROJECT.made, path, "fetch_remote"), sort_keys=True)


def ldf_params(wildcards):
    """The Luxonis dataset split an export directory holds, and its version as this run found it."""
    path = f"{REMOTE}/ldf/{wildcards.dataset}/{wildcards.split}"
    return json.dumps(_checked(PROJECT.made, path, "export_ldf"), sort_keys=True)


def demo_params(wildcards):
    return json.dumps({"name": wildcards.demo, "cache": "models/.downloads"})


def container_for(target):
    """Snakemake's `container:` for a target's tool steps: its image when
    toolchains.<target>.runtime is apptainer (run with --sdm apptainer), otherwise none.
    """

    def image(wildcards):
        return _checked(PROJECT.container_image, target)

    return image


def mo_container(wildcards):
    return _checked(PROJECT.container_image, wildcards.mo_target)
