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
