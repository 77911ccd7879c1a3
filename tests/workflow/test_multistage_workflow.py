"""A two-stage model (backbone + head) built by the tests, converted for real for openvino and
qnn_htp: the head's calibration is computed from the backbone's outputs, the stages build as
separate chains, and one NN Archive links the head as the backbone's post-processor."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import onnxruntime as ort
import pytest
from harness import planned, rules_for, snakemake, write_images, write_yaml
from models import backbone_net, head_net

from edgeconv.arrays import load_npz

SCRIPT = "import numpy as np\n\ndef run_script(outputs):\n    return outputs['feat'].mean(axis=(2, 3))\n"
HEAD = {"parser": "ClassificationParser", "metadata": {"is_softmax": False}, "outputs": ["out"]}


def _project(root, targets=("openvino", "qnn_htp")):
    backbone_net(root / "models" / "bb.onnx")
    head_net(root / "models" / "hd.onnx")
    write_images(root / "calib", 6, size=(16, 16))
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    (root / "scripts" / "pool.py").write_text(SCRIPT)
    write_yaml(root / "config" / "config.yaml", {"models": ["two"], "targets": list(targets), "verify": {"max_images": 3}})
    write_yaml(
        root / "config" / "models" / "two.yaml",
        {
            "name": "two",
            "main_stage": "backbone",
            "heads": [HEAD],
            "stages": {
                "backbone": {
                    "input_model": "models/bb.onnx",
                    "mean_values": [123.7, 116.3, 103.5],
                    "scale_values": [58.4, 57.1, 57.4],
                    "calibration": {"path": "calib"},
                    "openvino": {"quantize": True},
                },
                "head": {
                    "input_model": "models/hd.onnx",
                    "openvino": {"quantize": True},
                    "inputs": [
                        {"name": "feat", "calibration": {"stage": "backbone", "output": "feat"}},
                        {"name": "pooled", "calibration": {"stage": "backbone", "script": "scripts/pool.py"}},
                    ],
                },
            },
        },
    )
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("multistage"))
    snakemake(root)
    snakemake(root, "results/openvino/two.tar.xz")
    return root


def _stage_one_outputs(root):
    """What the backbone computes on its own calibration data, run here independently."""
    inter = root / "results" / "intermediate" / "two-backbone"
    calibration = load_npz(inter / "calibration.npz")["x"]
    session = ort.InferenceSession(str(inter / "simplified.onnx"), providers=["CPUExecutionProvider"])
    return calibration, np.stack([session.run(["feat"], {"x": sample})[0] for sample in calibration])


def test_the_heads_calibration_is_the_backbones_output_on_its_calibration(built):
    calibration, feat = _stage_one_outputs(built)
    assert calibration.shape == (6, 1, 3, 16, 16) and calibration.max() > 1  # camera images, 0..255
    head = load_npz(built / "results" / "intermediate" / "two-head" / "calibration.npz")
    assert head["feat"].shape == (6, 1, 8, 16, 16)
    np.testing.assert_array_equal(head["feat"], feat)  # the output link: exactly stage 1's outputs
    np.testing.assert_allclose(head["pooled"], feat.mean(axis=(3, 4)), rtol=1e-6)  # the script link
    record = json.loads((built / "results/intermediate/two-head/records/prepare_calibration.json").read_text())
    assert record["inputs"]["linked_backbone"]["path"].endswith("two-backbone/stage_outputs.npz")
    assert "script_1" in record["inputs"]


@pytest.mark.parametrize(
    "report",
    [
        "results/openvino/two-backbone.int8.verify.json",
        "results/openvino/two-head.int8.verify.json",
        "results/qnn_htp/two-backbone.verify.json",
        "results/qnn_htp/two-head.verify.json",
    ],
)
def test_every_stage_quantizes_and_verifies_on_the_open_targets(built, report):
    data = json.loads((built / report).read_text())
    assert data["passed"], data
    assert all(o["cosine"] >= 0.98 for o in data["outputs"].values())


def test_one_archive_links_the_head_as_the_post_processor(built):
    archive = built / "results" / "openvino" / "two.tar.xz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        config = json.load(tar.extractfile("config.json"))
        buildinfo = json.load(tar.extractfile("buildinfo.json"))
    assert names == {"config.json", "buildinfo.json", "two-backbone.xml", "two-backbone.bin", "two-head.xml", "two-head.bin"}
    from luxonis_ml.nn_archive import Config

    Config.model_validate(config)
    model = config["model"]
    assert model["metadata"]["path"] == "two-backbone.xml"
    assert model["heads"][0]["metadata"]["postprocessor_path"] == "two-head.xml"
    assert model["heads"][0]["parser"] == HEAD["parser"]
    assert [o["name"] for o in model["outputs"]] == ["feat"]
    assert set(buildinfo) == {"backbone", "head"}


def test_reruns_follow_the_links_and_nothing_else(built):
    assert planned(built) == set()
    # The head's own settings never touch the backbone.
    jobs = planned(built, "--config", "overrides={two: {stages.head.openvino.preset: mixed}}")
    assert rules_for(jobs, "two-backbone") == set()
    assert rules_for(jobs, "two-head") == {"quantize_ir", "verify_ir_int8", "publish_ir_int8"}
    # New backbone calibration: the backbone re-quantizes, its outputs are recomputed, and the head
    # re-calibrates and re-quantizes -- but neither stage converts its float model again.
    jobs = planned(built, "--config", "overrides={two: {stages.backbone.calibration.max_images: 4}}")
    assert {"prepare_calibration", "stage_outputs", "quantize_ir"} <= rules_for(jobs, "two-backbone")
    assert {"prepare_calibration", "quantize_ir", "quantize_qdq"} <= rules_for(jobs, "two-head")
    for unit in ("two-backbone", "two-head"):
        assert not rules_for(jobs, unit) & {"attach_normalization", "optimize_onnx", "simplify", "convert_ir"}


def test_archive_preprocess_moves_the_normalization_into_the_archive(tmp_path):
    root = _project(tmp_path, targets=("openvino",))
    snakemake(root, "results/openvino/two.tar.xz", "--config", "archive_preprocess=[two]")
    with tarfile.open(root / "results" / "openvino" / "two.tar.xz") as tar:
        config = json.load(tar.extractfile("config.json"))
    pre = config["model"]["inputs"][0]["preprocessing"]
    assert pre["mean"] == [123.7, 116.3, 103.5] and pre["scale"] == [58.4, 57.1, 57.4]
    assert pre["dai_type"] == "BGR888p" and pre["reverse_channels"] is False
    # The model is converted without normalization: it equals the original model on normalized data.
    inter = root / "results" / "intermediate" / "two-backbone"
    calibration = load_npz(inter / "calibration.npz")["x"]
    assert calibration.dtype == np.float32 and calibration.min() < 0  # fed normalized, as the archive says
    converted = ort.InferenceSession(str(inter / "simplified.onnx"), providers=["CPUExecutionProvider"])
    original = ort.InferenceSession(str(root / "models" / "bb.onnx"), providers=["CPUExecutionProvider"])
    for sample in calibration[:2]:
        np.testing.assert_allclose(converted.run(None, {"x": sample})[0], original.run(None, {"x": sample})[0], atol=1e-5)
    assert json.loads((root / "results/openvino/two-backbone.verify.json").read_text())["passed"]


@pytest.mark.parametrize(
    "target, toolchain, main, post",
    [
        ("rvc4", {"bin_dir": "DOUBLES"}, "two-backbone.dlc", "two-head.dlc"),
        ("hailo", {"python": "DOUBLES/hailo/python"}, "two-backbone.hef", "two-head.hef"),
    ],
)
def test_a_vendor_target_archive_links_the_head_artifact(tmp_path, target, toolchain, main, post):
    """rvc4 and hailo through the test doubles of SNPE and the DFC: one archive, the head's DLC/HEF
    linked as the post-processor; the linked calibration reaches the head's quantization."""
    from harness import REPO

    root = _project(tmp_path, targets=(target,))
    doubles = str(REPO / "tests" / "doubles")
    tools = {k: v.replace("DOUBLES", doubles) for k, v in toolchain.items()}
    snakemake(root, f"results/{target}/two.tar.xz", "--config", f"toolchains={json.dumps({target: tools})}")
    with tarfile.open(root / "results" / target / "two.tar.xz") as tar:
        names = set(tar.getnames())
        config = json.load(tar.extractfile("config.json"))
    from luxonis_ml.nn_archive import Config

    Config.model_validate(config)
    assert names == {"config.json", "buildinfo.json", main, post}
    assert config["model"]["metadata"]["path"] == main
    assert config["model"]["heads"][0]["metadata"]["postprocessor_path"] == post
    head = load_npz(root / "results" / "intermediate" / "two-head" / "calibration.npz")
    assert set(head) == {"feat", "pooled"} and head["feat"].shape[0] == 6
