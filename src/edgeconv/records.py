"""Step records and build info: what ran, with which tools, on which inputs."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

TOOL_PACKAGES = ("edgeconv", "onnx", "onnxsim", "onnxslim", "onnxruntime", "openvino", "nncf", "numpy", "pillow")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def path_sha256(path: Path) -> str:
    """A file's sha256; for a directory, the sha256 of its files' relative paths and sha256s
    (not Snakemake's own ``.snakemake_timestamp`` of a directory output)."""
    if not path.is_dir():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".snakemake")):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return versions


def public_mode(path: str | Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create 0600 files and 0700 directories; give results the usual
    permissions (0666, or 0777 for a directory, minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write to: it becomes ``path`` (usual permissions) when
    the block succeeds and is removed when it fails, so no partial output is ever left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        public_mode(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def replace_directory(tmp: Path, dest: Path) -> None:
    """Put a fully written temporary directory in the place of ``dest`` (usual permissions)."""
    if dest.exists():
        shutil.rmtree(dest)
    public_mode(tmp, directory=True)
    os.replace(tmp, dest)


def write_json_atomic(path: Path, data: Any) -> None:
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def _outputs_by_record(records: Path, cache: dict[Path, list[tuple[Path, dict[str, Any]]]]) -> list[tuple[Path, dict[str, Any]]]:
    """Each record in a records directory with the files it names as outputs, read once per walk."""
    if records not in cache:
        entries = []
        for record in sorted(records.glob("*.json")):
            try:
                entries.append((record, json.loads(record.read_text()).get("outputs", {})))
            except (OSError, ValueError):
                continue
        cache[records] = entries
    return cache[records]


def producer(path: str | Path, sha256: str | None = None, cache: dict | None = None) -> Path | None:
    """The record of the step that wrote ``path`` (with that content, when ``sha256`` is given):
    records live in the records directory of the unit the file belongs to (edgeconv.layout).
    ``cache`` keeps the records read during one walk, so a directory is read once."""
    from edgeconv.layout import records_dir_of

    records = records_dir_of(path)
    if records is None or not records.is_dir():
        return None
    wanted = os.path.normpath(path)
    for record, outputs in _outputs_by_record(records, {} if cache is None else cache):
        for out in outputs.values():
            if isinstance(out, dict) and os.path.normpath(out.get("path", "")) == wanted and (sha256 is None or out["sha256"] == sha256):
                return record
    return None


def parent_records(inputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """For a step's inputs (``{key: {path, sha256}}``): the record that made each built one."""
    cache: dict = {}
    parents = {}
    for key, spec in inputs.items():
        found = producer(spec["path"], spec["sha256"], cache)
        if found is not None:
            parents[key] = str(found)
    return parents


def provenance(artifacts: dict[Path, str]) -> list[dict[str, Any]]:
    """Every step record behind the artifacts (``{path: sha256}``), walking the parent links back
    from the records that wrote them; parents come before children, in the order of each step's inputs."""
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()
    cache: dict = {}

    def visit(record: str) -> None:
        if record in seen:
            return
        seen.add(record)
        data = json.loads(Path(record).read_text())
        for parent in data.get("parents", {}).values():
            visit(parent)
        ordered.append(data | {"record": record})

    for artifact, digest in artifacts.items():
        found = producer(artifact, digest, cache)
        if found is not None:
            visit(str(found))
    return ordered
