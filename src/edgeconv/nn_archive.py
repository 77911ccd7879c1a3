"""NN Archive output: ``<model>.<target>`` artifacts, ``buildinfo.json`` and a ``config.json``
(config_version 1.0) in one ``.tar.xz``, validated with the schema models of ``luxonis-ml``.

The preprocessing is embedded in the model (attach_normalization, or mo/the model script for
vendor flavors), so the archive carries identity mean/scale, no channel reversal, and the
``dai_type`` of what the converted model is fed.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from edgeconv.config.resolved import ResolvedInput, ResolvedStage
from edgeconv.errors import ConversionError
from edgeconv.model_info import ModelInfo
from edgeconv.records import atomic_file

PRECISION = {  # (target, variant) -> NN Archive precision of the main artifact
    "openvino": "float16",
    "openvino.int8": "int8",
    "qnn_htp": "int8",
    "rvc2": "float16",
    "rvc3": "int8",
    "rvc4": "int8",
    "hailo": "int8",
}


def dai_type(spec: ResolvedInput) -> str | None:
    """DepthAI's frame type for an image input: planar (NCHW) or interleaved (NHWC)."""
    if not spec.is_image:
        return None
    if spec.encoding_to == "GRAY":
        return "GRAY8"
    planar = spec.layout.index("C") < spec.layout.index("H") if "H" in spec.layout else True
    return f"{spec.encoding_to}888{'p' if planar else 'i'}"


def config_json(
    name: str, artifact: str, precision: str, stage: ResolvedStage, outputs: ModelInfo, heads: list[Any] | None = None
) -> dict[str, Any]:
    inputs = []
    for spec in stage.inputs:
        if spec.frozen_value is not None:
            continue
        channels = spec.channels or 1
        inputs.append(
            {
                "name": spec.name,
                "dtype": spec.data_type,
                "input_type": "image" if spec.is_image else "raw",
                "shape": list(spec.shape),
                "layout": spec.layout,
                "preprocessing": {
                    # Mean and scale are embedded in the model: identity values where they were set.
                    "mean": [0.0] * channels if spec.mean is not None else None,
                    "scale": [1.0] * channels if spec.scale is not None else None,
                    # The deprecated flags, as the reference fills them: DepthAI frames are BGR
                    # and planar unless told otherwise; dai_type says the same and wins.
                    "reverse_channels": spec.encoding_to == "RGB" if spec.is_image else None,
                    "interleaved_to_planar": spec.layout == "NHWC" if spec.is_image else None,
                    "dai_type": dai_type(spec),
                },
            }
        )
    outs = []
    for name_ in stage.outputs:
        info = next((o for o in outputs.outputs if o.name == name_), None)
        entry: dict[str, Any] = {"name": name_, "dtype": info.data_type if info else "float32"}
        if info and all(isinstance(d, int) for d in info.shape):
            entry["shape"] = list(info.shape)
        outs.append(entry)
    return {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": name, "path": artifact, "precision": precision},
            "inputs": inputs,
            "outputs": outs,
            "heads": heads or [],
        },
    }


def validate(config: dict[str, Any]) -> str:
    """Validate with luxonis-ml's NN Archive schema models; returns the validator used."""
    from pydantic import ValidationError

    try:
        from luxonis_ml.nn_archive import Config
    except ImportError as exc:  # luxonis-ml is a dependency; fail loudly rather than skip validation
        raise ConversionError(f"cannot validate the NN Archive config: luxonis-ml is not importable ({exc})") from None
    try:
        Config.model_validate(config)
    except ValidationError as exc:
        raise ConversionError(f"the NN Archive config.json is invalid: {exc.errors()[0]}") from None
    from importlib import metadata

    return f"luxonis-ml {metadata.version('luxonis-ml')}"


def write_archive(out: Path, files: dict[str, Path | bytes], config: dict[str, Any]) -> None:
    """``files`` maps archive member names to paths (or to their contents); config.json is added.
    Written atomically."""
    members: dict[str, Path | bytes] = {"config.json": json.dumps(config, indent=2).encode(), **files}
    with atomic_file(out) as tmp, tarfile.open(tmp, "w:xz") as tar:
        for member, source in members.items():
            if isinstance(source, bytes):
                info = tarfile.TarInfo(member)
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
            else:
                tar.add(source, arcname=member)


def artifact_output_names(artifact: Path, expected: list[str]) -> list[str] | None:
    """The output names of an artifact this machine can read (OpenVINO IR, ONNX/HTP context), in
    the order of ``expected`` (a name the artifact keeps stays; others are matched by position).
    A MyriadX blob or superblob is read by DepthAI (its output names are the IR's layer names).
    None for artifacts only vendor tools read (DLC, HEF): their names are the ONNX ones."""
    if artifact.suffix in (".blob", ".superblob"):
        from edgeconv.targets.myriad import read_blob

        ports = [{name} for name in read_blob(artifact)["outputs"]]
        unmatched = iter(p for p in ports if not p & set(expected))
        ports = [next((p for p in ports if name in p), None) or next(unmatched, {name}) for name in expected]
    elif artifact.suffix == ".xml":
        import openvino as ov

        ports = [set(o.get_names()) or {o.get_any_name()} for o in ov.Core().read_model(str(artifact)).outputs]
    elif artifact.suffix == ".onnx":
        import onnx

        ports = [{o.name} for o in onnx.load(str(artifact), load_external_data=False).graph.output]
    else:
        return None
    if len(ports) != len(expected):
        raise ConversionError(
            f"{artifact} has {len(ports)} output(s) but the model has {len(expected)} ({', '.join(expected)})"
        )
    names = []
    for i, name in enumerate(expected):
        port = next((p for p in ports if name in p), ports[i])
        names.append(name if name in port else sorted(port)[0])
    return names


def map_head_outputs(heads: list[Any], renamed: dict[str, str]) -> list[Any]:
    """Heads with every output reference renamed (``outputs`` may be a list or a mapping of lists)."""

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return renamed.get(value, value)
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        return value

    return [{**head, "outputs": rename(head["outputs"])} if "outputs" in head else head for head in heads]


DETECTION_PARSERS = ("YOLO", "YOLOExtendedParser", "SSD", "MOBILENET")


def depthai_detection_parser(archive: Path, head: dict[str, Any]) -> dict[str, Any]:
    """Have DepthAI's own DetectionParser read the archive's detection head (no device needed) and
    check it took what the head says: subtype, classes, thresholds. Raises ConversionError
    otherwise. DepthAI's parser takes strides from code (8, 16, 32 unless ``setStrides``): other
    strides are reported under ``note``."""
    try:
        import depthai as dai
    except ImportError as exc:
        raise ConversionError(f"cannot check the detection head with DepthAI: depthai is not importable ({exc})") from None
    meta = head.get("metadata") or {}
    try:
        parser = dai.Pipeline(False).create(dai.node.DetectionParser)
        parser.setNNArchive(dai.NNArchive(str(archive)))
    except Exception as exc:  # noqa: BLE001 - DepthAI raises RuntimeError with its reason
        raise ConversionError(f"{archive}: DepthAI's DetectionParser refuses the archive's {head.get('parser')} head: {exc}") from None
    read = {"family": str(parser.getNNFamily()).split(".")[-1], "subtype": parser.getSubtype(),
            "n_classes": parser.getNumClasses(), "classes": list(parser.getClasses() or []),
            "conf_threshold": round(parser.getConfidenceThreshold(), 6), "iou_threshold": round(parser.getIouThreshold(), 6),
            "strides": list(parser.getStrides())}
    wrong = [k for k in ("subtype", "n_classes", "classes") if k in meta and meta[k] != read[k]]
    wrong += [k for k in ("conf_threshold", "iou_threshold") if k in meta and abs(meta[k] - read[k]) > 1e-6]
    if wrong:
        raise ConversionError(f"{archive}: DepthAI's DetectionParser read {', '.join(f'{k}={read[k]!r}' for k in wrong)} "
                              f"where the head says {', '.join(f'{k}={meta[k]!r}' for k in wrong)}")
    if meta.get("strides") and list(meta["strides"]) != read["strides"]:
        read["note"] = (f"DepthAI's DetectionParser decodes with strides {read['strides']}, not the model's {meta['strides']}: "
                        f"call parser.setStrides({meta['strides']}) in the DepthAI pipeline")
    return read
