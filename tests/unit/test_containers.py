"""How a tool call becomes a container run (docker SDK arguments), toolchain parsing, tool lookup in
images, and which steps a toolchain is a parameter of."""

import json
import os
from pathlib import Path

import pytest

from edgeconv.containers import (
    ToolCall,
    Toolchain,
    check_apptainer,
    docker_create_args,
    mounts_for,
    parse_toolchain,
)
from edgeconv.errors import ConversionError
from edgeconv.tools import find_tool, tool_version, use_toolchain

DOCKER = Toolchain(target="rvc2", runtime="docker", image="localhost/edgeconv-rvc2:2022.3.2", image_id="sha256:abc")


def _files(tmp_path):
    onnx = tmp_path / "inter" / "mo" / "simplified.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"x")
    out = tmp_path / "inter" / "rvc2" / ".alpha.mo.123"
    out.mkdir(parents=True)
    return onnx, out


def test_docker_run_mounts_only_what_the_call_uses_at_host_paths(tmp_path):
    onnx, out = _files(tmp_path)
    call = ToolCall(argv=["mo", "--input_model", "inter/mo/simplified.onnx"], reads=(Path("inter/mo/simplified.onnx"),),
                    writes=(Path("inter/rvc2/.alpha.mo.123"),), workdir=tmp_path)
    args = docker_create_args(call, DOCKER, 1234, 5678, "edgeconv-rvc2-x")
    assert args["mounts"] == [
        {"Type": "bind", "Source": str(out), "Target": str(out), "ReadOnly": False},
        {"Type": "bind", "Source": str(onnx), "Target": str(onnx), "ReadOnly": True},
    ]
    assert args["user"] == "1234:5678"  # no root-owned files
    assert args["working_dir"] == str(tmp_path)  # relative paths in argv resolve as on the host
    assert args["command"] == call.argv and args["image"] == "sha256:abc"  # the id that was resolved, not the tag
    assert args["environment"] == {"HOME": "/tmp"}  # nothing of the host's environment
    assert args["network_mode"] == "none"
    assert args["labels"]["io.edgeconv.target"] == "rvc2"
    assert "nano_cpus" not in args and "mem_limit" not in args


def test_docker_run_resources_and_environment_from_the_toolchain(tmp_path):
    tc = Toolchain(target="rvc4", runtime="docker", image="snpe:2.26", env={"SNPE_ROOT": "/opt/qairt"}, cpus=1.5, mem_mb=4096)
    args = docker_create_args(ToolCall(argv=["snpe-dlc-info"], workdir=tmp_path), tc, 0, 0, "n")
    assert args["nano_cpus"] == 1_500_000_000 and args["mem_limit"] == "4096m"
    assert args["environment"] == {"HOME": "/tmp", "SNPE_ROOT": "/opt/qairt"}
    assert args["image"] == "snpe:2.26" and args["mounts"] == []


def test_mounts_fold_nested_paths_and_follow_symlinks(tmp_path):
    onnx, out = _files(tmp_path)
    inside = out / "images"
    inside.mkdir()
    link = tmp_path / "model-link.onnx"
    link.symlink_to(onnx)
    call = ToolCall(argv=["x"], reads=(inside, onnx, onnx.parent, link), writes=(out, inside), workdir=tmp_path)
    mounts = mounts_for(call)
    assert sorted((m["Target"], m["ReadOnly"]) for m in mounts) == sorted([
        (str(out), False),            # `images` is inside the written directory: not mounted twice
        (str(onnx.parent), True),     # the file inside a mounted directory is not mounted again
        (str(link), True),
    ])
    assert next(m for m in mounts if m["Target"] == str(link))["Source"] == str(onnx)  # the link's target is what gets mounted, at the link's path


def test_mounting_a_missing_input_is_an_error(tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        mounts_for(ToolCall(argv=["x"], reads=(tmp_path / "nope.onnx",), workdir=tmp_path))


@pytest.mark.parametrize(
    "section, message",
    [
        ({"runtime": "kubernetes"}, "runtime: 'kubernetes' is not one of local, docker, apptainer"),
        ({"runtime": "docker"}, "toolchains.rvc2.image is not set"),
        ({"runtime": "docker", "image": "x", "env": ["A=1"]}, "env must be a mapping"),
        ({"runtime": "docker", "image": "x", "cpus": "many"}, "cpus / mem_mb / timeout must be numbers"),
    ],
)
def test_bad_toolchain_sections_name_the_key(section, message):
    with pytest.raises(ConversionError, match=message.replace("(", r"\(")):
        parse_toolchain({"rvc2": section}, "rvc2")


def test_toolchain_defaults_to_local_and_params_leave_out_unset_keys():
    tc = parse_toolchain({}, "rvc2")
    assert tc.runtime == "local" and tc.as_params() == {"runtime": "local"}
    tc = parse_toolchain({"rvc2": {"runtime": "docker", "image": "i", "version": "2022.3.2", "mo": "/x"}}, "rvc2")
    assert tc.as_params() == {"runtime": "docker", "image": "i", "version": "2022.3.2"}


def test_in_a_container_tools_are_names_or_paths_inside_the_image(tmp_path):
    chains = {"rvc2": {"runtime": "docker", "image": "i", "compile_tool": "/opt/ov/compile_tool"},
              "rvc4": {"runtime": "docker", "image": "i", "bin_dir": "/opt/qairt/bin"}}
    assert find_tool(chains, "rvc2", "mo", tmp_path) == "mo"  # not looked up on this machine
    assert find_tool(chains, "rvc2", "compile_tool", tmp_path) == "/opt/ov/compile_tool"
    assert find_tool(chains, "rvc4", "snpe-dlc-quant", tmp_path) == "/opt/qairt/bin/snpe-dlc-quant"
    with pytest.raises(ConversionError, match="runtime setting"):
        find_tool(chains, "rvc2", "image", tmp_path)


def test_a_pinned_version_stops_a_tool_that_reports_another(tmp_path):
    tool = tmp_path / "mo"
    tool.write_text("#!/bin/sh\necho 'Version of Model Optimizer is: 2023.0.1'\n")
    tool.chmod(0o755)
    try:
        use_toolchain({"target": "rvc2", "runtime": "local", "version": "2022.3.2"})
        with pytest.raises(ConversionError, match=r"toolchains.rvc2.version pins 2022.3.2 but .* reports 'Version"):
            tool_version([str(tool), "--version"])
        use_toolchain({"target": "rvc2", "runtime": "local", "version": "2023.0"})
        assert "2023.0.1" in tool_version([str(tool), "--version"])
    finally:
        use_toolchain(None)


def test_the_version_answer_is_cached_per_tool_build_and_the_pin_still_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(tmp_path / "cache"))
    calls = tmp_path / "calls"
    tool = tmp_path / "mo"
    tool.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'Version of Model Optimizer is: 2022.3.2'\n")
    tool.chmod(0o755)
    try:
        use_toolchain({"target": "rvc2", "runtime": "local", "version": "2022.3.2"})
        first = tool_version([str(tool), "--version"])
        assert tool_version([str(tool), "--version"]) == first and "2022.3.2" in first
        assert calls.read_text().count("x") == 1  # asked once, then answered from the cache
        # The pin is checked against the cached answer: a mismatch still stops the step.
        use_toolchain({"target": "rvc2", "runtime": "local", "version": "2021.4"})
        with pytest.raises(ConversionError, match="toolchains.rvc2.version pins 2021.4 but"):
            tool_version([str(tool), "--version"])
        assert calls.read_text().count("x") == 1
        # Another build of the tool (new contents, size and mtime) is asked again.
        tool.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'Version of Model Optimizer is: 2021.4.2'\n")
        assert "2021.4.2" in tool_version([str(tool), "--version"])
        assert calls.read_text().count("x") == 2
        # A cache that cannot be read is only asked around.
        (tmp_path / "cache" / "tool-versions.json").write_text("{not json")
        assert "2021.4.2" in tool_version([str(tool), "--version"])
    finally:
        use_toolchain(None)


def test_apptainer_needs_sdm_binary_and_image(tmp_path, monkeypatch):
    tc = Toolchain(target="rvc4", runtime="apptainer", image="rvc4.sif")
    with pytest.raises(ConversionError, match="run snakemake with `--sdm apptainer`"):
        check_apptainer(tc, False, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConversionError, match="neither `apptainer` nor `singularity` is on PATH"):
        check_apptainer(tc, True, tmp_path)
    (tmp_path / "apptainer").write_text("#!/bin/sh\n")
    (tmp_path / "apptainer").chmod(0o755)
    with pytest.raises(ConversionError, match=r"image file rvc4.sif .* `apptainer build rvc4.sif containers/rvc4/Apptainer.def`"):
        check_apptainer(tc, True, tmp_path)
    (tmp_path / "rvc4.sif").write_bytes(b"sif")
    check_apptainer(tc, True, tmp_path)
    check_apptainer(Toolchain(target="rvc4", runtime="apptainer", image="docker://ghcr.io/x/rvc4:1"), True, tmp_path)


def test_the_toolchain_is_a_parameter_of_its_targets_tool_steps_only(tmp_path):
    """Switching rvc2 between local and a container changes the parameters of rvc2's tool
    steps, and of nothing else (so nothing else reruns)."""
    from edgeconv.project import Project
    from edgeconv.tools import CHECKOUT

    from models import conv_net  # noqa: E402  (tests/ is on sys.path)

    conv_net(tmp_path / "models" / "alpha.onnx", dynamic_hw=True)
    (tmp_path / "config" / "models").mkdir(parents=True)
    (tmp_path / "config" / "models" / "alpha.yaml").write_text("input_model: models/alpha.onnx\nshape: [1, 3, 20, 20]\n")
    double = str(CHECKOUT / "tests" / "doubles" / "compile_tool")
    # label -> (step, the variant a rule's wildcards choose)
    calls = {
        "convert_mo_rvc2": ("convert_mo", {"target": "rvc2"}),
        "convert_mo_rvc3": ("convert_mo", {"target": "rvc3"}),
        "compile_blob": ("compile_blob", {}),
        "attach_normalization_mo": ("attach_normalization", {"plan": "mo"}),
        "verify": ("verify", {"kind": "onnx"}),
        "convert_ir": ("convert_ir", {}),
        "onnx_to_dlc": ("onnx_to_dlc", {}),
    }
    steps = list(calls)
    snpe = str(CHECKOUT / "tests" / "doubles")

    def params(rvc2):
        config = {"models": ["alpha"], "model_configs_dir": "config/models", "models_dir": "models",
                  "toolchains": {"rvc2": rvc2, "rvc3": {"mo": double}, "rvc4": {"bin_dir": snpe}}}
        project = Project(config, root=tmp_path)
        return {s: json.loads(project.params("alpha", step, **variant)) for s, (step, variant) in calls.items()}

    local = params({"mo": double, "compile_tool": double})
    pinned = params({"mo": double, "compile_tool": double, "version": "2022.3.2"})
    assert {s for s in steps if local[s] != pinned[s]} == {"convert_mo_rvc2", "compile_blob"}
    assert pinned["compile_blob"]["toolchain"] == {"runtime": "local", "version": "2022.3.2", "target": "rvc2"}
    assert "toolchain" not in local["verify"] and "toolchain" not in local["attach_normalization_mo"]
    assert os.path.basename(local["convert_mo_rvc2"]["mo"]) == "compile_tool"
