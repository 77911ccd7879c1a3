"""The targets' report (src/edgeconv/targets_report.py): what became of each artifact a DAG's
publish jobs make, read from the files on disk, as Snakemake's objects give them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from snakemake.iocontainers import Namedlist

from edgeconv.targets_report import FAILED, NOT_BUILT, PASSED, artifacts, report_html


class _Job(SimpleNamespace):
    __hash__ = object.__hash__  # jobs are keys of the DAG's dependencies, by identity


def _job(rule, output, input_=None, log=(), model="m"):
    return _Job(rule=SimpleNamespace(name=rule), output=Namedlist(fromdict=output),
                           input=Namedlist(fromdict=input_ or {}), log=list(log), wildcards_dict={"model": model})


class _Dag:
    def __init__(self, deps):
        self.deps = deps
        self.jobs = list(deps)

    def job_dependencies(self, job):
        return self.deps[job]


def _chain(tmp_path, model):
    inter = tmp_path / "results" / "intermediate" / model / "openvino"
    convert = _job("convert_ir", {"xml": str(inter / f"{model}.xml")}, log=[str(tmp_path / f"logs/{model}/convert_ir.log")],
                   model=model)
    verify = _job("verify_ir", {"report": str(inter / f"{model}.verify.json")}, {"artifact": str(inter / f"{model}.xml")},
                  log=[str(tmp_path / f"logs/{model}/verify_ir.log")], model=model)
    out = tmp_path / "results" / "openvino"
    publish = _job("publish_ir", {"xml": str(out / f"{model}.xml"), "bin": str(out / f"{model}.bin"),
                                  "buildinfo": str(out / f"{model}.buildinfo.json")},
                   {"verify": str(inter / f"{model}.verify.json")}, model=model)
    return {publish: [verify], verify: [convert], convert: []}


def test_each_artifact_is_published_failed_at_its_step_or_not_built(tmp_path):
    deps = {**_chain(tmp_path, "ok"), **_chain(tmp_path, "broken"), **_chain(tmp_path, "checked"),
            **_chain(tmp_path, "later")}
    out = tmp_path / "results" / "openvino"
    out.mkdir(parents=True)
    (out / "ok.xml").write_text("<net/>")
    (out / "ok.buildinfo.json").write_text(json.dumps({
        "model": "ok", "artifact": [str(out / "ok.xml")], "steps": [{"step": "convert_ir", "duration_s": 1.5}],
        "verification": {"passed": True, "outputs": {"y": {"cosine": 0.999, "max_abs_error": 0.1, "mean_abs_error": 0.01}}}}))
    log = tmp_path / "logs" / "broken" / "convert_ir.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-12-06 03:00:00,000 INFO edgeconv.step: step convert_ir for broken: inputs {}\n"
                   "2026-12-06 03:00:01,000 ERROR edgeconv.step: convert_ir (broken): OpenVINO could not convert op Foo\n")
    failed = tmp_path / "results" / "intermediate" / "checked" / "openvino" / "checked.verify.failed.json"
    failed.parent.mkdir(parents=True)
    failed.write_text(json.dumps({"passed": False, "failures": ["y: min_cosine 0.5 < 0.98"]}))
    found = {a.model: a for a in artifacts(_Dag(deps))}
    assert [found[m].status for m in ("broken", "checked", "later", "ok")] == [FAILED, FAILED, NOT_BUILT, PASSED]
    assert found["broken"].error == "convert_ir: convert_ir (broken): OpenVINO could not convert op Foo"
    assert found["broken"].log == str(log)
    assert found["checked"].error == "check: y: min_cosine 0.5 < 0.98" and found["checked"].log == str(failed)
    assert found["ok"].files == "ok.bin ok.xml" and found["ok"].target == "openvino"
    html = report_html(list(found.values()))
    assert "(1 passed, 2 FAILED, 1 not built)" in html
    assert html.count('<tr class="failed">') == 2 and html.count('<tr class="notbuilt">') == 1
    assert html.count("data:image/png;base64,") == 2
    # No line too long for docutils' raw block.
    assert max(len(line) for line in html.splitlines()) < 10_000
