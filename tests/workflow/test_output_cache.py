"""A cache a team shares: Snakemake's between-workflow output cache (`--cache`,
$SNAKEMAKE_OUTPUT_CACHE) on the steps that make something. Two workspaces, one cache directory: the
second runs none of the conversion steps, its artifacts are byte-identical, they are still checked
before they are published, and their build info says they came from the cache and which run made
them. A setting a step reads changes its key."""

from __future__ import annotations

import json
import os

import pytest

from harness import new_project, snakemake, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow
CONVERSION = ("attach_normalization", "optimize_onnx", "simplify", "convert_ir")
TARGET = "results/openvino/m.xml"


def _workspace(root, **openvino):
    new_project(root, ["m"])
    conv_net(root / "models" / "m.onnx", seed=3)
    write_yaml(root / "config" / "models" / "m.yaml", {"input_model": "models/m.onnx", "openvino": openvino})
    return root


def _ran(root, step):
    """Whether the step ran in this workspace (its log says it started; Snakemake creates the log
    file of a job served from the cache, empty)."""
    log = root / "logs" / "m" / f"{step}.log"
    return log.is_file() and f"step {step} for m" in log.read_text()


def _run(root, cache, *args):
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    # Targets before --cache: it takes the names after it as rules.
    return snakemake(root, TARGET, *args, "--cache", env=env)


def test_a_second_workspace_gets_the_artifacts_from_the_cache_checked_and_byte_identical(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    first, second = _workspace(tmp_path / "alice"), _workspace(tmp_path / "bob")
    _run(first, cache)
    assert any(cache.iterdir())
    first_info = json.loads((first / "results" / "openvino" / "m.buildinfo.json").read_text())
    assert first_info["cache"] is None  # made here (and stored)

    proc = _run(second, cache)
    out = proc.stdout + proc.stderr
    for step in CONVERSION:  # no conversion step ran in the second workspace
        assert not _ran(second, step), step
    assert "from cache" in out
    # Still checked here before it was published.
    assert (second / "logs" / "m" / "verify_ir.log").is_file()
    assert json.loads((second / "results" / "openvino" / "m.verify.json").read_text())["passed"]
    for name in ("m.xml", "m.bin"):
        assert (second / "results" / "openvino" / name).read_bytes() == (first / "results" / "openvino" / name).read_bytes()
    info = json.loads((second / "results" / "openvino" / "m.buildinfo.json").read_text())
    assert info["cache"]["from_cache"] is True
    assert set(info["cache"]["steps"]) >= {"simplify", "convert_ir"}
    assert {m["workdir"] for m in info["cache"]["made_by"]} == {str(first)}
    assert next(s for s in info["steps"] if s["step"] == "convert_ir")["from_cache"] is True

    # A setting convert_ir reads is part of its key: a third workspace with another value runs it.
    third = _workspace(tmp_path / "carol", compress_to_fp16=False)
    _run(third, cache)
    assert _ran(third, "convert_ir")
    assert not _ran(third, "simplify")  # the ONNX chain did not change: cached
    info = json.loads((third / "results" / "openvino" / "m.buildinfo.json").read_text())
    assert "convert_ir" not in info["cache"]["steps"] and "simplify" in info["cache"]["steps"]
