"""Per-layer analysis: on a model with one badly quantized layer (`wide`, one channel a thousand
times larger than the others), that layer is the worst, at its place in the graph, in a QDQ model
(onnxruntime) and in an NNCF INT8 IR (OpenVINO)."""

import numpy as np
import pytest

from edgeconv import analysis as an
from models import sensitive_net


def _samples(n=16, seed=1):
    x = np.random.default_rng(seed).standard_normal((n, 1, 4, 8, 8)).astype(np.float32)
    return [{"x": x[i]} for i in range(n)]


def _rows(model, artifact, figures, precision):
    return an.layer_rows(artifact, figures, an.graph_tensors(model), precision, promoted={"wide"})


def test_the_badly_quantized_layer_is_the_worst_of_a_qdq_model(tmp_path):
    from edgeconv.targets.qnn_htp import search_quantizer

    model = sensitive_net(tmp_path / "s.onnx")
    samples = _samples()
    search_quantizer(model, "INT8_STANDARD", True, tmp_path / "q")(
        {"x": np.stack([s["x"] for s in samples[4:]])}, None, tmp_path / "q.onnx")
    names = [n for n, _ in an.graph_tensors(model)]
    figures = an.compare_qdq(an._exposed(model, tmp_path, "float"), tmp_path / "q.onnx", samples[:4], tmp_path, names)
    quantizers = an.qdq_quantizers(tmp_path / "q.onnx")
    rows = _rows(model, an.Artifact("qdq", tmp_path / "q.onnx", "qdq", "fp32"), figures,
                 {n: q.precision for n, q in quantizers.items()})
    measured = [r for r in rows if r.get("local_sqnr_db") is not None]
    worst = min(measured, key=lambda r: r["local_sqnr_db"])
    assert (worst["tensor"], worst["op_type"], worst["index"], worst["precision"]) == ("wide", "Conv", 2, "int8")
    assert worst["worst"] and worst["promoted"]
    # Every other quantized tensor loses far less in its own quantization.
    assert all(r["local_sqnr_db"] > worst["local_sqnr_db"] + 8 for r in measured if r is not worst)
    # What the later layers read is wrong (`b` ignores the large channel; the others were crushed).
    assert next(r for r in rows if r["tensor"] == "rb")["sqnr_db"] < 3
    # A tensor the quantizer fused away (Conv `a` + Relu) is listed as not matched, not dropped.
    assert next(r for r in rows if r["tensor"] == "a")["matched"] is False


def test_the_badly_quantized_layer_is_the_worst_of_an_int8_ir(tmp_path):
    import nncf
    import openvino as ov

    model = sensitive_net(tmp_path / "s.onnx")
    samples = _samples()
    ir = tmp_path / "s.int8.xml"
    quantized = nncf.quantize(ov.convert_model(str(model)), nncf.Dataset([s["x"] for s in samples[4:]]),
                              subset_size=12)
    ov.save_model(quantized, str(ir))
    names = [n for n, _ in an.graph_tensors(model)]
    figures, precision = an.compare_ir(an._exposed(model, tmp_path, "float"), ir, samples[:4], names)
    rows = _rows(model, an.Artifact("int8", ir, "ir", "fp32"), figures, precision)
    worst = min((r for r in rows if r.get("local_sqnr_db") is not None), key=lambda r: r["local_sqnr_db"])
    assert (worst["tensor"], worst["index"], worst["precision"]) == ("wide", 2, "int8")


def test_csv_marks_unmatched_and_infinite_figures(tmp_path):
    rows = [{"artifact": "a", "role": "layer", "index": 0, "tensor": "t", "op_type": "Conv", "precision": "int8",
             "matched": False, "promoted": False, "worst": False},
            {"artifact": "a", "role": "output", "index": 1, "tensor": "out", "op_type": "", "precision": "int8",
             "matched": True, "promoted": False, "worst": False, "cosine": 1.0, "sqnr_db": float("inf"),
             "local_sqnr_db": None, "max_abs_error": 0.0, "mean_abs_error": 0.0}]
    an.write_csv(rows, tmp_path / "layers.csv")
    lines = (tmp_path / "layers.csv").read_text().splitlines()
    assert lines[0].split(",") == an.COLUMNS
    assert lines[1] == "a,layer,0,t,Conv,int8,,,,,,no,no,no"
    assert ",inf," in lines[2]
    assert an.sqnr_db(1.0, 0.0) == float("inf") and an.sqnr_db(100.0, 1.0) == pytest.approx(20.0)
