"""Per-layer analysis through the workflow and `edgeconv analyze`: the openvino INT8 IR and the
qnn_htp artifacts of a small model; the figure at each output equals the artifact's verify report
(also for an artifact whose verification failed), the CSV lists every tensor in graph order, and
the plot is in the Snakemake report."""

import csv
import json
import subprocess
import sys

import pytest

from harness import snakemake, write_images, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    # openvino_int8's threshold cannot be met: its verification fails, its analysis must still run.
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": ["openvino", "qnn_htp"],
        "verify": {"max_images": 3, "openvino_int8": {"min_cosine": 0.9999999}}})
    conv_net(root / "models" / "alpha.onnx", size=24)
    write_images(root / "calibration_data" / "alpha", 8)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx", "mean_values": 127.5, "scale_values": 64,
        "calibration": {"path": "calibration_data/alpha"},
        "rvc4": {"quantization_mode": "INT8_STANDARD", "htp_socs": ["qcs8550"]}})
    return root


def _rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_openvino_analysis_by_the_cli_matches_verify_even_when_it_failed(project):
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "analyze", "openvino", "--path",
                           "config/models/alpha.yaml"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "openvino_int8 (FAILS its verify thresholds)" in proc.stdout and "local_sqnr" in proc.stdout
    out = project / "results" / "analysis" / "alpha" / "openvino"
    summary = json.loads((out / "summary.json").read_text())
    snakemake(project, "--keep-going", "results/intermediate/alpha/openvino/alpha.int8.verify.json",
              "results/intermediate/alpha/openvino/alpha.verify.json", check=False)
    failed = json.loads((project / "results/intermediate/alpha/openvino/alpha.int8.verify.failed.json").read_text())
    assert not failed["passed"] and summary["artifacts"]["openvino_int8"]["outputs"] == failed["outputs"]
    fp16 = json.loads((project / "results/intermediate/alpha/openvino/alpha.verify.json").read_text())
    assert summary["artifacts"]["openvino_fp16"]["outputs"] == fp16["outputs"]
    rows = _rows(out / "layers.csv")
    int8 = [r for r in rows if r["artifact"] == "openvino_int8" and r["role"] == "layer"]
    assert [int(r["index"]) for r in int8] == list(range(summary["tensors"]))  # every tensor, graph order
    assert {r["precision"] for r in int8 if r["local_sqnr_db"]} == {"int8"}
    # The worst are ranked by their own quantization, among the tensors NNCF quantizes.
    assert sum(r["worst"] == "yes" for r in int8) == min(5, sum(bool(r["local_sqnr_db"]) for r in int8)) > 0
    out_rows = [r for r in rows if r["role"] == "output" and r["artifact"] == "openvino_int8"]
    assert [(r["tensor"], float(r["cosine"])) for r in out_rows] == [
        (name, pytest.approx(o["cosine"], abs=1e-6)) for name, o in failed["outputs"].items()]
    assert (out / "sqnr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (project / "results" / "openvino").exists()  # nothing published by an analysis


def test_qnn_htp_analysis_matches_verify_and_its_plot_is_in_the_report(project):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    target = "results/analysis/alpha/qnn_htp/summary.json"
    snakemake(project, target, "results/intermediate/alpha/qnn_htp/alpha.verify.json")
    summary = json.loads((project / target).read_text())
    verify = json.loads((project / "results/intermediate/alpha/qnn_htp/alpha.verify.json").read_text())
    assert summary["artifacts"]["qnn_htp"]["outputs"] == verify["outputs"]  # the simulator, at the outputs
    qdq = summary["artifacts"]["qnn_htp_qdq"]
    assert qdq["compared"] > 0 and qdq["worst_by"] == "local_sqnr_db" and len(qdq["worst"]) == 5
    assert summary["htp_cpu_nodes"] == []  # the HTP takes every layer of this model
    report = project / "report.html"
    snakemake(project, "--report", str(report), target)
    html = report.read_text()
    assert "Per-layer analysis" in html and "sqnr.png" in html


def test_benchmark_openvino_measures_both_irs_sync_and_async(project):
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "benchmark", "openvino", "--path",
                           "config/models/alpha.yaml"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "not a camera" in proc.stdout and "openvino_int8   async" in proc.stdout
    figures = json.loads((project / "results/benchmark/alpha/openvino.json").read_text())
    assert set(figures) == {"openvino_fp16", "openvino_int8"}
    for result in figures.values():
        sync, asynchronous = result["sync"], result["async"]
        assert sync["iterations"] >= 3 and 0 < sync["min_ms"] <= sync["median_ms"] <= sync["max_ms"]
        assert sync["streams"] == 1 and asynchronous["streams"] >= 1 and asynchronous["infer_requests"] >= 1
        assert asynchronous["throughput_fps"] > 0 and sync["inference_precision"] in ("f32", "bf16", "f16")
    rows = _rows(project / "results/benchmark/alpha/openvino.csv")
    assert [(r["artifact"], r["mode"]) for r in rows] == [
        ("openvino_fp16", "sync"), ("openvino_fp16", "async"), ("openvino_int8", "sync"), ("openvino_int8", "async")]


def test_rvc2_and_rvc3_analysis_reads_mo_and_pot_irs(project):
    """rvc2: mo's FP16 IR (what compile_tool reads; no compile_tool is needed); rvc3: mo's and POT's
    INT8 IR. Their output rows equal their verify reports."""
    from harness import REPO

    mo = REPO / ".venvs" / "openvino-2022.3" / "bin" / "mo"
    if not mo.exists():
        pytest.skip("needs OpenVINO 2022.3's mo: run `make mo-env` (make test does)")
    targets = ["results/analysis/alpha/rvc2/summary.json", "results/analysis/alpha/rvc3/summary.json"]
    reports = ["results/intermediate/alpha/rvc2/alpha.verify.json", "results/intermediate/alpha/rvc3/alpha.verify.json",
               "results/intermediate/alpha/rvc3/alpha.int8.verify.json"]
    snakemake(project, "--keep-going", *targets, *reports, check=False)
    rvc2 = json.loads((project / targets[0]).read_text())
    rvc3 = json.loads((project / targets[1]).read_text())
    assert set(rvc2["artifacts"]) == {"rvc2_fp16"} and set(rvc3["artifacts"]) == {"rvc3_fp16", "rvc3_int8"}

    def report(path):
        p = project / path
        return json.loads((p if p.exists() else p.with_name(p.name.replace(".json", ".failed.json"))).read_text())

    assert rvc2["artifacts"]["rvc2_fp16"]["outputs"] == report(reports[0])["outputs"]
    assert rvc3["artifacts"]["rvc3_int8"]["outputs"] == report(reports[2])["outputs"]
    assert rvc3["artifacts"]["rvc3_int8"]["compared"] > 0 and rvc3["artifacts"]["rvc3_int8"]["worst_by"] == "local_sqnr_db"
