"""The NN Archive of a model for one target (``results/<target>/<model>.tar.xz``): its artifact(s),
``buildinfo.json`` and a ``config.json`` validated with luxonis-ml (:mod:`edgeconv.nn_archive`).

Inputs, per part (``main``, and ``post`` for a two-stage model): ``<part>_artifact_<i>``,
``<part>_buildinfo``, ``<part>_original`` (the model as given) and ``<part>_onnx`` (the model
whose outputs the archive lists)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Paths, StageParams, Step


@dataclass(frozen=True, kw_only=True)
class ArchiveParams(StageParams):
    target: str
    precision: str
    heads: list[dict[str, Any]]
    # Two-stage model: {"main": <stage>, "post": <stage>}; empty for a single stage.
    stages: dict[str, str]


def configure(
    ctx: Context, target: str, archive_name: str, precision: str, heads: list[Any], stages: dict[str, str]
) -> ArchiveParams:
    """``archive_name``: the model name in the archive (a two-stage model's, not its main unit's)."""
    return ctx.make(ArchiveParams, model=archive_name, target=target, precision=precision, heads=list(heads), stages=stages)


def run(inputs: Paths, outputs: Paths, params: ArchiveParams) -> dict[str, Any]:
    """One archive per model: the main artifact(s), and for a two-stage model the post-processing
    stage's artifact(s) too, linked from the first head's ``metadata.postprocessor_path`` as the
    reference links them; ``buildinfo.json`` holds each stage's build info by stage name."""
    from edgeconv import nn_archive as na
    from edgeconv.config.resolved import ResolvedStage, move_preprocessing
    from edgeconv.onnx_io import read_model_info

    stages = params.stages or {}

    def part(prefix: str) -> dict[str, Path]:
        return {k: p for k, p in sorted(inputs.items()) if k.startswith(f"{prefix}_artifact")}

    main_files = part("main")
    # Resolved once: as configured (the archive's preprocessing) and as converted (what the model takes).
    configured = params.stage(inputs["main_original"], as_converted=False)
    stage = move_preprocessing(configured) if params.archive_preprocess else configured
    info = read_model_info(inputs["main_onnx"])
    main = inputs["main_artifact_0"].name
    heads = [dict(h) for h in params.heads]
    if not heads and not stages and inputs["main_original"].suffix == ".onnx":
        # A detector recognised when adapt_detector ran (a model a rule made) carries its head.
        from edgeconv.detectors import from_metadata

        carried = from_metadata(read_model_info(inputs["main_original"]).metadata)
        heads = [carried["head"]] if carried else []
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
    config = na.config_json(params.model, main, params.precision, stage, info, heads)
    if params.archive_preprocess:
        from edgeconv.config.resolve import preprocessing_block

        by_name = {i.name: i for i in configured.inputs}
        for entry in config["model"]["inputs"]:
            spec = by_name[entry["name"]]
            if spec.is_image or spec.needs_normalization:
                entry["preprocessing"] = preprocessing_block(spec)
    validator = na.validate(config)
    files["buildinfo.json"] = buildinfo
    na.write_archive(outputs["archive"], files, config)
    record = {"config": config, "validated_with": validator, "members": ["config.json", *files], "renamed_outputs": renamed}
    detection = [h for h in config["model"]["heads"] if h.get("parser") in na.DETECTION_PARSERS]
    if detection:  # DepthAI's own parser must take the head the camera will decode with
        try:
            record["depthai_detection_parser"] = na.depthai_detection_parser(outputs["archive"], detection[0])
        except Exception:
            outputs["archive"].unlink(missing_ok=True)
            raise
        if "note" in record["depthai_detection_parser"]:
            print(f"note: {record['depthai_detection_parser']['note']}", file=sys.stderr, flush=True)
    if params.target == "rvc2":  # DepthAI must read what the camera will be given
        from edgeconv.targets.myriad import read_archive

        try:
            record["depthai_reads"] = read_archive(outputs["archive"])
        except Exception:
            outputs["archive"].unlink(missing_ok=True)
            raise
    return record


STEP = Step("nn_archive", run, ArchiveParams, configure, outputs=("archive",), doc="variant: target", accepts_ir=True)
