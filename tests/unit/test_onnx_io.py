import pytest

from edgeconv.errors import ModelFileError
from edgeconv.onnx_io import load_onnx, save_onnx
from models import conv_net


def test_not_onnx_truncated_and_empty_files_are_rejected_clearly(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n" * 10)
    with pytest.raises(ModelFileError, match=r"notes.onnx: "):
        load_onnx(text)
    good = tmp_path / "good.onnx"
    conv_net(good)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=r"truncated.onnx: not a readable ONNX model"):
        load_onnx(truncated)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="the file is empty"):
        load_onnx(empty)
    with pytest.raises(ModelFileError, match="model file not found"):
        load_onnx(tmp_path / "missing.onnx")


def test_save_is_atomic(tmp_path):
    out = tmp_path / "sub" / "m.onnx"
    save_onnx(conv_net(), out)
    assert load_onnx(out).graph.node
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from edgeconv.records import write_json_atomic

    umask = os.umask(0o022)
    try:
        save_onnx(conv_net(), tmp_path / "m.onnx")
        write_json_atomic(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(umask)
    for name in ("m.onnx", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
