"""A zoo's disk: random calibration is stored as its recipe, and with `keep_intermediate_outputs:
false` the first ONNX intermediates are temp() files, gone after the run, with nothing planned again."""

import numpy as np
import pytest

from harness import planned, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("keep", [True, False])
def test_intermediates_are_dropped_only_when_asked_and_a_rerun_is_a_no_op(tmp_path, keep):
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["m"], "targets": ["openvino"],
                                                     "keep_intermediate_outputs": keep, "verify": {"max_images": 2}})
    conv_net(tmp_path / "models" / "m.onnx", size=64)  # a bare model: random calibration
    snakemake(tmp_path)
    inter = tmp_path / "results" / "intermediate" / "m"
    assert (tmp_path / "results" / "openvino" / "m.xml").exists()
    assert (inter / "simplified.onnx").exists() and (inter / "normalized.verify.json").exists()
    for name in ("normalized.onnx", "optimized.onnx"):
        assert (inter / name).exists() == keep, name
    assert planned(tmp_path) == set()
    # The random samples are a recipe of bytes, not 20 x 3 x 64 x 64 float32 (983 kB).
    assert (inter / "calibration.npz").stat().st_size < 4000
    from edgeconv.arrays import load_npz

    samples = load_npz(inter / "calibration.npz")["x"]
    assert samples.shape[1:] == (1, 3, 64, 64) and samples.dtype == np.float32 and samples.std() > 1
