"""The `edgeconv` command: help, bad arguments and exit codes, convert with overrides, infer."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from models import conv_net, tflite_net

pytestmark = pytest.mark.workflow
CLI = [sys.executable, "-m", "edgeconv.cli"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(cwd, *args):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True)


def test_help_and_usage_errors(tmp_path):
    proc = _run(tmp_path, "convert", "--help")
    assert proc.returncode == 0 and "key value" in proc.stdout and "--output-dir" in proc.stdout
    assert _run(tmp_path, "convert", "rvc9", "--path", "x.onnx").returncode == 2
    proc = _run(tmp_path, "convert", "openvino", "--path", "missing.onnx")
    assert proc.returncode == 2 and "--path missing.onnx does not exist" in proc.stderr
    (tmp_path / "m.txt").write_text("x")
    assert "give a model config (.yaml/.yml), a model (.onnx, .tflite" in _run(tmp_path, "convert", "openvino", "--path", "m.txt").stderr
    conv_net(tmp_path / "m.onnx")
    proc = _run(tmp_path, "convert", "openvino", "--path", "m.onnx", "inputs.0.shape")
    assert proc.returncode == 2 and "has no value" in proc.stderr
    proc = _run(tmp_path, "infer", "openvino", "--model-path", "m.onnx", "--input-path", "nowhere", "--output-dir", "o", "--bogus")
    assert proc.returncode == 2


def test_convert_with_overrides_then_infer(tmp_path):
    conv_net(tmp_path / "src" / "net.onnx", dynamic_hw=True)
    proc = _run(tmp_path, "convert", "openvino", "--path", "src/net.onnx", "--output-dir", "out",
                "inputs.0.shape", "[1,3,20,20]", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["net.bin", "net.buildinfo.json", "net.xml"]
    again = _run(tmp_path, "convert", "openvino", "--path", "src/net.onnx", "inputs.0.shape", "[1,3,20,20]",
                 "openvino.quantize", "false")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    failing = _run(tmp_path, "convert", "openvino", "--path", "src/net.onnx")  # dynamic H, W and no shape
    assert failing.returncode == 1 and "inputs.0.shape: input 'x' has dynamic dimension(s)" in failing.stderr

    for i in range(3):
        (tmp_path / "in" / "x").mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "in" / "x" / f"{i}.npy", np.full((1, 3, 20, 20), 10.0 * i, np.float32))
    proc = _run(tmp_path, "infer", "openvino", "--model-path", "out/net.xml", "--input-path", "in", "--output-dir", "res")
    assert proc.returncode == 0, proc.stderr
    outs = sorted((tmp_path / "res" / "out").glob("*.npy"))
    assert [p.name for p in outs] == ["0.npy", "1.npy", "2.npy"]
    assert np.load(outs[0]).shape == (1, 4)
    bad = _run(tmp_path, "infer", "openvino", "--model-path", "out/net.xml", "--input-path", "src", "--output-dir", "r")
    assert bad.returncode == 2 and "holds no <input name>/*.npy" in bad.stderr


def test_convert_a_tflite_model_to_an_archive(tmp_path):
    tflite_net(tmp_path / "src" / "tnet.tflite", size=12)
    proc = _run(tmp_path, "convert", "openvino", "--path", "src/tnet.tflite", "--to", "nn_archive", "--output-dir", "out",
                "encoding", "NONE", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with tarfile.open(tmp_path / "out" / "tnet.tar.xz") as tar:
        config = json.loads(tar.extractfile("config.json").read())
    assert config["model"]["inputs"][0]["shape"] == [1, 12, 12, 3] and config["model"]["inputs"][0]["layout"] == "NHWC"


def test_convert_a_two_stage_config_to_one_archive(tmp_path):
    import json
    import tarfile

    import yaml

    from models import backbone_net, head_net

    backbone_net(tmp_path / "models" / "bb.onnx")
    head_net(tmp_path / "models" / "hd.onnx")
    (tmp_path / "cfg").mkdir()
    link = {"stage": "backbone", "output": "feat"}
    script = "def run_script(o):\n    return o['feat'].mean(axis=(2, 3))\n"
    (tmp_path / "cfg" / "two.yaml").write_text(yaml.safe_dump({
        "heads": [{"parser": "ClassificationParser", "metadata": {}, "outputs": ["out"]}],
        "mean_values": [127.5], "scale_values": [64],
        "stages": {
            "backbone": {"input_model": "models/bb.onnx"},
            "head": {"input_model": "models/hd.onnx", "mean_values": None, "scale_values": None, "inputs": [
                {"name": "feat", "calibration": link},
                {"name": "pooled", "calibration": {"stage": "backbone", "script": script}},
            ]},
        },
    }))
    proc = _run(tmp_path, "convert", "openvino", "--path", "cfg/two.yaml", "--to", "nn_archive")
    assert proc.returncode == 1 and "--main-stage" in proc.stderr
    proc = _run(tmp_path, "convert", "openvino", "--path", "cfg/two.yaml", "--to", "nn_archive", "--main-stage", "backbone",
                "--archive-preprocess", "--output-dir", "out", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["two.tar.xz"]
    with tarfile.open(tmp_path / "out" / "two.tar.xz") as tar:
        config = json.load(tar.extractfile("config.json"))
    assert config["model"]["heads"][0]["metadata"]["postprocessor_path"] == "two-head.xml"
    assert config["model"]["inputs"][0]["preprocessing"]["mean"] == [127.5, 127.5, 127.5]
    proc = _run(tmp_path, "convert", "openvino", "--path", "cfg/two.yaml", "--output-dir", "native", "openvino.quantize", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {p.name for p in (tmp_path / "native").iterdir()}
    assert {"two-backbone.xml", "two-head.xml", "two-backbone.buildinfo.json", "two-head.buildinfo.json"} <= names


@pytest.mark.skipif(not shutil.which("script"), reason="no `script` (util-linux) to give the command a terminal")
def test_convert_shows_live_progress_on_a_terminal_and_plain_lines_otherwise(tmp_path):
    conv_net(tmp_path / "net.onnx")
    # On a terminal (a pseudo-terminal from `script`): the rich logger's live progress bars.
    command = " ".join(shlex.quote(a) for a in [*CLI, "convert", "openvino", "--path", "net.onnx"])
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Workflow Progress" in proc.stdout and "Total Progress" in proc.stdout
    assert (tmp_path / "results" / "openvino" / "net.xml").is_file()
    # Not on a terminal: Snakemake's own lines, the step and model of each job and the count done.
    (tmp_path / "config" / "models").mkdir(parents=True)
    (tmp_path / "config" / "models" / "net.yaml").write_text("input_model: net.onnx\nopenvino: {compress_to_fp16: false}\n")
    proc = _run(tmp_path, "convert", "openvino", "--path", "config/models/net.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "rule convert_ir:" in out and "wildcards: model=net" in out
    assert re.search(r"\d+ of \d+ steps \(\d+%\) done", out) and "Workflow Progress" not in out


def test_convert_rvc2_with_the_reference_s_tool_version(tmp_path):
    """`edgeconv convert rvc2 --tool-version 2021.4.0` as in the reference: the built-in compiler."""
    if not (REPO_ROOT / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile").exists():
        pytest.skip("needs the built-in RVC2 toolchain: run `make rvc2-env`")
    conv_net(tmp_path / "net.onnx")
    proc = _run(tmp_path, "convert", "rvc2", "--tool-version", "2021.4.0", "--path", "net.onnx", "--output-dir", "out",
                "rvc2.superblob", "false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["net.blob", "net.blob.buildinfo.json"]
    info = json.loads((tmp_path / "out" / "net.blob.buildinfo.json").read_text())
    call = next(s for s in info["steps"] if s["step"] == "compile_blob")["tool_calls"][0]
    assert call["tool"] == "myriad_compile" and "2021.4.2" in call["version"]
    proc = _run(tmp_path, "convert", "rvc2", "--tool-version", "2023.1.0", "--path", "net.onnx")
    assert proc.returncode == 2 and "--tool-version 2023.1.0: for rvc2 there is no such choice" in proc.stderr

