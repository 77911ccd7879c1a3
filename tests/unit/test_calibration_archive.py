"""Archives of calibration images: extracted safely, to the folder that holds the images."""

import io
import stat
import tarfile
import zipfile

import pytest

from edgeconv.archive_input import ArchiveError, Limits
from edgeconv.calibration_archive import extract_images


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_the_single_folder_of_images_becomes_the_directory(tmp_path):
    archive = _zip(tmp_path / "c.zip", {"set/inner/a.png": b"1", "set/inner/b.png": b"2", "__MACOSX/set/._a.png": b"x",
                                        "set/.DS_Store": b"x"})
    info = extract_images(archive, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert info["content_root"] == "set/inner" and info["files"] == 2


def test_a_tar_with_images_at_the_top(tmp_path):
    archive = tmp_path / "c.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("a.png", "b.png"):
            data = tarfile.TarInfo(name)
            data.size = 1
            tar.addfile(data, io.BytesIO(b"1"))
    extract_images(archive, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


@pytest.mark.parametrize("name, reason", [
    ("/etc/passwd", "has an absolute path"),
    ("../escape.png", "points outside the archive"),
])
def test_unsafe_paths_are_refused_naming_the_member(tmp_path, name, reason):
    archive = _zip(tmp_path / "c.zip", {name: b"1"})
    with pytest.raises(ArchiveError, match=rf"c.zip: member '{name}' {reason}"):
        extract_images(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_links_and_devices_are_refused(tmp_path):
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="member 'link.png' is a link"):
        extract_images(archive, tmp_path / "out")
    tar_path = tmp_path / "c.tar"
    with tarfile.open(tar_path, "w") as tar:
        fifo = tarfile.TarInfo("pipe")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    with pytest.raises(ArchiveError, match="member 'pipe' is a device, FIFO or other special file"):
        extract_images(tar_path, tmp_path / "out")


def test_corrupt_and_oversized_archives_are_named(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ArchiveError, match=r"bad.zip: not a readable zip archive"):
        extract_images(bad, tmp_path / "out")
    big = _zip(tmp_path / "big.zip", {"a.png": b"x" * 100})
    with pytest.raises(ArchiveError, match=r"big.zip: member 'a.png' is 100 bytes, over the 10 allowed"):
        extract_images(big, tmp_path / "out", Limits(max_member_bytes=10))
