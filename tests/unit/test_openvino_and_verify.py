"""The openvino target and verification on a tiny model, for real (OpenVINO, NNCF, onnxruntime)."""

import numpy as np
import onnx
import pytest

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.onnx_io import model_info
from edgeconv.steps.attach_normalization import attach_normalization
from edgeconv.steps.convert_ir import convert_ir
from edgeconv.steps.quantize_ir import quantize_ir
from edgeconv.steps.prepare_calibration import prepare_calibration
from edgeconv.steps.simplify import simplify
from edgeconv.metrics import metrics
from edgeconv.comparison import verify
from models import conv_net


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ov")
    original = tmp / "m.onnx"
    conv_net(original, dynamic_hw=True, size=32)
    cfg = validate_model_config(
        {"input_model": str(original), "shape": [1, 3, 32, 32], "mean_values": 127.5, "scale_values": 64,
         "calibration": {"max_images": 32}},
        "m",
        "m.yaml",
    )
    stage = resolve_stage(cfg.stages["m"], model_info(onnx.load(original), str(original)), "m.yaml")
    normalized = attach_normalization(onnx.load(original), stage)
    simplified, call = simplify(normalized, "onnxsim")
    assert call["tool"] == "onnxsim" and call["nodes_after"] <= call["nodes_before"]
    onnx_path = tmp / "simplified.onnx"
    onnx.save(simplified, onnx_path)
    calibration = prepare_calibration(stage)
    fp16 = tmp / "m.xml"
    int8 = tmp / "m.int8.xml"
    convert_ir(onnx_path, fp16, compress_to_fp16=True)
    quantize_ir(onnx_path, calibration, int8, {"preset": "performance", "subset_size": 300})
    return original, stage, calibration, onnx_path, fp16, int8


def test_ir_files_are_written_with_fp16_weights_and_int8_ops(built):
    _, _, _, _, fp16, int8 = built
    assert fp16.exists() and fp16.with_suffix(".bin").exists()
    assert 'element_type="f16"' in fp16.read_text()
    assert "FakeQuantize" in int8.read_text()
    assert not list(fp16.parent.glob(".m.*"))  # no temporary leftovers


def test_verify_reports_pass_for_each_artifact(built):
    original, stage, calibration, onnx_path, fp16, int8 = built
    for artifact, threshold in ((onnx_path, 0.9999), (fp16, 0.999), (int8, 0.95)):
        report = verify(original, artifact, stage, calibration, {"min_cosine": threshold}, 4)
        assert report["passed"], report
        assert report["images"] == 4 and set(report["outputs"]) == {"out"}
        assert report["outputs"]["out"]["cosine"] >= threshold


def test_verify_fails_below_threshold_and_on_a_wrong_artifact(built, tmp_path):
    original, stage, calibration, onnx_path, fp16, int8 = built
    report = verify(original, fp16, stage, calibration, {"max_abs_error": 0.0}, 2)
    assert not report["passed"] and "max_abs_error" in report["failures"][0]
    other = tmp_path / "other.onnx"
    onnx.save(attach_normalization(conv_net(seed=5, size=32), stage), other)
    report = verify(original, other, stage, calibration, {"min_cosine": 0.99}, 2)
    assert not report["passed"]


def test_metrics():
    a = np.array([1.0, 2.0, 3.0])
    assert metrics(a, a)["cosine"] == pytest.approx(1.0)
    m = metrics(a, -a)
    assert m["cosine"] == pytest.approx(-1.0) and m["max_abs_error"] == 6.0
    assert metrics(np.zeros(3), np.zeros(3))["cosine"] == 1.0


def test_simplify_methods():
    model = conv_net(constant_nodes=True)
    slim, call = simplify(model, "onnxslim")
    assert call["tool"] == "onnxslim"
    same, call = simplify(model, False)
    assert same is model and call["tool"] is None
    auto, call = simplify(model, "auto")
    assert call["tool"] == "onnxsim" and call["method"] == "auto" and call["skipped"] == []


def test_a_simplifier_that_crashes_or_hangs_costs_a_fallback_not_the_step(monkeypatch):
    """onnxsim is C++: on some graphs it dies of a signal or never returns. It runs in a child
    process, so the step names what happened, and `auto` goes on with onnxslim."""
    import os
    import signal
    import time

    import onnxsim

    from edgeconv.errors import ConversionError
    from edgeconv.steps import simplify as step

    model = conv_net(constant_nodes=True)
    monkeypatch.setattr(onnxsim, "simplify", lambda model, **kw: os.kill(os.getpid(), signal.SIGSEGV))
    slim, call = simplify(model, "auto")
    assert call["tool"] == "onnxslim" and call["nodes_after"] < call["nodes_before"]
    assert call["skipped"] == [{"tool": "onnxsim", "reason": "onnxsim crashed on this model: SIGSEGV (signal 11)"}]
    with pytest.raises(ConversionError, match=r"^onnxsim crashed on this model: SIGSEGV \(signal 11\); set `onnx_simplification: onnxslim`"):
        simplify(model, "onnxsim")

    monkeypatch.setattr(onnxsim, "simplify", lambda model, **kw: time.sleep(600))
    monkeypatch.setattr(step, "TIME_LIMIT_S", 2)
    started = time.monotonic()
    slim, call = simplify(model, "auto")
    assert time.monotonic() - started < 30
    assert call["tool"] == "onnxslim"
    assert call["skipped"] == [{"tool": "onnxsim", "reason": "onnxsim did not finish within 2 s and was stopped"}]


def test_auto_simplification_falls_back_and_says_why_while_a_named_method_stops(monkeypatch):
    import onnxsim
    import onnxslim

    from edgeconv.errors import ConversionError

    def onnxsim_raises(model, **kwargs):
        raise RuntimeError("[ShapeInferenceError] outer scope value 'cond_in' not found\nmore")

    monkeypatch.setattr(onnxsim, "simplify", onnxsim_raises)
    model = conv_net(constant_nodes=True)
    slim, call = simplify(model, "auto")
    assert call["tool"] == "onnxslim" and call["nodes_after"] < call["nodes_before"]
    assert call["skipped"] == [{"tool": "onnxsim", "reason": "onnxsim failed on this model "
                                "(RuntimeError: [ShapeInferenceError] outer scope value 'cond_in' not found)"}]
    with pytest.raises(ConversionError, match="onnxsim failed on this model .*set `onnx_simplification: onnxslim`"):
        simplify(model, "onnxsim")

    def onnxslim_raises(model, **kwargs):
        raise ValueError("unsupported")

    monkeypatch.setattr(onnxslim, "slim", onnxslim_raises)
    before = model.SerializeToString()
    same, call = simplify(model, "auto")
    assert same is model and same.SerializeToString() == before and call["tool"] is None
    assert [s["tool"] for s in call["skipped"]] == ["onnxsim", "onnxslim"]


def test_verify_an_original_over_2gb_from_one_temporary_file(built, monkeypatch):
    """An original over the protobuf limit (the limit lowered here) is written once for
    onnxruntime, with its weights beside it, and gives the same report."""
    import edgeconv.onnx_io as onnx_io

    original, stage, calibration, onnx_path, fp16, _ = built
    expected = verify(original, fp16, stage, calibration, {"min_cosine": 0.999}, 2)
    monkeypatch.setattr(onnx_io, "TWO_GB", 1000)
    saved = []
    real_save = onnx_io.save_onnx
    monkeypatch.setattr("edgeconv.runtime.save_onnx", lambda m, p: (saved.append(p), real_save(m, p)))
    report = verify(original, fp16, stage, calibration, {"min_cosine": 0.999}, 2)
    assert len(saved) == 1 and not saved[0].parent.exists()  # written once, removed after
    assert report["outputs"] == expected["outputs"]


def test_ir_bytes_do_not_depend_on_what_the_process_built_before(tmp_path):
    """OpenVINO names unnamed nodes from a process-wide counter; the saved IR must not change with it."""
    import openvino as ov
    import openvino.opset13 as ops

    from edgeconv.targets.openvino import save_ir as _save_ir

    def build():
        x = ops.parameter([1, 4], np.float32, name="x")
        y = ops.relu(ops.add(x, ops.constant(np.arange(4, dtype=np.float32).reshape(1, 4))))
        y.output(0).set_names({"y"})  # converted models name their outputs (the ONNX names)
        return ov.Model([y], [x], "m")

    _save_ir(build(), tmp_path / "a.xml", True)
    for _ in range(7):  # advance the counter, as an earlier conversion in the same process would
        ops.constant(np.zeros(1, np.float32))
    _save_ir(build(), tmp_path / "b.xml", True)
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    assert 'name="x"' in (tmp_path / "a.xml").read_text()  # a name the model chose is kept


def test_a_scalar_input_is_fed_as_a_0_d_array_to_the_original_and_the_ir(tmp_path):
    """Silero VAD's sample rate is an int64 scalar: its samples were fed as NumPy scalars, which
    onnxruntime refuses ("Unable to handle object of type <class 'numpy.int64'>")."""
    from edgeconv.arrays import sample
    from test_config import _vad_like

    original = tmp_path / "vad.onnx"
    onnx.save(_vad_like(), original)
    cfg = validate_model_config({"input_model": str(original), "inputs": [{"name": "audio", "shape": [1, 8]}],
                                 "calibration": {"max_images": 4}}, "vad", "vad.yaml")
    stage = resolve_stage(cfg.stages["vad"], model_info(onnx.load(original), str(original)), "vad.yaml")
    calibration = prepare_calibration(stage)
    assert calibration["sr"].shape == (4,)
    assert sample(calibration, 0)["sr"].shape == () and isinstance(sample(calibration, 0)["sr"], np.ndarray)
    normalized = tmp_path / "normalized.onnx"  # the shapes fixed, as the chain does
    onnx.save(attach_normalization(onnx.load(original), stage), normalized)
    ir = tmp_path / "vad.xml"
    convert_ir(normalized, ir, compress_to_fp16=False)
    report = verify(original, ir, stage, calibration, {"min_cosine": 0.9999}, 4)
    assert report["passed"] and report["images"] == 4
