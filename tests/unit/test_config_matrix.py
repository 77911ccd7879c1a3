"""The build matrix (config/config.yaml, --configfile, --config) checked before anything runs: one line
per problem naming where it came from, the key, and what is right (src/edgeconv/config/matrix.py)."""

from pathlib import Path

import pytest

from edgeconv.config.matrix import check_matrix, origin_of
from edgeconv.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def checked(config, origin=lambda key: "config/config.yaml"):
    check_matrix(config, SCHEMA, origin)
    return config


def problem(config, origin=lambda key: "config/config.yaml"):
    with pytest.raises(ConfigError) as caught:
        checked(config, origin)
    return str(caught.value)


def test_a_valid_matrix_gets_the_schemas_defaults():
    config = checked({"models": ["a"]})
    assert config["targets"] == ["openvino"] and config["keep_intermediate_outputs"] is True
    assert config["overrides"] == {} and config["models_dir"] == "models"
    assert checked({"models": ["a"], "targets": ["rvc2"]})["targets"] == ["rvc2"]


@pytest.mark.parametrize("given,expect", [
    ("rvc2", ["rvc2"]),
    ("rvc2,rvc4", ["rvc2", "rvc4"]),
    ("openvino, qnn_htp", ["openvino", "qnn_htp"]),
])
def test_targets_as_users_type_them(given, expect):
    """`--config targets=rvc2` gives Snakemake a string: it means the list of that one target."""
    assert checked({"models": "a,b", "targets": given}) == checked({"models": ["a", "b"], "targets": expect})


@pytest.mark.parametrize("config,first_line", [
    ({"models": ["a"], "target": ["rvc2"]}, "config/config.yaml: unknown key target (did you mean 'targets'?); the keys are: "),
    ({"models": ["a"], "targets": ["rvc5"]},
     "config/config.yaml: targets[0]: 'rvc5' is not one of openvino, qnn_htp, rvc2, rvc3, rvc4, hailo (did you mean 'rvc4'?)"),
    ({"models": ["a"], "verify": {"max_images:2": None}},
     "config/config.yaml: unknown key verify.max_images:2 (write 'max_images: 2', with a space after the colon)"),
    ({"models": ["a"], "verify": {"max_images": 0}}, "config/config.yaml: verify.max_images: 0 is out of range: it must be >= 1"),
    ({"models": ["a"], "keep_intermediate_outputs": "no"},
     "config/config.yaml: keep_intermediate_outputs: 'no' is a string; expected true or false"),
    ({"models": ["a"], "targets": 3}, "config/config.yaml: targets: 3 is an integer; expected a list; write it as a list, e.g. targets: [3]"),
    ({"models": None}, "config/config.yaml: models: empty; expected a list; write it as a list, e.g. models: [my_model]"),
    ({"models": ["a"], "targets": {"rvc2": 1}},
     "config/config.yaml: targets: {'rvc2': 1} is a mapping; expected a list; write it as a list, e.g. targets: [openvino]"),
    ({"models": ["a"], "cluster_batch": 0}, "config/config.yaml: cluster_batch: 0 is not valid: give a number of models (1 or more) or auto"),
    ({"models": ["my model"]}, "config/config.yaml: models[0]: 'my model' is not a valid name"),
    ({"targets": ["rvc2"]}, "config/config.yaml: models is missing: it is required"),
    ({"models": ["a"], "toolchains": {"rvc5": {}}}, "config/config.yaml: toolchains: 'rvc5' is not one of rvc2, rvc3, rvc4, hailo"),
    ({"models": ["a"], "verify": {"onnx": {"min_cosine": 2}}}, "config/config.yaml: verify.onnx.min_cosine: 2 is out of range: it must be <= 1"),
])
def test_each_problem_is_one_line_naming_the_key(config, first_line):
    message = problem(config)
    assert message.splitlines()[0].startswith(first_line), message
    assert "Failed validating" not in message and "schema[" not in message


def test_every_problem_is_listed_first_line_first():
    message = problem({"models": ["a"], "targts": ["rvc2"], "verify": {"max_image": 3}})
    lines = message.splitlines()
    assert len(lines) == 2, message
    assert lines[0].startswith("config/config.yaml: unknown key targts (did you mean 'targets'?)")
    assert lines[1].strip().startswith("unknown key verify.max_image (did you mean 'max_images'?)")


def test_the_problem_names_where_the_key_was_set(tmp_path):
    workflow_file, extra = tmp_path / "config.yaml", tmp_path / "extra.yaml"
    workflow_file.write_text("models: [a]\ntargets: [openvino]\n")
    extra.write_text("targets: [rvc9]\n")
    origin = origin_of([str(extra), str(workflow_file)], [str(extra)], {"verify": {"x": 1}})
    assert origin("targets") == str(extra)  # a --configfile overrides the workflow's file
    assert origin("models") == str(workflow_file)
    assert origin("verify") == "--config"
    assert problem({"models": ["a"], "targets": ["rvc9"]}, origin).startswith(f"{extra}: targets[0]: 'rvc9'")
    assert origin_of([str(workflow_file)], [], {})("nowhere") == str(workflow_file)
