"""NN Archive output: real for openvino and qnn_htp, through the SNPE doubles for rvc4; config.json
validated with luxonis-ml's schema models."""

import json
import subprocess
import sys
import tarfile

import pytest
from luxonis_ml.nn_archive import Config

from harness import REPO, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": ["openvino"], "verify": {"max_images": 2},
        "toolchains": {"rvc4": {"bin_dir": str(REPO / "tests" / "doubles")}},
    })
    conv_net(root / "models" / "alpha.onnx", size=16)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx", "mean_values": 127.5, "scale_values": 64,
        "encoding": {"from": "RGB", "to": "BGR"},
    })
    return root


def _read(archive):
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        config = json.load(tar.extractfile("config.json"))
    return names, config


@pytest.mark.parametrize(
    "target, members, precision",
    [
        ("openvino", ["config.json", "alpha.xml", "alpha.bin", "buildinfo.json"], "float16"),
        ("qnn_htp", ["config.json", "alpha.ctx.onnx", "alpha.ctx_qnn.bin", "buildinfo.json"], "int8"),
        ("rvc4", ["config.json", "alpha.dlc", "buildinfo.json"], "int8"),
    ],
)
def test_archive_per_target(project, target, members, precision):
    if target == "qnn_htp":
        pytest.importorskip("onnxruntime_qnn")
    snakemake(project, f"results/{target}/alpha.tar.xz")
    names, config = _read(project / "results" / target / "alpha.tar.xz")
    assert names == members
    Config.model_validate(config)  # the schema of luxonis-ml
    model = config["model"]
    assert model["metadata"] == {"name": "alpha", "path": members[1], "precision": precision}
    (inp,) = model["inputs"]
    assert inp["shape"] == [1, 3, 16, 16] and inp["input_type"] == "image" and inp["layout"] == "NCHW"
    # Normalization is embedded in the model: identity values and the frame type the camera sends.
    assert inp["preprocessing"] == {"mean": [0.0] * 3, "scale": [1.0] * 3, "reverse_channels": False,
                                    "interleaved_to_planar": False, "dai_type": "BGR888p"}
    assert model["outputs"] == [{"name": "out", "dtype": "float32", "shape": [1, 4]}]


def test_cli_to_nn_archive(project, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "convert", "openvino", "--path",
                           "config/models/alpha.yaml", "--to", "nn_archive", "--output-dir", str(tmp_path)],
                          cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == ["alpha.tar.xz"]
    Config.model_validate(_read(tmp_path / "alpha.tar.xz")[1])
