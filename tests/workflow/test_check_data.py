"""A model that refuses random check data (an int64 token input indexing a 126-row table): the error
names the input, the data it was fed and how to give data it accepts; with a value range it passes."""

import pytest

from harness import new_project, snakemake, write_yaml
from models import embedding_net

pytestmark = pytest.mark.workflow


def test_refused_random_data_names_the_input_and_a_value_range_fixes_it(tmp_path):
    root = new_project(tmp_path, ["text"])
    embedding_net(root / "models" / "text.onnx")
    write_yaml(root / "config" / "models" / "text.yaml", {"input_model": "models/text.onnx"})
    proc = snakemake(root, "results/openvino/text.xml", check=False)
    assert proc.returncode != 0
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: ") and "refused" in ln)
    assert "the original model refused the check data (" in line and "unexpected" not in line
    assert "'tokens' (inputs.0: int64 values" in line and ", random)" in line
    assert "give calibration data for 'tokens' (calibration.path), or the range its random data must stay in" in line
    # A step's warning reaches the console of plain snakemake, not only the step log.
    assert "warning: prepare_calibration (text): input 'tokens' has no calibration data: 20 random samples" in proc.stderr
    write_yaml(root / "config" / "models" / "text.yaml", {
        "input_model": "models/text.onnx",
        "inputs": [{"name": "tokens", "calibration": {"min_value": 0, "max_value": 125}}],
    })
    # And again at the end of the run, failed or not, with the other warnings of the run's steps.
    recap = proc.stderr.split("edgeconv: 1 warning(s) from the steps of this run")[1]
    assert "  warning: prepare_calibration (text): input 'tokens' has no calibration data" in recap
    proc = snakemake(root, "results/openvino/text.xml")
    recap = proc.stderr.split("edgeconv: 1 warning(s) from the steps of this run")[1]
    assert "  warning: prepare_calibration (text): input 'tokens' has no calibration data: 20 random samples in [0, 125]" in recap
    assert "warning(s) from the steps of this run" not in snakemake(root, "results/openvino/text.xml").stderr  # nothing ran
