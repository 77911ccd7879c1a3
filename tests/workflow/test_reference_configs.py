"""The reference's own example configs (tests/data/reference_configs, unchanged) parse and plan a run
here, with the models and calibration sets they name built small by the test and served from a
loopback S3 server under the same URLs (s3://luxonis-test-bucket/modelconverter-test/...)."""

from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import io_net
from s3 import S3Server

pytestmark = pytest.mark.workflow

CONFIGS = REPO / "tests" / "data" / "reference_configs"
BUCKET, PREFIX = "luxonis-test-bucket", "modelconverter-test"
DOUBLES = REPO / "tests" / "doubles"
SCRIPT = b"""import numpy as np


def run_script(outputs):
    return np.concatenate([outputs["output1_masks"].reshape(1, -1)[:, :32]], axis=1).astype(np.float32)
"""


def _bytes(model) -> bytes:
    return model.SerializeToString()


def _zip(count: int, size: int, gray: bool = False, folder: str = "images") -> bytes:
    rng = np.random.default_rng(count)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(count):
            shape = (size, size) if gray else (size, size, 3)
            img = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(img, format="PNG")
            z.writestr(f"{folder}/{i:03d}.png", img.getvalue())
    return buf.getvalue()


def _seg(prefix: str, size: tuple[int, int]):
    outputs = {f"output{i}_{prefix}": [1, 6, 8 // i, 8 // i] for i in (1, 2, 3)}
    outputs.update({f"output{i}_masks": [1, 32, 8 // i, 8 // i] for i in (1, 2, 3)})
    outputs["protos_output"] = [1, 32, 16, 16]
    return io_net({"images": [1, 3, *size]}, outputs)


def _mult():
    return io_net({"coeffs": [1, 32], "prototypes": [1, 32, 16, 16]}, {"output": [1, 16, 16]})


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    objects = {
        "mnist.onnx": _bytes(io_net({"input": [1, 1, 28, 28]}, {"output": [1, 10]})),
        "mnist_dataset.zip": _zip(24, 28, gray=True, folder="mnist"),
        "yolov5n-seg.onnx": _bytes(_seg("yolov5", (64, 64))),
        "mult.onnx": _bytes(_mult()),
        "imagenette-calib.zip": _zip(22, 48),
        "script.py": SCRIPT,
        "resnet18.onnx": _bytes(io_net({"input.1": [1, 3, 256, 256]}, {"191": [1, 1000]})),
        "coco128.zip": _zip(21, 64, folder="coco128/images/train2017"),
        "yolov6n.onnx": _bytes(io_net({"images": [1, 3, 416, 416]},
                                      {f"output{i}_yolov6r2": [1, 85, 52 // i, 52 // i] for i in (1, 2, 3)})),
    }
    for key, body in objects.items():
        server.put(BUCKET, f"{PREFIX}/{key}", body)
    yield server
    server.stop()


def _project(root, models):
    write_yaml(root / "config" / "config.yaml", {
        "models": models, "targets": ["openvino", "rvc4", "hailo"],
        "toolchains": {"rvc4": {"bin_dir": str(DOUBLES)}, "hailo": {"python": str(DOUBLES / "hailo" / "python")}},
    })
    (root / "config" / "models").mkdir(parents=True, exist_ok=True)
    for name in models:
        shutil.copyfile(CONFIGS / f"{name}.yaml", root / "config" / "models" / f"{name}.yaml")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    _project(root, ["mnist", "multistage", "resnet18", "yolov6n", "yolov8n_seg"])
    # yolov8n_seg names local files, relative to the config file's directory.
    beside = root / "config" / "models"
    (beside / "models").mkdir()
    (beside / "models" / "yolov8n_seg_512x288.onnx").write_bytes(_bytes(_seg("yolov8", (96, 160))))
    (beside / "models" / "mult_512x288.onnx").write_bytes(_bytes(_mult()))
    write_images(beside / "calibration_data" / "imagenette-calib", 5)
    (beside / "script.py").write_bytes(SCRIPT)
    return root


def test_configs_are_unchanged_copies():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == [
        "defaults.yaml", "mnist.yaml", "multistage.yaml", "resnet18.yaml", "resnet18_IR.yaml", "yolov6n.yaml",
        "yolov8n_seg.yaml"]
    assert 's3://luxonis-test-bucket/modelconverter-test/mnist.onnx' in (CONFIGS / "mnist.yaml").read_text()


def test_example_configs_parse_and_plan_from_s3(project, s3):
    jobs = planned(project, env=s3.environ())
    for unit in ("mnist", "resnet18", "yolov6n", "multistage-yolov5n-seg", "multistage-mult",
                 "yolov8n_seg-yolov8-seg", "yolov8n_seg-mult"):
        assert {"simplify", "convert_ir", "onnx_to_dlc", "hailo_parse"} <= rules_for(jobs, unit), unit
    fetched = {m for r, m in jobs if r == "fetch_remote"}
    assert len(fetched) >= 9  # every object the configs name, the script included
    assert {r for r, _ in jobs} >= {"extract_calibration", "prepare_calibration"}


def test_mnist_converts_and_verifies_from_s3(project, s3):
    snakemake(project, "results/openvino/mnist.xml", env=s3.environ())
    report = (project / "results" / "openvino" / "mnist.verify.json").read_text()
    assert '"passed": true' in report


def test_defaults_with_its_two_required_paths_plans(tmp_path, s3):
    root = _project(tmp_path, ["defaults"])
    io_net({"images": [1, 3, 32, 32]}, {"out": [1, 4]}, root / "models" / "net.onnx")
    write_images(root / "calibration_data" / "net", 3)
    filled = ("overrides={defaults: {stages.stage_name.input_model: models/net.onnx, "
              "stages.stage_name.calibration.path: calibration_data/net}}")
    jobs = planned(root, "--config", filled)
    assert {"simplify", "convert_ir", "onnx_to_dlc", "quantize_dlc", "hailo_parse", "publish_dlc"} <= rules_for(jobs, "defaults")


def test_a_gs_url_is_refused_with_what_to_do(tmp_path, s3):
    root = _project(tmp_path, ["resnet18_IR"])
    proc = snakemake(root, "-n", check=False, env=s3.environ())
    assert proc.returncode != 0
    assert ("resnet18_IR.yaml: input_model: gs://luxonis-test-bucket/modelconverter/models/resnet18.xml: "
            "gs:// URLs are not fetched, only s3://") in proc.stderr
    assert "AWS_ENDPOINT_URL=https://storage.googleapis.com" in proc.stderr
