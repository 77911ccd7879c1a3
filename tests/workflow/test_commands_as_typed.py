"""Snakemake's own commands as users type them, without --cores, on a converted model: the report,
the summaries, the graphs, a dry run and the linter (a rule with `threads: workflow.cores` once
stopped every one of them with "Workflow requires a total number of cores to be defined")."""

import subprocess

import pytest

from harness import REPO, SNAKEMAKE, new_project, snakemake, write_images, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = new_project(tmp_path_factory.mktemp("as_typed"), ["alpha"])
    conv_net(root / "models" / "alpha.onnx")
    write_images(root / "calibration_data" / "alpha", 2)
    write_yaml(root / "config" / "models" / "alpha.yaml",
               {"input_model": "models/alpha.onnx", "calibration": {"path": "calibration_data/alpha"}})
    snakemake(root)  # converted first, with --cores as users run a build
    return root


def _as_typed(root, *args):
    """Exactly the user's command line: no --cores added (the harness's snakemake() adds none either)."""
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(root), *args]
    assert "--cores" not in cmd and "-c" not in cmd
    return subprocess.run(cmd, capture_output=True, text=True, cwd=root)


@pytest.mark.parametrize("args,expect", [
    (["--summary"], "results/openvino/alpha.xml"),
    (["--detailed-summary"], "results/openvino/alpha.xml"),
    (["--rulegraph"], "digraph"),
    (["--dag"], "digraph"),
    (["-n"], "Nothing to be done"),
    (["--lint"], ""),
])
def test_command_runs_without_cores(project, args, expect):
    proc = _as_typed(project, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "requires a total number of cores" not in proc.stderr
    assert expect in proc.stdout + proc.stderr


def test_report_without_cores(project):
    proc = _as_typed(project, "--report", "report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (project / "report.html").stat().st_size > 10_000


def test_config_on_the_command_line_as_typed(project):
    """`--config targets=openvino` is a string to Snakemake; it means the one target."""
    proc = _as_typed(project, "-n", "--config", "targets=openvino")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.parametrize("override,first_error", [
    ("target=[rvc2]", "error: --config: unknown key target (did you mean 'targets'?)"),
    ("targets=[rvc5]", "error: --config: targets[0]: 'rvc5' is not one of openvino, qnn_htp, rvc2, rvc3, rvc4, hailo"),
    ("verify={max_images:2}", "error: --config: unknown key verify.max_images:2 (write 'max_images: 2'"),
])
def test_a_bad_config_value_is_one_line_before_any_job(project, override, first_error):
    proc = _as_typed(project, "-n", "--config", override)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors and errors[0].startswith(first_error), proc.stderr[-3000:]
    assert "Failed validating" not in proc.stderr
