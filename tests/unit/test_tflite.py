"""TFLite input: reading the flatbuffer, tflite2onnx with the interface kept, the LiteRT check."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeconv.config.resolve import resolve_stage
from edgeconv.config.schema import StageConfig
from edgeconv.errors import ConversionError, ModelFileError, VerificationError
from edgeconv.onnx_io import read_model_info
from edgeconv.steps.tflite_to_onnx import check_against_litert, convert, keep_interface
from edgeconv.targets.rvc2 import mo_plan
from edgeconv.tflite_io import Interpreter
from models import tflite_fp16_prelu_net, tflite_net


@pytest.fixture(scope="module")
def tnet(tmp_path_factory):
    return tflite_net(tmp_path_factory.mktemp("tflite") / "tnet.tflite", size=12)


def test_model_info_reads_inputs_outputs_and_tensors(tnet):
    info = read_model_info(tnet)
    assert [(t.name, t.shape, t.data_type) for t in info.inputs] == [("input", [1, 12, 12, 3], "float32")]
    assert [(t.name, t.shape) for t in info.outputs] == [("features", [1, 12, 12, 4]), ("pooled", [1, 4])]
    assert {"hidden", "w1"} <= info.tensor_names


@pytest.mark.parametrize(
    "mangle, message",
    [(lambda b: b[:64], "not a readable TFLite model"), (lambda b: b"\0" * 4 + b"ONNX" + b[8:], "no TFL3 flatbuffer identifier"),
     (lambda b: b"", "not a TFLite model")],
)
def test_a_damaged_file_is_refused_with_its_name(tnet, tmp_path, mangle, message):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(mangle(tnet.read_bytes()))
    with pytest.raises(ModelFileError, match=message) as err:
        read_model_info(bad)
    assert str(err.value).startswith(f"{bad}: ")


def test_conversion_keeps_the_interface_and_matches_litert(tnet, tmp_path):
    out = tmp_path / "tnet.onnx"
    record = convert(tnet, out)
    info = read_model_info(out)
    assert [(t.name, t.shape) for t in info.inputs] == [("input", [1, 12, 12, 3])]
    assert [(t.name, t.shape) for t in info.outputs] == [("features", [1, 12, 12, 4]), ("pooled", [1, 4])]
    assert all(m["cosine"] > 0.99999 for m in record["check"]["outputs"].values())
    # Independently of the step's own check: one more input through both runtimes.
    import onnxruntime as ort

    x = np.random.default_rng(9).random((1, 12, 12, 3), dtype=np.float32)
    expected = Interpreter(tnet).run({"input": x})
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], expected["features"], atol=1e-5)
    np.testing.assert_allclose(got[1], expected["pooled"], atol=1e-5)


def test_the_litert_check_fails_a_wrong_conversion(tnet, tmp_path):
    convert(tnet, tmp_path / "ok.onnx")
    model = onnx.load(str(tmp_path / "ok.onnx"))
    init = max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    arr = numpy_helper.to_array(init).copy()
    arr *= -1.0
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    with pytest.raises(VerificationError, match=r"differs from the TFLite model on output 'features'"):
        check_against_litert(tnet, model, samples=2, min_cosine=0.9999)


def test_an_unexpected_interface_change_is_an_error(tnet, tmp_path):
    convert(tnet, tmp_path / "ok.onnx")
    model = onnx.load(str(tmp_path / "ok.onnx"))
    info = read_model_info(tnet)
    info.inputs[0].shape = [1, 6, 24, 3]  # not what tflite2onnx made of it
    with pytest.raises(ConversionError, match="changed input 'input'"):
        keep_interface(model, info)


def test_mo_does_not_normalize_a_channels_last_input(tnet):
    """mo assumes channels first; an NHWC colour input is normalized and reversed in the graph."""
    stage = resolve_stage(StageConfig.model_validate({"input_model": str(tnet), "mean_values": [127.5] * 3}),
                          read_model_info(tnet), "tnet.yaml")
    plan = mo_plan(stage)
    assert plan.onnx["input"].reverse and plan.onnx["input"].normalize
    assert plan.inputs[0].mean is None and not plan.reverse_input_channels


def test_float16_weights_with_prelu_convert_and_match_litert(tmp_path):
    """MediaPipe's models (palm, face and hand landmarks) keep their weights in float16 behind a
    DEQUANTIZE and use PRELU: tflite2onnx 0.4.1 alone fails on them ("list index out of range")."""
    net = tflite_fp16_prelu_net(tmp_path / "fp16.tflite")
    out = tmp_path / "fp16.onnx"
    record = convert(net, out)
    assert record["check"]["outputs"]["features"]["cosine"] > 0.99999
    import onnxruntime as ort

    x = np.random.default_rng(3).random((1, 12, 12, 3), dtype=np.float32) * 2 - 1
    expected = Interpreter(net).run({"input": x})["features"]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert (expected < 0).any()  # the negative slope is exercised
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert {n.op_type for n in onnx.load(str(out)).graph.node} >= {"Conv", "PRelu"}


def test_an_op_tflite2onnx_lacks_is_named_with_what_to_do(tmp_path):
    import tflite

    from models import _write_tflite

    F32 = tflite.TensorType.FLOAT32
    net = _write_tflite(tmp_path / "hs.tflite", [("input", [1, 4, 4, 3], F32, None), ("out", [1, 4, 4, 3], F32, None)],
                        [("HARD_SWISH", ["input"], ["out"], None)], ["input"], ["out"])
    with pytest.raises(ConversionError) as err:
        convert(net, tmp_path / "hs.onnx")
    message = str(err.value)
    assert message.startswith(f"{net}: tflite2onnx ") and "HARD_SWISH" in message
    assert message.endswith("export the model to ONNX instead (tf2onnx, or from its training framework); "
                            "rvc4 and hailo read the TFLite model as it is")
    assert not (tmp_path / "hs.onnx").exists()


def test_pads_shared_by_two_pad_ops_convert(tmp_path):
    """TFLite stores equal constants once: two PAD ops read one paddings tensor (MediaPipe's full
    pose landmarks). tflite2onnx 0.4.1 rewrote it in place for the first and failed on the second
    ("too many indices for array")."""
    import onnxruntime as ort
    import tflite

    from models import _write_tflite

    F32, I32 = tflite.TensorType.FLOAT32, tflite.TensorType.INT32
    pads = np.array([[0, 0], [1, 2], [2, 1], [0, 0]], dtype=np.int32)
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((3, 1, 1, 3)).astype(np.float32), np.zeros(3, np.float32)
    conv = ("conv", tflite.ActivationFunctionType.NONE, tflite.Padding.VALID)
    net = _write_tflite(tmp_path / "pads.tflite",  # the conv makes the tensors after it channels-first in ONNX
                        [("input", [1, 4, 4, 3], F32, None), ("w", [3, 1, 1, 3], F32, w), ("b", [3], F32, b),
                         ("mixed", [1, 4, 4, 3], F32, None), ("pads", [4, 2], I32, pads),
                         ("once", [1, 7, 7, 3], F32, None), ("twice", [1, 10, 10, 3], F32, None)],
                        [("CONV_2D", ["input", "w", "b"], ["mixed"], conv),
                         ("PAD", ["mixed", "pads"], ["once"], None), ("PAD", ["once", "pads"], ["twice"], None)],
                        ["input"], ["twice"])
    out = tmp_path / "pads.onnx"
    convert(net, out)
    x = rng.random((1, 4, 4, 3), dtype=np.float32) + 1
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    mixed = np.einsum("nhwc,oc->nhwo", x, w[:, 0, 0, :])
    np.testing.assert_allclose(got, np.pad(np.pad(mixed, pads), pads), atol=1e-5)


def test_an_output_all_but_zero_agrees_by_its_error_not_its_cosine():
    """A saturated score (LiteRT 1e-9, onnxruntime 0) has cosine 0; it agrees within float32's
    precision. A real difference on such an output, or a wrong direction elsewhere, does not."""
    from edgeconv.steps.tflite_to_onnx import agrees

    assert agrees({"cosine": 0.0, "max_abs_error": 1.1e-9}, 1.1e-9, 0.9999)
    assert not agrees({"cosine": 0.0, "max_abs_error": 0.2}, 1e-9, 0.9999)
    assert agrees({"cosine": 0.99999, "max_abs_error": 3.0}, 1500.0, 0.9999)
    assert not agrees({"cosine": 0.95, "max_abs_error": 3.0}, 1500.0, 0.9999)
