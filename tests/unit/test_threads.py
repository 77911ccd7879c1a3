"""A step's sessions take the threads Snakemake gives its job (OMP_NUM_THREADS), not every core."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgeconv.threads import job_threads, openvino_config, ort_options


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), ("", None), ("0", None), ("many", None)])
def test_the_budget_is_snakemakes_threads_or_none(monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert job_threads() == expected


def test_sessions_take_the_budget(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    opts = ort_options(ort.SessionOptions())
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    assert openvino_config({"INFERENCE_PRECISION_HINT": "f32"}) == {"INFERENCE_PRECISION_HINT": "f32",
                                                                    "INFERENCE_NUM_THREADS": 1}
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert ort_options(ort.SessionOptions()).intra_op_num_threads == 0  # onnxruntime's own default
    assert openvino_config() == {}


def test_an_ir_runs_on_the_budget(monkeypatch, tmp_path):
    """OpenVINO takes the number as a compile setting (a wrong key or type would raise here)."""
    import openvino as ov

    from edgeconv.runtime import ir_runner

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    param = ov.opset8.parameter([1, 4], np.float32, name="x")
    model = ov.Model([ov.opset8.relu(param)], [param], "m")
    ov.save_model(model, tmp_path / "m.xml")
    out = ir_runner(tmp_path / "m.xml")({"x": np.array([[-1, 2, -3, 4]], np.float32)})
    assert np.array_equal(next(iter(out.values())), [[0, 2, 0, 4]])
