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
