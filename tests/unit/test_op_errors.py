"""Errors that name the op: a model OpenVINO cannot convert stops with the op type and its node in
the first line; mo's and MYRIAD's error formats are read the same way."""

from pathlib import Path

import onnx
import onnx.helper as h
import pytest

from edgeconv.errors import ConversionError
from edgeconv.op_errors import describe, named_ops


def _custom_op_model(path: Path) -> Path:
    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    nodes = [h.make_node("Relu", ["x"], ["a"], name="relu0"),
             h.make_node("FancyOp", ["a"], ["y"], name="head/fancy", domain="com.example")]
    model = h.make_model(h.make_graph(nodes, "g", [x], [y]),
                         opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.example", 1)])
    onnx.save(model, path)
    return path


def test_openvino_names_the_op_it_cannot_convert_in_the_first_line(tmp_path):
    from edgeconv.targets.openvino import read_onnx

    model = _custom_op_model(tmp_path / "m.onnx")
    for reader in ("convert_model", "read_model"):
        with pytest.raises(ConversionError) as err:
            read_onnx(model, reader)
        first = str(err.value).splitlines()[0]
        assert first.startswith("OpenVINO cannot convert op type com.example.FancyOp (node head/fancy)"), first
        assert str(model) in first and "onnx_modifications" in first
        assert "unconverted_ops_report" in str(err.value)  # the tool's own words follow


def test_mo_and_myriad_formats_name_node_and_op():
    mo = ('[ ERROR ]  There is no registered "infer" function for node "cumsum_3" with op = "CumSum". '
          "Please implement this function in the extensions.")
    assert named_ops(mo) == ([], [("cumsum_3", "CumSum")])
    assert describe(mo) == "op type CumSum (node cumsum_3)"
    shapes = '[ ERROR ]  Cannot infer shapes or values for node "nz".'
    assert describe(shapes) == "node nz"
    myriad = '[ GENERAL_ERROR ] Failed to compile layer "nms_1": unsupported layer type "NonMaxSuppression"'
    assert describe(myriad) == "op type NonMaxSuppression (node nms_1)"
    assert describe("[ ERROR ] out of memory") is None  # nothing named: the caller keeps the tool's words


def test_a_tool_that_cannot_convert_an_op_says_which_first(tmp_path, monkeypatch):
    from edgeconv import tools

    script = tmp_path / "fake_mo"
    script.write_text('#!/bin/sh\necho \'[ ERROR ]  There is no registered "infer" function for node "c" with '
                      'op = "CumSum".\'\nexit 1\n')
    script.chmod(0o755)
    with pytest.raises(ConversionError) as err:
        tools.run_tool([str(script)], "mo")
    assert str(err.value).startswith("mo cannot convert op type CumSum (node c): replace or remove it")


def test_snpe_s_untranslatable_op_is_named_first(tmp_path, monkeypatch):
    """The SNPE double refuses an op it has no translation for in SNPE's own words; the error's first
    line names the op and its node (the real format, from a public SNPE 1.59 log, is checked too)."""
    import os
    import sys

    from edgeconv import tools

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # the double's python3
    real = ("2022-03-14 22:26:52,823 - 209 - ERROR - Node HardSigmoid_0: 'No translation registered for op type "
            "onnx_hardsigmoid. Op is most likely not supported by the converter.'")
    assert describe(real) == "op type hardsigmoid (node HardSigmoid_0)"
    double = Path(__file__).resolve().parents[1] / "doubles" / "snpe-onnx-to-dlc"
    model = _custom_op_model(tmp_path / "m.onnx")
    with pytest.raises(ConversionError) as err:
        tools.run_tool([str(double), "-i", str(model), "-o", str(tmp_path / "m.dlc")], "snpe-onnx-to-dlc",
                       reads=[model], writes=[tmp_path])
    assert str(err.value).startswith("snpe-onnx-to-dlc cannot convert op type fancyop (node head/fancy): replace")


def test_onnxruntime_qnn_names_an_op_onnxruntime_does_not_know(tmp_path):
    """Mish at opset 17 is no op onnxruntime has: compiling for the HTP stops with it named first."""
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    from edgeconv.targets.qnn_htp import compile_htp

    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    model = h.make_model(h.make_graph([h.make_node("Mish", ["x"], ["y"], name="the_mish")], "g", [x], [y]),
                         opset_imports=[h.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(ConversionError) as err:
        compile_htp(tmp_path / "m.onnx", tmp_path / "m.ctx.onnx", "sm8550", False)
    first = str(err.value).splitlines()[0]
    assert first.startswith("onnxruntime-qnn (sm8550) cannot convert op type Mish (node the_mish)"), first
