"""An archive of calibration images (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``,
``.tar.bz2``), extracted as safely as an NN Archive: no absolute paths, no ``..``, no links or
devices, bounded sizes; every refusal names the archive and the member. The directory that holds
the images is found as the reference finds it: from the top, go down while a level holds no files
and exactly one directory (``__MACOSX``, ``Thumbs.db``, ``desktop.ini`` and dotfiles ignored)."""

from __future__ import annotations

import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from edgeconv.archive_input import ArchiveError, Limits, check_member_name, write_members
from edgeconv.records import replace_directory

IGNORED = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def _check_limits(archive: Path, sizes: list[tuple[str, int]], limits: Limits) -> None:
    """The number of members, each member's size and the total, from (name, size) of each."""
    if len(sizes) > limits.max_members:
        raise ArchiveError(f"{archive}: {len(sizes)} members, more than the {limits.max_members} allowed")
    for name, size in sizes:
        if size > limits.max_member_bytes:
            raise ArchiveError(f"{archive}: member {name!r} is {size} bytes, over the {limits.max_member_bytes} allowed")
    total = sum(size for _, size in sizes)
    if total > limits.max_total_bytes:
        raise ArchiveError(f"{archive}: {total} bytes in all, over the {limits.max_total_bytes} allowed")


def _members(archive: Path, limits: Limits) -> list[tuple[str, int, bool]]:
    """(name, size, is_dir) of every member, checked; raises ArchiveError naming the archive."""
    members: list[tuple[str, int, bool]] = []
    if archive.name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{archive}: not a readable zip archive ({exc}); upload it again") from None
        if bad is not None:
            raise ArchiveError(f"{archive}: member {bad!r} is corrupt (CRC check failed); upload the archive again")
        for info in infos:
            check_member_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"{archive}: member {info.filename!r} is a link; calibration archives hold plain files")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # no type bits: a file
                raise ArchiveError(f"{archive}: member {info.filename!r} is not a regular file or directory")
            members.append((info.filename, info.file_size, info.is_dir()))
    else:
        try:
            with tarfile.open(archive, "r:*") as tar:
                infos_t = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveError(f"{archive}: not a readable tar archive ({exc}); upload it again") from None
        for t in infos_t:
            check_member_name(archive, t.name)
            if t.issym() or t.islnk():
                raise ArchiveError(f"{archive}: member {t.name!r} is a link ({t.linkname!r}); calibration archives hold plain files")
            if not (t.isfile() or t.isdir()):
                raise ArchiveError(f"{archive}: member {t.name!r} is a device, FIFO or other special file; refusing to extract")
            members.append((t.name, t.size, t.isdir()))
    _check_limits(archive, [(name, size) for name, size, _ in members], limits)
    return members


def content_root(path: Path) -> Path:
    current = path
    while True:
        entries = [p for p in current.iterdir() if p.name not in IGNORED and not p.name.startswith(".")]
        dirs = [p for p in entries if p.is_dir()]
        if any(p.is_file() for p in entries) or len(dirs) != 1:
            return current
        current = dirs[0]


def extract_images(archive: Path, dest: Path, limits: Limits = Limits()) -> dict[str, object]:
    """Extract ``archive``; ``dest`` becomes the directory that holds its images (atomically)."""
    members = _members(archive, limits)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        out = tmp / "x"
        out.mkdir()
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                write_members(out, [(name, is_dir, lambda name=name: z.open(name)) for name, _, is_dir in members])
        else:
            with tarfile.open(archive, "r:*") as tar:
                write_members(out, [(t.name, t.isdir(), lambda t=t: tar.extractfile(t)) for t in tar.getmembers()])
        root = content_root(out)
        files = sorted(str(p.relative_to(root)) for p in root.iterdir() if p.is_file())
        replace_directory(root, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"members": len(members), "content_root": str(root.relative_to(out)) if root != out else ".", "files": len(files)}
