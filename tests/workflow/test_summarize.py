"""results/summary.csv: one row per published artifact of the matrix, from the real build infos."""

import csv
import json

import pytest

from harness import new_project, planned, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


def test_summary_lists_every_published_artifact_with_its_check(tmp_path):
    root = new_project(tmp_path, ["a", "b"])
    conv_net(root / "models" / "a.onnx")
    conv_net(root / "models" / "b.onnx")
    # b is quantized too (calibration data given: quantize on random data explicitly).
    write_yaml(root / "config" / "models" / "b.yaml", {"input_model": "models/b.onnx", "openvino": {"quantize": True}})
    snakemake(root, "results/summary.csv")
    with open(root / "results" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["target"], r["artifact"]) for r in rows] == [
        ("a", "openvino", "a.bin a.xml"),
        ("b", "openvino", "b.bin b.xml"),
        ("b", "openvino", "b.int8.bin b.int8.xml"),
    ]
    for r in rows:
        info = json.loads((root / "results" / "openvino" / f"{r['artifact'].split()[1][:-4]}.buildinfo.json").read_text())
        cosine = min(o["cosine"] for o in info["verification"]["outputs"].values())
        assert r["passed"] == "True" and float(r["min_cosine"]) == pytest.approx(cosine, rel=1e-5)
        assert int(r["bytes"]) == sum((root / p).stat().st_size for p in info["artifact"])
        assert int(r["steps"]) == len(info["steps"]) and r["toolchain"] == "local"
        assert r["lock_sha256"] == info["environment"]["edgeconv"]["sha256"] and len(r["lock_sha256"]) == 64
    table = json.loads((root / "results" / "summary.json").read_text())["artifacts"]
    assert [t["artifact"] for t in table] == [r["artifact"] for r in rows]
    # Up to date: nothing to do; a model's change reruns its summary row's chain and the summary.
    assert planned(root, "results/summary.csv") == set()
    override = ("--config", "overrides={a: {openvino.compress_to_fp16: false}}")
    assert planned(root, "results/summary.csv", *override) == {("convert_ir", "a"), ("verify_ir", "a"), ("publish_ir", "a")}
    assert "rule summarize:" in snakemake(root, "-n", "results/summary.csv", *override).stdout
