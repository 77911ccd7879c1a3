"""NN Archive input: crafted malicious archives are refused with a clear error; good ones extract."""

import io
import json
import tarfile

import pytest

from edgeconv.archive_input import ArchiveError, Limits, model_config_from_archive, read_config, safe_extract
from models import conv_net


def _config(path="net.onnx", dai="RGB888p", heads=None):
    return {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": "net", "path": path, "precision": "float32"},
            "inputs": [{"name": "x", "dtype": "float32", "input_type": "image", "shape": [1, 3, 16, 16], "layout": "NCHW",
                        "preprocessing": {"mean": [123.7, 116.3, 103.5], "scale": [58.4, 57.1, 57.4], "dai_type": dai}}],
            "outputs": [{"name": "out", "dtype": "float32"}],
            "heads": heads or [],
        },
    }


def _add(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _archive(tmp_path, extra=(), config=None, model=True):
    path = tmp_path / "net.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        if config is not False:
            _add(tar, "config.json", json.dumps(config or _config()).encode())
        if model:
            _add(tar, "net.onnx", conv_net().SerializeToString())
        for args in extra:
            _add(tar, *args)
    return path


@pytest.mark.parametrize(
    "member, message",
    [
        (("/etc/evil", b"x"), "has an absolute path"),
        (("../evil", b"x"), "points outside the archive"),
        (("sub/../../evil", b"x"), "points outside the archive"),
        (("link", b"", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (("hard", b"", tarfile.LNKTYPE, "net.onnx"), "is a link"),
        (("dev", b"", tarfile.CHRTYPE), "is a device or FIFO"),
        (("fifo", b"", tarfile.FIFOTYPE), "is a device or FIFO"),
    ],
)
def test_malicious_members_are_refused(tmp_path, member, message):
    archive = _archive(tmp_path, extra=[member])
    with pytest.raises(ArchiveError, match=message) as err:
        safe_extract(archive, tmp_path / "out")
    assert str(err.value).startswith(str(archive))
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_size_and_count_limits(tmp_path):
    archive = _archive(tmp_path, extra=[("big.bin", b"x" * 100_000)])
    with pytest.raises(ArchiveError, match="big.bin' is 100000 bytes, over the 50000 allowed"):
        safe_extract(archive, tmp_path / "out", Limits(max_member_bytes=50_000, max_total_bytes=10**9))
    with pytest.raises(ArchiveError, match="bytes in all, over the 60000 allowed"):
        safe_extract(archive, tmp_path / "out", Limits(max_total_bytes=60_000))
    with pytest.raises(ArchiveError, match="more than the 2 allowed"):
        safe_extract(archive, tmp_path / "out", Limits(max_members=2))


def test_broken_archives(tmp_path):
    not_tar = tmp_path / "x.tar.xz"
    not_tar.write_bytes(b"not an archive")
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        read_config(not_tar)
    with pytest.raises(ArchiveError, match="no config.json"):
        read_config(_archive(tmp_path, config=False))
    with pytest.raises(ArchiveError, match="names the model 'other.onnx', which the archive does not hold"):
        read_config(_archive(tmp_path, config=_config(path="other.onnx")))
    bad = _config()
    del bad["model"]["inputs"][0]["shape"]
    with pytest.raises(ArchiveError, match="config.json: model.inputs.0.shape"):
        read_config(_archive(tmp_path, config=bad))


def test_good_archive_extracts_and_maps_like_the_reference(tmp_path):
    config = safe_extract(_archive(tmp_path), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "model.onnx"]
    raw = model_config_from_archive(config, "m.onnx")
    assert raw["inputs"][0]["encoding"] == {"from": "RGB", "to": "BGR"} and raw["inputs"][0]["layout"] == "NCHW"
    assert raw["inputs"][0]["mean_values"] == [123.7, 116.3, 103.5] and raw["outputs"] == [{"name": "out"}]
    bgr = model_config_from_archive(_config(dai="BGR888i"), "m.onnx")["inputs"][0]
    assert bgr["encoding"] == "BGR" and bgr["layout"] == "NHWC"
    legacy = _config(dai=None)
    legacy["model"]["inputs"][0]["preprocessing"].update(reverse_channels=False, interleaved_to_planar=True)
    old = model_config_from_archive(legacy, "m.onnx")["inputs"][0]
    assert old["encoding"] == "BGR" and old["layout"] == "NHWC"
