"""The paths a model over 2 GB takes, exercised on a small model by lowering the 2 GB limit
(the real thing, 2.4 GB of weights through the whole chain, is bench/large_onnx.py)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import edgeconv.onnx_io as onnx_io
from edgeconv.errors import ModelFileError
from edgeconv.onnx_graph import Graph
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


@pytest.fixture
def on_disk_limits(monkeypatch):
    """A model over "2 GB" whose "big" tensors (over 1 kB here) stay on disk when loaded."""
    monkeypatch.setattr(onnx_io, "TWO_GB", 1000)
    monkeypatch.setattr(onnx_io, "ON_DISK_BYTES", 1024)


def _scaled_conv_net(path):
    """conv_net(channels=8) behind a per-channel Mul, which optimize_onnx folds into the first Conv's weight."""
    model = conv_net(channels=8)
    scale = numpy_helper.from_array(np.linspace(0.5, 2.0, 8, dtype=np.float32).reshape(1, 8, 1, 1), "s")
    model.graph.initializer.append(scale)
    for node in model.graph.node:
        node.input[:] = ["xs" if i == "x" else i for i in node.input]
    model.graph.node.insert(0, helper.make_node("Mul", ["x", "s"], ["xs"]))
    onnx_io.save_onnx(model, path)
    return model


def test_weights_of_a_big_model_stay_on_disk_and_are_copied_file_to_file(on_disk_limits, tmp_path):
    original = conv_net(channels=8)
    onnx_io.save_onnx(original, tmp_path / "m.onnx")
    model = onnx_io.load_onnx(tmp_path / "m.onnx")
    w1 = next(t for t in model.graph.initializer if t.name == "w1")
    assert onnx_io.on_disk(w1) and not w1.raw_data
    expected = numpy_helper.to_array(next(t for t in original.graph.initializer if t.name == "w1"))
    np.testing.assert_array_equal(Graph(model).const("w1"), expected)
    onnx_io.save_onnx(model, tmp_path / "out" / "n.onnx")
    assert onnx_io.on_disk(w1) and Path(onnx_io._span(w1)[0]) == (tmp_path / "m.onnx_data").resolve()  # unchanged
    saved = onnx.load(str(tmp_path / "out" / "n.onnx"), load_external_data=False)
    span = onnx_io._span(next(t for t in saved.graph.initializer if t.name == "w1"))
    assert span[0] == "n.onnx_data" and span[1] % onnx_io.ALIGN == 0
    x = np.random.default_rng(0).random((1, 8, 16, 16), dtype=np.float32)
    np.testing.assert_array_equal(run_onnx(tmp_path / "out" / "n.onnx", {"x": x})["out"], run_onnx(original, {"x": x})["out"])


def test_optimize_folds_into_a_weight_that_is_on_disk(on_disk_limits, tmp_path):
    from edgeconv.steps.optimize_onnx import optimize

    original = _scaled_conv_net(tmp_path / "m.onnx")
    model = onnx_io.load_onnx(tmp_path / "m.onnx")
    result, report = optimize(model, {}, set(), source=tmp_path / "m.onnx")
    assert [r["count"] for r in report if r["status"] == "applied"] == [1]
    assert "Mul" not in [n.op_type for n in result.graph.node]
    w1 = next(t for t in result.graph.initializer if t.name == "w1")
    assert not onnx_io.on_disk(w1)  # the folded weight is new, in memory
    onnx_io.save_onnx(result, tmp_path / "o.onnx")
    x = np.random.default_rng(1).random((1, 8, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "o.onnx", {"x": x})["out"], run_onnx(original, {"x": x})["out"],
                               rtol=1e-5, atol=1e-5)


def test_simplify_of_a_big_model_goes_file_to_file(on_disk_limits, tmp_path):
    from edgeconv.steps.simplify import simplify

    onnx_io.save_onnx(conv_net(channels=8), tmp_path / "m.onnx")
    (tmp_path / "work").mkdir()
    simplified, call = simplify(onnx_io.load_onnx(tmp_path / "m.onnx"), "auto", tmp_path / "m.onnx", tmp_path / "work")
    assert call["tool"] == "onnxsim" and call["call"] == "onnxsim.simplify(path, output_path=..., check_n=0)"
    onnx_io.save_onnx(simplified, tmp_path / "s.onnx")
    assert (tmp_path / "s.onnx_data").exists()
    x = np.random.default_rng(2).random((1, 8, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "s.onnx", {"x": x})["out"], run_onnx(tmp_path / "m.onnx", {"x": x})["out"],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("location, message", [
    ("../elsewhere.bin", "outside the model's directory"),
    ("missing.bin", "which is not beside the model"),
])
def test_external_data_that_is_not_beside_the_model_is_refused(tmp_path, location, message):
    model = conv_net(channels=8)
    w1 = next(t for t in model.graph.initializer if t.name == "w1")
    onnx_io._set_location(w1, location, 0, len(w1.raw_data))
    w1.ClearField("raw_data")
    onnx.save_model(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ModelFileError, match=rf"m.onnx: tensor 'w1' .*{message}"):
        onnx_io.load_onnx(tmp_path / "m.onnx")


def test_truncated_external_data_is_refused(on_disk_limits, tmp_path):
    onnx_io.save_onnx(conv_net(channels=8), tmp_path / "m.onnx")
    data = tmp_path / "m.onnx_data"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ModelFileError, match=r"m.onnx: tensor '\w+' reaches past the end of m.onnx_data"):
        onnx_io.load_onnx(tmp_path / "m.onnx")


def test_an_ir_over_2gb_is_read_without_convert_models_copies(tmp_path, monkeypatch):
    """Over the limit, convert_ir reads the ONNX with read_model (no transposed weight copies) and
    says so; the IR computes what the ONNX computes."""
    from edgeconv.runtime import run_ir
    from edgeconv.steps.convert_ir import convert_ir
    from edgeconv.targets import openvino

    path = tmp_path / "m.onnx"
    conv_net(path)
    small = convert_ir(path, tmp_path / "small.xml", False)
    assert "convert_model" in small["call"] and "reader" not in small
    monkeypatch.setattr(openvino, "LEAN_READ_BYTES", 1000)
    assert openvino.onnx_reader(path) == "read_model"
    big = convert_ir(path, tmp_path / "big.xml", False)
    assert "read_model" in big["call"] and big["reader"].startswith("read_model: the model's files exceed 2 GB")
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    want = run_onnx(onnx.load(path), {"x": x})["out"]
    np.testing.assert_allclose(run_ir(tmp_path / "big.xml", {"x": x})["out"], want, rtol=1e-4, atol=1e-5)
