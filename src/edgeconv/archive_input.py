"""NN Archive input (``models/<name>.tar.xz``): safe extraction and the model config it implies.

Extraction refuses absolute paths, ``..``, links, devices/FIFOs, oversized members and archives
with too many members, naming the member and the reason. The archive's ``config.json`` drives
the inputs (``dai_type`` over the deprecated ``reverse_channels``/``interleaved_to_planar``, as
the reference reads it), the outputs and the heads, which are carried into the output archive.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from collections.abc import Callable
from typing import IO, Any

from edgeconv.errors import ConversionError
from edgeconv.records import atomic_file, replace_directory

ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar")
MODEL_NAME_IN_ARCHIVE = "model.onnx"  # the extracted model's fixed name, so rules can depend on it


def postprocessor_path(config: dict[str, Any]) -> str | None:
    """The post-processing model a head links (``metadata.postprocessor_path``), as the reference
    reads it: such an archive is a two-stage model."""
    for head in config["model"].get("heads") or []:
        path = (head.get("metadata") or {}).get("postprocessor_path")
        if path:
            return str(path)
    return None


class ArchiveError(ConversionError):
    """An NN Archive that cannot be used safely or at all."""


@dataclass(frozen=True)
class Limits:
    max_member_bytes: int = 8 * 2**30
    max_total_bytes: int = 16 * 2**30
    max_members: int = 10_000


def check_member_name(archive: Path, name: str) -> None:
    """A member's path must stay inside the archive: not absolute, no ``..``."""
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract this archive")
    if ".." in parts:
        raise ArchiveError(f"{archive}: member {name!r} points outside the archive ('..'); refusing to extract")


def write_members(out: Path, members: list[tuple[str, bool, Callable[[], IO[bytes]]]]) -> None:
    """Write checked members, each (name, is_dir, open), under ``out``."""
    for name, is_dir, open_member in members:
        target = out / PurePosixPath(name)
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as src, open(target, "wb") as f:
            shutil.copyfileobj(src, f)


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    check_member_name(archive, name)
    if member.issym() or member.islnk():
        raise ArchiveError(f"{archive}: member {name!r} is a link ({member.linkname!r}); NN Archives hold plain files")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise ArchiveError(f"{archive}: member {name!r} is a device or FIFO; NN Archives hold plain files")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"{archive}: member {name!r} is not a regular file or directory")


def _check_all(archive: Path, tar: tarfile.TarFile, limits: Limits) -> list[tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc}); an NN Archive is a .tar.xz") from None
    if len(members) > limits.max_members:
        raise ArchiveError(f"{archive}: {len(members)} members, more than the {limits.max_members} allowed")
    total = 0
    for member in members:
        _check_member(archive, member)
        if member.size > limits.max_member_bytes:
            raise ArchiveError(
                f"{archive}: member {member.name!r} is {member.size} bytes, over the {limits.max_member_bytes} allowed"
            )
        total += member.size
    if total > limits.max_total_bytes:
        raise ArchiveError(f"{archive}: {total} bytes in all, over the {limits.max_total_bytes} allowed")
    return members


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc}); an NN Archive is a .tar.xz") from None


def _config(archive: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> dict[str, Any]:
    names = {PurePosixPath(m.name).as_posix().lstrip("./"): m for m in members if m.isfile()}
    if "config.json" not in names:
        raise ArchiveError(f"{archive}: no config.json at the top level; is this an NN Archive?")
    raw = tar.extractfile(names["config.json"]).read()  # type: ignore[union-attr]
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"{archive}: config.json is not valid JSON ({exc})") from None
    from luxonis_ml.nn_archive import Config
    from pydantic import ValidationError

    try:
        Config.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ArchiveError(f"{archive}: config.json: {where}: {err['msg']}") from None
    path = config["model"]["metadata"]["path"]
    if path not in names:
        raise ArchiveError(f"{archive}: config.json names the model {path!r}, which the archive does not hold")
    if not path.endswith(".onnx"):
        raise ArchiveError(f"{archive}: the model {path!r} is not ONNX; this version converts ONNX archives")
    post = postprocessor_path(config)
    if post is not None:
        if post not in names:
            raise ArchiveError(f"{archive}: a head links the post-processor {post!r}, which the archive does not hold")
        if not post.endswith(".onnx"):
            raise ArchiveError(f"{archive}: the post-processor {post!r} is not ONNX; this version converts ONNX archives")
    return config


def read_config(archive: Path, limits: Limits = Limits()) -> dict[str, Any]:
    """Check every member and return the validated config.json, reading the archive once."""
    with _open(archive) as tar:
        return _config(archive, tar, _check_all(archive, tar, limits))


def safe_extract(archive: Path, dest: Path, limits: Limits = Limits()) -> dict[str, Any]:
    """Extract into ``dest`` (replaced atomically); the model is stored as ``model.onnx``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _open(archive) as tar:
        members = _check_all(archive, tar, limits)
        config = _config(archive, tar, members)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
        try:
            write_members(tmp, [(m.name, m.isdir(), lambda m=m: tar.extractfile(m)) for m in members])
            model = tmp / config["model"]["metadata"]["path"]
            model.rename(tmp / MODEL_NAME_IN_ARCHIVE)
            replace_directory(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return config


def extract_postprocessor(archive: Path, out: Path, limits: Limits = Limits()) -> str:
    """Extract the post-processing model a head links to ``out`` (every member checked and the
    config validated as ``safe_extract`` does, reading the archive once); returns its member name."""
    with _open(archive) as tar:
        members = _check_all(archive, tar, limits)
        member = postprocessor_path(_config(archive, tar, members))
        if member is None:
            raise ArchiveError(f"{archive}: no head links a post-processor")
        found = next(m for m in members if m.isfile() and PurePosixPath(m.name).as_posix().lstrip("./") == member)
        with atomic_file(out) as tmp, tar.extractfile(found) as src, open(tmp, "wb") as dst:  # type: ignore[union-attr]
            shutil.copyfileobj(src, dst)
    return member


def stage_name(path: str) -> str:
    """A stage name from a model file name (the reference names the stage after the file)."""
    stem = PurePosixPath(path).name.split(".")[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "postprocessor"


def model_config_from_archive(config: dict[str, Any], input_model: str, postprocessor: str | None = None) -> dict[str, Any]:
    """The config an archive implies; with a linked post-processor, a two-stage config whose main
    stage is named after the model and whose second stage is the post-processor."""
    main = _stage_config(config, input_model)
    if postprocessor is None:
        return main
    main_stage = stage_name(config["model"]["metadata"].get("name") or "model")
    post_stage = stage_name(postprocessor_path(config) or "postprocessor")
    if post_stage == main_stage:
        post_stage += "_post"
    return {
        "main_stage": main_stage,
        "stages": {
            main_stage: main,
            post_stage: {"input_model": postprocessor, "encoding": "NONE"},
        },
    }


def _stage_config(config: dict[str, Any], input_model: str) -> dict[str, Any]:
    """The ModelConverter-format config an archive implies (the reference's reading of it)."""
    model = config["model"]
    inputs = []
    for inp in model["inputs"]:
        pre = inp.get("preprocessing") or {}
        dai, reverse, i2p = pre.get("dai_type"), pre.get("reverse_channels"), pre.get("interleaved_to_planar")
        layout = inp.get("layout")
        encoding: Any = "NONE"
        if inp.get("input_type") == "image":
            if dai:
                encoding = {"from": "RGB", "to": "BGR"} if dai.startswith("RGB") else "GRAY" if dai.startswith("GRAY") else "BGR"
                if dai.endswith("i"):
                    layout = "NHWC"
                elif dai.endswith("p"):
                    layout = "NCHW"
            else:
                encoding = "BGR" if reverse is False else {"from": "RGB", "to": "BGR"}
                if i2p is not None:
                    layout = "NHWC" if i2p else "NCHW"
        entry: dict[str, Any] = {"name": inp["name"], "shape": inp["shape"], "data_type": inp["dtype"], "encoding": encoding}
        if layout:
            entry["layout"] = layout
        if pre.get("mean") is not None:
            entry["mean_values"] = pre["mean"]
        if pre.get("scale") is not None:
            entry["scale_values"] = pre["scale"]
        inputs.append(entry)
    return {
        "input_model": input_model,
        "inputs": inputs,
        "outputs": [{"name": o["name"]} for o in model["outputs"]],
    }
