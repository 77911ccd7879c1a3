"""NN Archive in -> NN Archive out through Snakemake: openvino for real, rvc4 through the SNPE doubles."""

import json
import tarfile

import pytest
from luxonis_ml.nn_archive import Config

from harness import REPO, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow
HEADS = [{"parser": "ClassificationParser", "outputs": ["out"],
          "metadata": {"classes": ["a", "b", "c", "d"], "n_classes": 4, "is_softmax": False}}]


def _source_archive(path, members=()):
    config = {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": "net", "path": "net.onnx", "precision": "float32"},
            "inputs": [{"name": "x", "dtype": "float32", "input_type": "image", "shape": [1, 3, 16, 16], "layout": "NCHW",
                        "preprocessing": {"mean": [123.7, 116.3, 103.5], "scale": [58.4, 57.1, 57.4], "dai_type": "RGB888p"}}],
            "outputs": [{"name": "out", "dtype": "float32"}],
            "heads": HEADS,
        },
    }
    conv_net(path.parent / "net.onnx")
    (path.parent / "config.json").write_text(json.dumps(config))
    with tarfile.open(path, "w:xz") as tar:
        tar.add(path.parent / "config.json", arcname="config.json")
        tar.add(path.parent / "net.onnx", arcname="net.onnx")
        for name, target in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    (path.parent / "net.onnx").unlink()
    (path.parent / "config.json").unlink()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    write_yaml(root / "config" / "config.yaml", {"models": ["net"], "targets": ["openvino"], "verify": {"max_images": 2},
                                                "toolchains": {"rvc4": {"bin_dir": str(REPO / "tests" / "doubles")}}})
    (root / "models").mkdir()
    _source_archive(root / "models" / "net.tar.xz")
    return root


@pytest.mark.parametrize("target, main", [("openvino", "net.xml"), ("rvc4", "net.dlc")])
def test_archive_in_archive_out(project, target, main):
    snakemake(project, f"results/{target}/net.tar.xz")
    with tarfile.open(project / "results" / target / "net.tar.xz") as tar:
        config = json.load(tar.extractfile("config.json"))
        assert main in tar.getnames()
    Config.model_validate(config)
    model = config["model"]
    assert model["heads"] == HEADS
    # The source archive's RGB model now takes the camera's BGR frames, normalization embedded.
    assert model["inputs"][0]["preprocessing"]["dai_type"] == "BGR888p"
    assert model["inputs"][0]["preprocessing"]["mean"] == [0.0, 0.0, 0.0]


def test_archive_conversion_is_verified(project):
    snakemake(project, "results/openvino/net.verify.json")
    report = json.loads((project / "results" / "openvino" / "net.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999


def test_malicious_archive_stops_before_any_job(tmp_path):
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["net"]})
    (tmp_path / "models").mkdir()
    _source_archive(tmp_path / "models" / "net.tar.xz", members=[("escape", "/etc/passwd")])
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert "error: models/net.tar.xz: member 'escape' is a link ('/etc/passwd'); NN Archives hold plain files" in proc.stderr
    assert not (tmp_path / "results").exists()


def _archive_with_postprocessor(path):
    """The backbone and a post-processing model that its head links (metadata.postprocessor_path)."""
    import io

    from onnx import TensorProto, helper

    from models import backbone_net

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["feat"], ["g"]), helper.make_node("Flatten", ["g"], ["scores"])],
        "post",
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [1, 8, 16, 16])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 8])],
    )
    post = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    post.ir_version = 8
    head = {"parser": "ClassificationParser", "outputs": ["feat"], "metadata": {"postprocessor_path": "post.onnx", "is_softmax": False}}
    config = {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": "bb", "path": "bb.onnx", "precision": "float32"},
            "inputs": [{"name": "x", "dtype": "float32", "input_type": "image", "shape": [1, 3, 16, 16], "layout": "NCHW",
                        "preprocessing": {"mean": [0, 0, 0], "scale": [255, 255, 255], "dai_type": "RGB888p"}}],
            "outputs": [{"name": "feat", "dtype": "float32"}],
            "heads": [head],
        },
    }
    members = {"config.json": json.dumps(config).encode(), "bb.onnx": backbone_net().SerializeToString(),
               "post.onnx": post.SerializeToString()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_archive_with_a_post_processor_is_a_two_stage_model(tmp_path):
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["arch"], "targets": ["openvino"], "verify": {"max_images": 2}})
    _archive_with_postprocessor(tmp_path / "models" / "arch.tar.xz")
    snakemake(tmp_path, "results/openvino/arch.tar.xz", "results/openvino/arch-post.verify.json")
    with tarfile.open(tmp_path / "results" / "openvino" / "arch.tar.xz") as tar:
        names = set(tar.getnames())
        config = json.load(tar.extractfile("config.json"))
    Config.model_validate(config)
    assert {"arch-bb.xml", "arch-bb.bin", "arch-post.xml", "arch-post.bin"} <= names
    assert config["model"]["metadata"]["path"] == "arch-bb.xml"
    assert config["model"]["heads"][0]["metadata"]["postprocessor_path"] == "arch-post.xml"
    report = json.loads((tmp_path / "results" / "openvino" / "arch-post.verify.json").read_text())
    assert report["passed"]


def test_archive_preprocess_carries_the_preprocessing_from_archive_to_archive(project):
    snakemake(project, "results/openvino/net.tar.xz", "--config", "archive_preprocess=true")
    with tarfile.open(project / "results" / "openvino" / "net.tar.xz") as tar:
        config = json.load(tar.extractfile("config.json"))
    pre = config["model"]["inputs"][0]["preprocessing"]
    assert pre["mean"] == [123.7, 116.3, 103.5] and pre["scale"] == [58.4, 57.1, 57.4]
    assert config["model"]["heads"] == HEADS
