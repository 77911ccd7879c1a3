"""A zoo's disk: random calibration is stored as its recipe, and with `keep_intermediate_outputs:
false` everything a model's chain makes on the way to what it publishes is a temp() file: gone after
the run, nothing planned again, and a change reruns that model's chain alone, to the same bytes."""

import hashlib

import numpy as np
import pytest

from harness import REPO, planned, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow

# What a chain makes on the way (openvino + qnn_htp), relative to results/intermediate/<model>/.
DROPPED = ("normalized.onnx", "optimized.onnx", "simplified.onnx", "calibration.npz", "openvino/{m}.xml",
           "openvino/{m}.bin", "qnn_htp/{m}.quant.onnx", "qnn_htp/{m}.ctx.onnx", "qnn_htp/{m}.ctx_qnn.bin")
# What stays either way: the check reports and the step records.
KEPT = ("normalized.verify.json", "simplified.verify.json", "openvino/{m}.verify.json", "qnn_htp/{m}.verify.json",
        "records/simplify.json", "records/compile_htp.json")


def _project(root, keep, m_config=None):
    write_yaml(root / "config" / "config.yaml", {"models": ["m", "n"], "targets": ["openvino", "qnn_htp"],
                                                 "keep_intermediate_outputs": keep, "verify": {"max_images": 2}})
    write_yaml(root / "config" / "models" / "m.yaml", {"input_model": "models/m.onnx", **(m_config or {})})
    for name in ("m", "n"):
        conv_net(root / "models" / f"{name}.onnx", size=64)  # bare models: random calibration


def _published(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for target in ("openvino", "qnn_htp") for p in (root / "results" / target).iterdir()
            if not p.name.endswith(".json")}


@pytest.mark.parametrize("keep", [True, False])
def test_intermediates_are_dropped_only_when_asked_and_a_rerun_is_a_no_op(tmp_path, keep):
    _project(tmp_path, keep)
    snakemake(tmp_path)
    inter = tmp_path / "results" / "intermediate" / "m"
    assert (tmp_path / "results" / "openvino" / "m.xml").exists()
    assert (tmp_path / "results" / "qnn_htp" / "m.ctx_qnn.bin").exists()
    for name in DROPPED:
        assert (inter / name.format(m="m")).exists() == keep, name
    for name in KEPT:
        assert (inter / name.format(m="m")).exists(), name
    assert planned(tmp_path) == set()
    if keep:
        # The random samples are a recipe of bytes, not 20 x 3 x 64 x 64 float32 (983 kB).
        assert (inter / "calibration.npz").stat().st_size < 4000
        from edgeconv.arrays import load_npz

        samples = load_npz(inter / "calibration.npz")["x"]
        assert samples.shape[1:] == (1, 3, 64, 64) and samples.dtype == np.float32 and samples.std() > 1


def test_without_intermediates_a_change_reruns_that_models_chain_to_the_same_bytes(tmp_path):
    _project(tmp_path, keep=False)
    snakemake(tmp_path)
    before = _published(tmp_path)
    # A threshold of one model's openvino check: its files are gone, so its chain runs from the source.
    _project(tmp_path, keep=False, m_config={"verify": {"openvino_fp16": {"min_cosine": 0.998}}})
    jobs = planned(tmp_path)
    assert {model for _, model in jobs} == {"m"}, jobs
    assert {"verify_ir", "convert_ir", "simplify", "prepare_calibration"} <= {rule for rule, _ in jobs}
    snakemake(tmp_path)
    assert _published(tmp_path) == before
    assert planned(tmp_path) == set()
    # A target outside `all` that reads the dropped files (the IR's weights beside its xml too):
    # they are made again for it, and `all` stays done.
    snakemake(tmp_path, "results/analysis/n/openvino/summary.json")
    assert (tmp_path / "results" / "analysis" / "n" / "openvino" / "layers.csv").exists()
    assert not (tmp_path / "results" / "intermediate" / "n" / "openvino" / "n.bin").exists()
    assert planned(tmp_path) == set()


def test_the_vendor_chains_drop_theirs_too(tmp_path):
    """rvc4 (SNPE) and hailo (DFC) through the doubles in tests/doubles/: the raw inputs directory,
    the DLCs and the HARs go, the published DLC and HEF stay, and nothing is planned again."""
    doubles = REPO / "tests" / "doubles"
    write_yaml(tmp_path / "config" / "config.yaml", {
        "models": ["m"], "targets": ["rvc4", "hailo"], "keep_intermediate_outputs": False,
        "toolchains": {"rvc4": {"bin_dir": str(doubles)}, "hailo": {"python": str(doubles / "hailo" / "python")}}})
    conv_net(tmp_path / "models" / "m.onnx", size=16)
    snakemake(tmp_path)
    inter = tmp_path / "results" / "intermediate" / "m"
    assert (tmp_path / "results" / "rvc4" / "m.dlc").exists() and (tmp_path / "results" / "hailo" / "m.hef").exists()
    left = sorted(p.relative_to(inter).as_posix() for p in inter.rglob("*")
                  if p.is_file() and not p.name.endswith(".json") and p.parent.name != "records")
    assert left == ["rvc4/m.info.csv"], left
    assert not (inter / "rvc4" / "raw").exists()
    assert planned(tmp_path) == set()
