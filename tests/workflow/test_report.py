"""`snakemake --report`: the figures rule builds a pandas table and two matplotlib plots from the
real build infos, and the self-contained HTML report shows them, opened in headless Chromium."""

from __future__ import annotations

import base64
import json

import pytest

from browser import Browser, missing
from harness import needs, new_project, snakemake, write_images, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow

CLICK = """const a = Array.from(document.querySelectorAll('a')).find(a => a.textContent.trim() === arguments[0]);
if (a) { a.click(); return true; } return false;"""
VIEW = """const row = Array.from(document.querySelectorAll('tr')).find(r => r.textContent.trim() === arguments[0]);
const eye = row && row.querySelector('a[iconname=eye]'); if (eye) { eye.click(); return true; } return false;"""
IMAGE = """const img = document.querySelector('img[src^="data:image/png"]');
return img && img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight, img.src.length] : null;"""
FRAME = """const f = document.querySelector('iframe[src^="data:"]'); return f ? f.getAttribute('src') : null;"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = new_project(tmp_path_factory.mktemp("report"), ["a", "b"])
    conv_net(root / "models" / "a.onnx")
    conv_net(root / "models" / "b.onnx", seed=1)
    write_images(root / "calibration_data" / "b", 4, size=(16, 16))
    # b also gets an INT8 IR: one more stage on its chain.
    write_yaml(root / "config" / "models" / "b.yaml", {
        "input_model": "models/b.onnx", "calibration": {"path": "calibration_data/b"},
        "inputs": [{"name": "x", "encoding": "RGB"}]})
    snakemake(root, "report_figures")
    snakemake(root, "--report", "report.html", "report_figures")
    return root


def test_the_table_and_plots_come_from_the_build_infos(project):
    html = (project / "results" / "report" / "artifacts.html").read_text()
    for artifact in ("a.bin a.xml", "b.bin b.xml", "b.int8.bin b.int8.xml"):
        assert f"<td>{artifact}</td>" in html
    info = json.loads((project / "results" / "openvino" / "b.int8.buildinfo.json").read_text())
    for step in info["steps"]:
        assert f"<th>{step['step']} s</th>" in html
    cosine = min(o["cosine"] for o in info["verification"]["outputs"].values())
    assert f"{cosine:.6g}" in html
    for png in ("cosine_per_stage.png", "time_per_step.png"):
        assert (project / "results" / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_renders_in_chromium_with_the_table_and_the_images(project):
    needs(missing(), "EDGECONV_REQUIRE_BROWSER")
    with Browser() as browser:
        browser.open((project / "report.html").as_uri())
        assert browser.wait_for(CLICK, "1. Artifacts"), "no '1. Artifacts' category in the report"
        assert browser.wait_for(VIEW, "every artifact, its check and its time per step")
        src = browser.wait_for(FRAME)
        assert src, "the table is not shown"
        table = base64.b64decode(src.split(",", 1)[1]).decode()
        assert "<table" in table and "<td>b.int8.bin b.int8.xml</td>" in table and "worst cosine" in table
        for category, figure in (("2. Accuracy along the chain", "1 - cosine per stage"),
                                 ("3. Time per step", "seconds per step and artifact")):
            browser.open((project / "report.html").as_uri())
            assert browser.wait_for(CLICK, category), f"no {category!r} category"
            assert browser.wait_for(VIEW, figure), f"no {figure!r} in {category!r}"
            width, height, size = browser.wait_for(IMAGE)
            assert width > 300 and height > 200 and size > 10_000


# `snakemake --report report.html [targets]` after a run of those targets: the description shows
# their artifacts (a sortable table, failures marked) and the plots, with no extra target.
ROWS = """const t = document.getElementById('edgeconv-artifacts'); if (!t) return null;
return Array.from(t.tBodies[0].rows).map(r => [r.className, ...Array.from(r.cells).map(c => c.textContent)]);"""
HEADERS = """const t = document.getElementById('edgeconv-artifacts');
return t ? Array.from(t.tHead.rows[0].cells).map(c => c.textContent) : null;"""
SORT_BY = """const t = document.getElementById('edgeconv-artifacts');
const th = Array.from(t.tHead.rows[0].cells).find(c => c.textContent === arguments[0]); th.click(); return true;"""
PLOTS = """return Array.from(document.querySelectorAll('#edgeconv-report img[src^="data:image/png"]'))
.filter(i => i.complete && i.naturalWidth > 300).length;"""


@pytest.fixture(scope="module")
def targets_run(tmp_path_factory):
    """Three models, two asked for by path: `a` passes, `bad` fails its check; `c` is never asked for."""
    root = new_project(tmp_path_factory.mktemp("targets_report"), ["a", "bad", "c"])
    for i, name in enumerate(["a", "bad", "c"]):
        conv_net(root / "models" / f"{name}.onnx", seed=i)
    write_yaml(root / "config" / "models" / "bad.yaml",
               {"input_model": "models/bad.onnx", "verify": {"openvino_fp16": {"max_abs_error": 0.0}}})
    targets = ["results/openvino/a.xml", "results/openvino/bad.xml"]
    assert snakemake(root, "--keep-going", *targets, check=False).returncode != 0
    proc = snakemake(root, "--report", "report.html", *targets)
    return root, proc


def _report_rows(root):
    with Browser() as browser:
        browser.open((root / "report.html").as_uri())
        headers = browser.wait_for(HEADERS)
        rows = browser.wait_for(ROWS)
        plots = browser.wait_for(PLOTS)
        assert browser.run(SORT_BY, "status")
        by_status = browser.run(ROWS)
        assert browser.run(SORT_BY, "status")
        reversed_ = browser.run(ROWS)
    return headers, rows, plots, by_status, reversed_


def test_the_report_of_the_targets_shows_their_artifacts_and_nothing_else(targets_run):
    root, proc = targets_run
    # Nothing was built for the report, and the model nobody asked for was not touched.
    assert not (root / "results" / "intermediate" / "c").exists()
    assert not (root / "results" / "report").exists()
    html = (root / "report.html").read_text()
    assert "edgeconv-artifacts" in html


def test_the_report_of_the_targets_renders_sortable_with_the_failure_marked(targets_run):
    needs(missing(), "EDGECONV_REQUIRE_BROWSER")
    root, _ = targets_run
    headers, rows, plots, by_status, reversed_ = _report_rows(root)
    assert headers[:4] == ["model", "target", "artifact", "status"] and "worst cosine" in headers
    assert [r[1:5] for r in rows] == [["a", "openvino", "a.bin a.xml", "passed"],
                                      ["bad", "openvino", "bad.bin bad.xml", "FAILED"]]
    failed = rows[1]
    assert failed[0] == "failed"
    error = failed[headers.index("error") + 1]
    assert error.startswith("check: out: max_abs_error") and failed[headers.index("log") + 1].endswith(
        "bad.verify.failed.json")
    info = json.loads((root / "results" / "openvino" / "a.buildinfo.json").read_text())
    cosine = min(o["cosine"] for o in info["verification"]["outputs"].values())
    assert rows[0][headers.index("worst cosine") + 1] == f"{cosine:.6g}"
    # Both plots are drawn, from the published artifact.
    assert plots == 2
    # A click on a column sorts by it, a second click reverses.
    assert [r[1] for r in by_status] == ["bad", "a"] and [r[1] for r in reversed_] == ["a", "bad"]
