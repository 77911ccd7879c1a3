"""Models and calibration sets in S3-compatible storage (s3:// URLs in a config), against a real
S3 HTTP server on loopback (moto's): download, checks, reruns on change, and the errors."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from harness import conv_net_bytes, new_project, planned, snakemake, write_yaml, zipped_images
from models import conv_net
from s3 import S3Server

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory, s3):
    tmp = tmp_path_factory.mktemp("remote")
    model = s3.put("zoo", "models/net.onnx", conv_net_bytes(tmp))
    calib = s3.put("datasets", "calib/net.zip", zipped_images(4, seed=0))
    root = new_project(tmp / "project", ["net"])
    write_yaml(root / "config" / "models" / "net.yaml", {
        "input_model": model, "calibration": {"path": calib},
        "inputs": [{"name": "x", "encoding": "RGB"}]})
    snakemake(root, env=s3.environ())
    return root


def test_a_model_and_a_zipped_calibration_set_from_s3_convert_and_verify(project, s3):
    for name in ("net.xml", "net.int8.xml"):
        assert (project / "results" / "openvino" / name).is_file()
    info = json.loads((project / "results" / "openvino" / "net.int8.buildinfo.json").read_text())
    # The build info names both downloads (the extracted images are an input of the calibration).
    fetched = {c["url"]: (s, c) for s in info["steps"] if s["step"] == "fetch_remote" for c in s["tool_calls"]}
    assert sorted(fetched) == ["s3://datasets/calib/net.zip", "s3://zoo/models/net.onnx"]
    assert "extract_calibration" in [s["step"] for s in info["steps"]]
    step, call = fetched["s3://zoo/models/net.onnx"]
    head = s3.client.head_object(Bucket="zoo", Key="models/net.onnx")
    assert call["etag"] == head["ETag"].strip('"') and call["bytes"] == head["ContentLength"]
    assert call["sha256"] == step["outputs"]["file"]["sha256"] == hashlib.sha256(s3.get("zoo", "models/net.onnx")).hexdigest()
    # The images' folder inside the zip became the calibration directory; __MACOSX was left aside.
    extracted = project / "results" / "remote" / "extracted" / "s3" / "datasets" / "calib" / "net.zip"
    images = sorted(p.name for p in extracted.iterdir() if not p.name.startswith(".snakemake"))
    assert images == [f"img_{i:02d}.png" for i in range(4)]
    report = json.loads((project / "results" / "openvino" / "net.int8.verify.json").read_text())
    assert report["passed"]


def test_unchanged_objects_rerun_nothing_and_a_changed_one_reruns_what_reads_it(project, s3):
    env = s3.environ()
    assert planned(project, env=env) == set()
    s3.put("datasets", "calib/net.zip", zipped_images(4, seed=1))  # new images, same key
    jobs = {rule for rule, _ in planned(project, env=env)}
    assert {"fetch_remote", "extract_calibration", "prepare_calibration", "quantize_ir"} <= jobs
    assert "convert_ir" not in jobs and "simplify" not in jobs  # the model did not change
    snakemake(project, env=env)
    assert planned(project, env=env) == set()


@pytest.mark.parametrize("model, message", [
    ("s3://zoo/models/missing.onnx", "input_model: s3://zoo/models/missing.onnx: no such object (endpoint http://127.0.0.1:"),
    ("s3://no-such-bucket/net.onnx", "input_model: s3://no-such-bucket/net.onnx: no such bucket (endpoint http://127.0.0.1:"),
])
def test_a_missing_object_or_bucket_stops_before_any_job(tmp_path, s3, model, message):
    root = new_project(tmp_path, ["net"])
    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": model})
    proc = snakemake(root, check=False, env=s3.environ())
    assert proc.returncode != 0
    first = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert message in first and first.startswith("error: config/models/net.yaml: ")
    assert "rule " not in proc.stdout + proc.stderr.split(first)[0] and not (root / "results").exists()


def test_an_unreachable_endpoint_and_denied_access_stop_before_any_job(tmp_path, s3):
    root = new_project(tmp_path, ["net"])
    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": "s3://zoo/models/net.onnx"})
    env = {**s3.environ(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens on port 9
    proc = snakemake(root, check=False, env=env)
    assert proc.returncode != 0 and "s3://zoo/models/net.onnx: cannot reach the storage (endpoint http://127.0.0.1:9)" in proc.stderr
    denied = S3Server(extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # every request needs IAM credentials
    try:
        proc = snakemake(root, check=False, env=denied.environ())
    finally:
        denied.stop()
    assert proc.returncode != 0 and "s3://zoo/models/net.onnx: access denied (endpoint http://127.0.0.1:" in proc.stderr
    assert not (root / "results").exists()


def test_a_corrupt_zip_is_named(tmp_path, s3):
    model = s3.put("zoo", "models/net2.onnx", conv_net_bytes(tmp_path, seed=2))
    calib = s3.put("datasets", "calib/broken.zip", b"PK\x03\x04 this is not a zip")
    root = new_project(tmp_path / "p", ["net2"])
    write_yaml(root / "config" / "models" / "net2.yaml", {"input_model": model, "calibration": {"path": calib}})
    proc = snakemake(root, check=False, env=s3.environ())
    assert proc.returncode != 0
    assert "results/remote/s3/datasets/calib/broken.zip: not a readable zip archive" in proc.stdout + proc.stderr
    assert not (root / "results" / "remote" / "extracted" / "s3" / "datasets" / "calib" / "broken.zip").exists()


def test_output_remote_url_receives_the_verified_artifacts_and_the_intermediates(tmp_path, s3):
    model = s3.put("zoo", "models/up.onnx", conv_net_bytes(tmp_path, seed=3))
    s3.client.create_bucket(Bucket="out")
    root = new_project(tmp_path / "p", ["up"])
    write_yaml(root / "config" / "models" / "up.yaml", {
        "input_model": model, "output_remote_url": "s3://out/converted",
        "intermediate_outputs_remote_url": "s3://out/intermediate"})
    snakemake(root, env=s3.environ())
    assert s3.keys("out", "converted/") == [f"converted/openvino/up{s}" for s in (".bin", ".buildinfo.json", ".verify.json", ".xml")]
    assert s3.get("out", "converted/openvino/up.bin") == (root / "results" / "openvino" / "up.bin").read_bytes()
    intermediate = s3.keys("out", "intermediate/up/")
    for name in ("normalized.onnx", "optimized.onnx", "simplified.onnx", "openvino/up.xml", "openvino/up.bin"):
        assert f"intermediate/up/{name}" in intermediate
    manifest = json.loads((root / "results" / "remote" / "uploads" / "openvino" / "up.json").read_text())
    sent = {m["url"]: m for m in manifest["uploaded"]}
    xml = sent["s3://out/converted/openvino/up.xml"]
    assert xml["sha256"] == hashlib.sha256((root / "results" / "openvino" / "up.xml").read_bytes()).hexdigest()
    assert planned(root, env=s3.environ()) == set()
    # A missing bucket for the uploads stops the run before any job.
    write_yaml(root / "config" / "models" / "up.yaml", {"input_model": model, "output_remote_url": "s3://nowhere/x"})
    proc = snakemake(root, check=False, env=s3.environ())
    assert proc.returncode != 0 and "output_remote_url: s3://nowhere/x: no such bucket (endpoint" in proc.stderr


def test_a_prefix_of_images_is_fetched_object_by_object(tmp_path, s3):
    model = s3.put("zoo", "models/pre.onnx", conv_net_bytes(tmp_path, seed=4))
    rng = np.random.default_rng(5)
    for i in range(3):
        img = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(img, format="PNG")
        s3.put("datasets", f"frames/f{i}.png", img.getvalue())
    s3.put("datasets", "frames/README.txt", b"not an image: left out")
    root = new_project(tmp_path / "p", ["pre"])
    write_yaml(root / "config" / "models" / "pre.yaml", {"input_model": model, "calibration": {"path": "s3://datasets/frames"}})
    env = s3.environ()
    snakemake(root, env=env)
    mirror = root / "results" / "remote" / "s3" / "datasets" / "frames"
    assert sorted(p.name for p in mirror.iterdir()) == ["f0.png", "f1.png", "f2.png"]
    assert (root / "results" / "openvino" / "pre.int8.xml").is_file()
    s3.put("datasets", "frames/f1.png", (mirror / "f0.png").read_bytes())  # one image replaced
    jobs = planned(root, env=env)
    assert {p for r, p in jobs if r == "fetch_remote"} == {"datasets/frames/f1.png"}
    assert "convert_ir" not in {r for r, _ in jobs}


def test_convert_takes_an_s3_model_config_or_nn_archive(tmp_path, s3):
    """`edgeconv convert <target> --path s3://...`: a model (through a generated config naming the
    URL), a config, and an NN Archive (copied before the parse; not again while unchanged)."""
    import subprocess
    import sys

    def convert(*args):
        return subprocess.run([sys.executable, "-m", "edgeconv.cli", "convert", "openvino", *args],
                              cwd=tmp_path, capture_output=True, text=True, env=s3.environ())

    url = s3.put("zoo", "cli/clinet.onnx", conv_net_bytes(tmp_path, seed=3))
    proc = convert("--path", url, "--output-dir", "out", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clinet.bin", "clinet.buildinfo.json", "clinet.xml"]
    from test_archive_roundtrip import _source_archive

    (tmp_path / "arch").mkdir()
    _source_archive(tmp_path / "arch" / "net.tar.xz")
    archive = s3.put("zoo", "cli/archived.tar.xz", (tmp_path / "arch" / "net.tar.xz").read_bytes())
    proc = convert("--path", archive, "--output-dir", "from-archive", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "from-archive" / "archived.xml").is_file()
    local = tmp_path / "results" / "remote" / "s3" / "zoo" / "cli" / "archived.tar.xz"
    mtime = local.stat().st_mtime_ns
    again = convert("--path", archive, "openvino.quantize", "false")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert local.stat().st_mtime_ns == mtime  # unchanged: not downloaded again
    cfg = s3.put("zoo", "cli/cfgnet.yaml", f"input_model: {url}\nopenvino:\n  quantize: false\n".encode())
    proc = convert("--path", cfg, "--output-dir", "from-config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "from-config" / "cfgnet.xml").is_file()
    missing = convert("--path", "s3://zoo/cli/missing.tar.xz")
    assert missing.returncode == 2 and "--path s3://zoo/cli/missing.tar.xz: no such object (endpoint" in missing.stderr


MAKE_DATASET = """
import sys
from pathlib import Path
from luxonis_ml.data import LuxonisDataset
images = sorted(Path(sys.argv[1]).glob("*.png"))
ds = LuxonisDataset("calib_set", delete_local=True)
ds.add({"file": str(p), "annotation": {"class": "text"}} for p in images)
ds.make_splits({"train": [str(p) for p in images[:5]], "val": [str(p) for p in images[5:]]})
"""


def test_calibration_from_a_luxonis_dataset_split(tmp_path):
    """calibration.path <dataset>:<split> (the reference's LDF form): exported by luxonis-ml, reruns
    when the split changes; a missing dataset or split stops the run before any job."""
    import subprocess
    import sys

    pytest.importorskip("luxonis_ml.data", reason="luxonis-ml[data] is installed by `make test` (extra 'ldf')")
    from harness import write_images

    env = {**__import__("os").environ, "LUXONISML_BASE_PATH": str(tmp_path / "luxonis_ml")}
    write_images(tmp_path / "source", 8)
    subprocess.run([sys.executable, "-c", MAKE_DATASET, str(tmp_path / "source")], check=True, env=env)
    root = new_project(tmp_path / "project", ["net"])
    conv_net(root / "models" / "net.onnx")
    write_yaml(root / "config" / "models" / "net.yaml", {
        "input_model": "models/net.onnx", "calibration": {"path": "calib_set:train"}, "openvino": {"quantize": True}})
    snakemake(root, env=env)
    exported = root / "results" / "remote" / "ldf" / "calib_set" / "train"
    assert sorted(p.name for p in exported.glob("*.png")) == [f"{i:06d}.png" for i in range(5)]
    info = json.loads((root / "results" / "openvino" / "net.int8.buildinfo.json").read_text())
    assert "export_ldf" in [s["step"] for s in info["steps"]]
    assert json.loads((root / "results" / "openvino" / "net.int8.verify.json").read_text())["passed"]
    assert planned(root, env=env) == set()

    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": "models/net.onnx",
                                                        "calibration": {"path": "calib_set:test"}})
    proc = snakemake(root, "-n", check=False, env=env)
    assert proc.returncode != 0
    assert "calibration.path: Luxonis dataset 'calib_set' has no split 'test'; its splits are: train, val" in proc.stderr
    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": "models/net.onnx",
                                                        "calibration": {"path": "nope:train"}})
    proc = snakemake(root, "-n", check=False, env=env)
    assert proc.returncode != 0 and "calibration.path: no Luxonis dataset 'nope' under" in proc.stderr
