"""The paths a model over 2 GB takes, exercised on a small model by lowering the 2 GB limit
(the real thing, 2.4 GB of weights through the whole chain, is bench/large_onnx.py)."""

import numpy as np
import onnx
import pytest

import edgeconv.onnx_io as onnx_io
from edgeconv.runtime import run_onnx
from edgeconv.steps.simplify import simplify
from models import conv_net


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(onnx_io, "TWO_GB", 1000)  # conv_net's weights are ~1.3 kB


def test_a_model_over_the_limit_is_checked_without_serializing_its_weights(small_limit):
    model = conv_net()
    assert not onnx_io.fits_in_protobuf(model)
    onnx_io.check_model(model)
    broken = conv_net()
    broken.graph.node[0].input[0] = "nowhere"
    with pytest.raises(onnx.checker.ValidationError, match="nowhere"):
        onnx_io.check_model(broken)


def test_a_model_over_the_limit_is_saved_with_external_data_and_runs(small_limit, tmp_path):
    model = conv_net(channels=8)  # a 2.3 kB weight: over onnx's 1 kB threshold for external data
    onnx_io.save_onnx(model, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx_data").stat().st_size > 2000
    x = np.random.default_rng(0).random((1, 8, 16, 16), dtype=np.float32)
    from_memory = run_onnx(model, {"x": x})  # through a temporary file, as onnxruntime needs
    from_file = run_onnx(tmp_path / "m.onnx", {"x": x})
    np.testing.assert_array_equal(from_memory["out"], from_file["out"])


def test_onnxsim_skips_its_in_memory_check_over_the_limit(small_limit):
    _, call = simplify(conv_net(), "onnxsim")
    assert call["call"] == "onnxsim.simplify(model, check_n=0)"


def test_a_smaller_rebuild_removes_the_weights_file_of_the_bigger_one(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_io, "TWO_GB", 1000)
    onnx_io.save_onnx(conv_net(channels=8), tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx_data").exists()
    monkeypatch.setattr(onnx_io, "TWO_GB", 2**31 - 1)
    onnx_io.save_onnx(conv_net(channels=8), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx_data").exists()
    onnx.checker.check_model(str(tmp_path / "m.onnx"))
