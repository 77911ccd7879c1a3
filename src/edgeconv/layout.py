"""Where every file of a build lives. The rules (workflow/rules/common.smk), the CLI, the step
records and the tests ask this module; nobody else formats a path under results/.

    results/intermediate/<unit>/              everything built for one model (or stage) and checked
        records/<step>.json                   what each step did (provenance: parent links)
    results/<target>/<unit>.*                 published artifacts: only ones whose checks passed
    logs/<unit>/<step>.log, benchmarks/<unit>/<step>.tsv
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit, uses_fragment, uses_query

RESULTS = "results"
# Snakemake patterns ({model} is the wildcard of every rule).
INTERMEDIATE = f"{RESULTS}/intermediate/{{model}}"
RECORDS = f"{INTERMEDIATE}/records"
LOGS = "logs/{model}"
BENCH = "benchmarks/{model}"
ONNX_STAGES = ("normalized", "optimized", "simplified")


def intermediate(unit: str) -> str:
    return INTERMEDIATE.format(model=unit)


def simplified(unit: str) -> str:
    """The normalized, optimized, simplified ONNX every ONNX-reading target starts from."""
    return f"{intermediate(unit)}/simplified.onnx"


def calibration(unit: str) -> str:
    return f"{intermediate(unit)}/calibration.npz"


def stage_outputs(unit: str) -> str:
    """An upstream stage's outputs on its own calibration data (multi-stage calibration links)."""
    return f"{intermediate(unit)}/stage_outputs.npz"


def tflite_onnx(unit: str) -> str:
    """The ONNX tflite2onnx makes of a TFLite model."""
    return f"{intermediate(unit)}/tflite/{unit}.onnx"


def detector_onnx(unit: str) -> str:
    """A recognised detector cut before its in-graph decode (:mod:`edgeconv.detectors`)."""
    return f"{intermediate(unit)}/detector/{unit}.onnx"


def archive_model(model: str, part: str, member: str) -> str:
    """A model extracted from an input NN Archive (``part``: archive or postprocessor)."""
    return f"{intermediate(model)}/{part}/{member}"


def analysis_summary(unit: str, target: str) -> str:
    """The per-layer analysis of a unit's artifacts for a target (rule analyze)."""
    return f"{RESULTS}/analysis/{unit}/{target}/summary.json"


def benchmark_result(unit: str, target: str) -> str:
    """Latency and throughput of a unit's artifacts for a target on this machine (rule benchmark_<target>)."""
    return f"{RESULTS}/benchmark/{unit}/{target}.json"


def target_dir(unit: str, target: str) -> str:
    """Where a target's artifacts are built and checked before they are published."""
    return f"{intermediate(unit)}/{target}"


def htp_encodings(unit: str) -> str:
    """The encodings the HTP accuracy-control search chose (rvc4.accuracy_control)."""
    return f"{target_dir(unit, 'qnn_htp')}/accuracy_control.encodings.json"


def records_dir_of(path: str | Path) -> Path | None:
    """The records directory of the unit a built file belongs to (None for files given by the user)."""
    parts = Path(path).parts
    if len(parts) >= 4 and parts[0] == RESULTS and parts[1] == "intermediate":
        return Path(*parts[:3]) / "records"
    if len(parts) >= 4 and parts[0] == RESULTS and parts[1] == "remote" and parts[2] not in REMOTE_BOOKKEEPING:
        return Path(remote_record(str(Path(path)))).parent  # a download's own record, beside no other
    return None


def onnx_stage_reports(unit: str) -> list[str]:
    return [f"{intermediate(unit)}/{stage}.verify.json" for stage in ONNX_STAGES]


def published(target: str, unit: str, *, int8: bool = False, rvc2_kind: str = "superblob", hailo_kind: str = "hef") -> list[str]:
    """Every file building ``target`` for ``unit`` publishes under results/<target>/ (what `all`
    asks for and what `edgeconv convert` hands over)."""
    out = f"{RESULTS}/{target}/{unit}"
    if target == "openvino":
        files = [f"{out}{s}" for s in (".xml", ".bin", ".verify.json", ".buildinfo.json")]
        if int8:
            files += [f"{out}.int8{s}" for s in (".xml", ".bin", ".verify.json", ".buildinfo.json")]
        return files
    if target == "qnn_htp":
        return [f"{out}{s}" for s in (".ctx.onnx", ".ctx_qnn.bin", ".quant.onnx", ".verify.json", ".buildinfo.json")]
    if target == "rvc2":
        return [f"{out}.{rvc2_kind}", f"{out}.{rvc2_kind}.buildinfo.json"]
    if target == "rvc3":
        return [f"{out}.blob", f"{out}.buildinfo.json"]
    if target == "rvc4":
        return [f"{out}.dlc", f"{out}.info.csv", f"{out}.buildinfo.json"]
    if target == "hailo":
        # With a HEF, the quantized HAR it was compiled from is published too.
        kinds = ["har", "hef"] if hailo_kind == "hef" else [hailo_kind]
        return [f for kind in kinds for f in (f"{out}.{kind}", f"{out}.{kind}.buildinfo.json")]
    raise ValueError(f"unknown target {target!r}")


def deliverables(target: str, unit: str) -> list[str]:
    """What `edgeconv convert` hands over when it is there: every artifact and buildinfo.json the
    target can publish for the unit, whichever options chose among them (reports stay)."""
    files: list[str] = []
    for rvc2_kind in ("superblob", "blob"):
        for hailo_kind in ("hef", "parsed.har"):
            for f in published(target, unit, int8=True, rvc2_kind=rvc2_kind, hailo_kind=hailo_kind):
                if not f.endswith(".verify.json") and f not in files:
                    files.append(f)
    return files


def archive_members(target: str, unit: str, *, rvc2_kind: str = "superblob", hailo_kind: str = "hef") -> tuple[list[str], str]:
    """The published artifact file(s) (main first) and the buildinfo.json an NN Archive of ``target`` holds."""
    out = f"{RESULTS}/{target}/{unit}"
    if target == "openvino":
        return [f"{out}.xml", f"{out}.bin"], f"{out}.buildinfo.json"
    if target == "qnn_htp":
        return [f"{out}.ctx.onnx", f"{out}.ctx_qnn.bin"], f"{out}.buildinfo.json"
    if target == "rvc2":
        return [f"{out}.{rvc2_kind}"], f"{out}.{rvc2_kind}.buildinfo.json"
    if target == "rvc3":
        return [f"{out}.blob"], f"{out}.buildinfo.json"
    if target == "rvc4":
        return [f"{out}.dlc"], f"{out}.buildinfo.json"
    if target == "hailo":
        return [f"{out}.{hailo_kind}"], f"{out}.{hailo_kind}.buildinfo.json"
    raise ValueError(f"unknown target {target!r}")


def nn_archive(target: str, unit: str) -> str:
    return f"{RESULTS}/{target}/{unit}.tar.xz"


def batch_summary(batch: str, ext: str = "csv") -> str:
    """The summary of one batch of models run as one cluster job (``cluster_batch``)."""
    return f"{RESULTS}/batches/{batch}.{ext}"


# Inputs named by a URL (src/edgeconv/inputs/: s3://, ...): each object is downloaded once to its
# mirror path, by the fetch_remote rule; an archive of calibration images is extracted by
# extract_calibration.
REMOTE = f"{RESULTS}/remote"
CALIBRATION_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
# What results/remote/ holds besides the mirrors: records, uploads' manifests, generated configs.
REMOTE_BOOKKEEPING = ("records", "uploads", "configs")


def _url_path(url: str) -> str:
    """``scheme://host[:port]/path[?query]`` -> ``scheme/host[_port]/path`` (credentials left
    out; a query's digest is a directory before the file name, so the name keeps its suffix).
    Only schemes with queries and fragments (https) have them: in an ``s3://`` key, ``?`` and
    ``#`` are characters of the key, kept as they are."""
    scheme = url.partition("://")[0]
    parts = urlsplit(url, allow_fragments=scheme in uses_fragment)
    host = parts.netloc.rpartition("@")[2].replace(":", "_")
    path = parts.path.strip("/")
    if parts.query and scheme not in uses_query:
        path, parts = f"{path}?{parts.query}".strip("/"), parts._replace(query="")
    if parts.query:
        head, _, name = path.rpartition("/")
        digest = "q" + hashlib.sha256(parts.query.encode()).hexdigest()[:12]
        path = "/".join(p for p in (head, digest, name) if p)
    return "/".join(p for p in (parts.scheme, host, path) if p)


def remote_copy(url: str) -> str:
    """Where the object a URL names is downloaded (an s3:// prefix: the directory its objects land in)."""
    return f"{REMOTE}/{_url_path(url)}"


def ldf_images(dataset: str, split: str) -> str:
    """Where the images of a Luxonis dataset's split are exported (calibration.path <dataset>:<split>)."""
    return f"{REMOTE}/ldf/{dataset}/{split}"


def remote_record(mirror: str) -> str:
    """The record of the step that made a mirror file or extracted directory under results/remote/."""
    return f"{REMOTE}/records/{Path(mirror).relative_to(REMOTE)}.json"


def remote_extracted(url: str) -> str:
    """Where an archive of calibration images from ``url`` is extracted (its content root)."""
    return f"{REMOTE}/extracted/{_url_path(url)}"


def is_archive(path: str) -> bool:
    return path.lower().endswith(CALIBRATION_ARCHIVES)


def remote_upload_manifest(target: str, unit: str) -> str:
    """What was uploaded to ``output_remote_url`` for one artifact: URLs, ETags, sha256."""
    return f"{REMOTE}/uploads/{target}/{unit}.json"
