"""RVC2's mo step for real inside a container, through the docker SDK (Docker, or podman's API
service as .ci/run starts it), with the image built by containers/build-rootfs.sh rvc2.

Needs DOCKER_HOST (or a Docker socket) and the image; skipped otherwise, except when
EDGECONV_REQUIRE_CONTAINERS=1 (as in .ci/run), where a missing engine or image fails."""

import json
import os
import re
import stat
from pathlib import Path

import pytest

from harness import REPO, planned, rules_for, snakemake, write_yaml
from test_rvc2_workflow import _project

IMAGE = os.environ.get("EDGECONV_TEST_RVC2_IMAGE", "localhost/edgeconv-rvc2:2022.3.2")
MO = REPO / ".venvs" / "openvino-2022.3" / "bin" / "mo"
MO_VERIFY = "results/intermediate/alpha/rvc2/alpha.verify.json"
RVC3_VERIFY = "results/intermediate/alpha/rvc3/alpha.verify.json"


def _engine_problem() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
        client.images.get(IMAGE)
    except Exception as exc:
        return f"no Docker Engine API with image {IMAGE} ({type(exc).__name__}: {str(exc)[:120]}); see README.md, Containers (make containers)"
    return None


PROBLEM = _engine_problem()
if PROBLEM and os.environ.get("EDGECONV_REQUIRE_CONTAINERS") == "1":
    raise RuntimeError(f"EDGECONV_REQUIRE_CONTAINERS=1 but {PROBLEM}")
pytestmark = [pytest.mark.workflow, pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")]


def _config(root: Path, rvc2: dict) -> None:
    write_yaml(
        root / "config" / "config.yaml",
        {
            "models": ["alpha"],
            "targets": ["rvc2"],
            "verify": {"max_images": 2},
            "toolchains": {"rvc2": rvc2, "rvc3": {"mo": str(MO)}},
        },
    )


DOCKER = {"runtime": "docker", "image": IMAGE, "version": "2022.3.2"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("containers"))  # the RVC2 workflow test's model
    _config(root, DOCKER)
    return root


def _leftover_containers():
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": "io.edgeconv.target"})


def test_mo_runs_in_the_container_and_its_ir_verifies(project):
    snakemake(project, MO_VERIFY)
    inter = project / "results" / "intermediate" / "alpha"
    report = json.loads((inter / "rvc2" / "alpha.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999  # the container's IR, on CPU, vs the ONNX
    log = (project / "logs" / "alpha" / "rvc2_convert_mo.log").read_text()
    assert re.search(rf"\[container {re.escape(IMAGE)} \(sha256:[0-9a-f]{{12}}\) as {os.getuid()}:{os.getgid()}\] mo ", log)
    assert "[ SUCCESS ] Generated IR version 11 model." in log  # mo's own output streamed into the job log
    record = json.loads((inter / "records" / "rvc2_convert_mo.json").read_text())
    assert record["toolchain"]["runtime"] == "docker" and record["toolchain"]["image_id"].startswith("sha256:")
    assert "2022.3.2" in record["tool_calls"][0]["version"]  # asked inside the image
    # Outputs belong to the invoking user; the temporary directory and the container are gone.
    for path in (inter / "rvc2").iterdir():
        assert path.stat().st_uid == os.getuid() and path.stat().st_gid == os.getgid(), path
    assert sorted(p.name for p in (inter / "rvc2").iterdir()) == ["alpha.bin", "alpha.verify.json", "alpha.xml"]
    assert _leftover_containers() == []
    # A second run does no work.
    assert planned(project, MO_VERIFY) == set()


@pytest.mark.skipif(not MO.exists(), reason="needs `make mo-env` for the local side of the switch")
def test_switching_runtime_or_version_reruns_that_targets_steps_only(project):
    snakemake(project, MO_VERIFY, RVC3_VERIFY)  # rvc3's mo runs locally
    _config(project, {"mo": str(MO)})
    assert rules_for(planned(project, MO_VERIFY, RVC3_VERIFY), "alpha") == {"convert_mo", "verify_mo_ir"}
    snakemake(project, MO_VERIFY, RVC3_VERIFY)
    assert "[container" not in (project / "logs" / "alpha" / "rvc2_convert_mo.log").read_text().split("step convert_mo")[-1]
    _config(project, DOCKER)
    jobs = planned(project, MO_VERIFY, RVC3_VERIFY)
    assert rules_for(jobs, "alpha") == {"convert_mo", "verify_mo_ir"}
    out = snakemake(project, "-n", "--printshellcmds", MO_VERIFY, RVC3_VERIFY).stdout
    assert "--output xml=results/intermediate/alpha/rvc2/alpha.xml" in out and "rvc3/alpha.xml" not in out
    snakemake(project, MO_VERIFY, RVC3_VERIFY)
    # Another version pin (one the image's label still matches) reruns rvc2's mo, nothing else.
    _config(project, {**DOCKER, "version": "2022.3"})
    assert rules_for(planned(project, MO_VERIFY, RVC3_VERIFY), "alpha") == {"convert_mo", "verify_mo_ir"}
    _config(project, DOCKER)
    assert planned(project, MO_VERIFY, RVC3_VERIFY) == set()


def test_a_pin_the_image_does_not_have_stops_before_any_job(project):
    _config(project, {**DOCKER, "version": "2023.0"})
    try:
        before = {p: p.stat().st_mtime_ns for p in (project / "results").rglob("*") if p.is_file()}
        proc = snakemake(project, "-f", MO_VERIFY, check=False)
        assert proc.returncode != 0
        first = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
        assert "target rvc2: toolchains.rvc2.version pins 2023.0 but image" in first and "OPENVINO_DEV_VERSION=2022.3.2" in first
        assert {p: p.stat().st_mtime_ns for p in (project / "results").rglob("*") if p.is_file()} == before
    finally:
        _config(project, DOCKER)


@pytest.mark.parametrize(
    "rvc2, expected",
    [
        ({"runtime": "docker", "image": "localhost/edgeconv-nope:1"},
         r"target rvc2: image localhost/edgeconv-nope:1 \(toolchains.rvc2.image\) is not in the engine at .*; build it with containers/build-rootfs.sh rvc2"),
        ({**DOCKER, "compile_tool": "compile_tool"},
         r"target rvc2: image .* has no `compile_tool`; rebuild it with containers/build-rootfs.sh rvc2"),
    ],
)
def test_a_missing_image_or_tool_stops_the_run_before_any_job(tmp_path, project, rvc2, expected):
    _config(project, rvc2)
    try:
        target = "results/rvc2/alpha.blob" if "compile_tool" in rvc2 else MO_VERIFY
        proc = snakemake(project, "-f", target, check=False)
        assert proc.returncode != 0
        first = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
        assert re.search(expected, first), first
        assert "Select jobs to execute" not in proc.stdout + proc.stderr
    finally:
        _config(project, DOCKER)


@pytest.mark.skipif(os.getuid() != 0, reason="drops to another user, which needs root")
def test_files_written_in_the_container_belong_to_an_unprivileged_invoking_user(tmp_path):
    """As root every user's files look alike, so a forked child becomes nobody (65534) and runs a
    tool call: what the container writes must belong to nobody, not root."""
    import docker

    from edgeconv.containers import ToolCall, Toolchain, resolve_docker_image, run_in_docker

    tc = resolve_docker_image(Toolchain(target="rvc2", runtime="docker", image=IMAGE))
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, 65534, 65534)
    tmp_path.chmod(0o755)
    sock = os.environ.get("DOCKER_HOST", "").removeprefix("unix://")
    if not sock or not os.path.exists(sock):
        pytest.skip("needs DOCKER_HOST=unix://... to grant nobody the socket for this test")
    mode = stat.S_IMODE(os.stat(sock).st_mode)
    os.chmod(sock, 0o666)
    try:
        import docker.types  # noqa: F401  (imported before the child drops privileges)

        pid = os.fork()
        if pid == 0:  # the child: become nobody, run the call, report through the exit code
            code = 3
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                code = run_in_docker(
                    ToolCall(argv=["sh", "-c", "id -u > written; id -g >> written"], writes=(out,), workdir=out),
                    tc,
                    out=open(os.devnull, "w"),
                )
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.chmod(sock, mode)
    assert os.waitstatus_to_exitcode(status) == 0
    written = out / "written"
    assert written.read_text().split() == ["65534", "65534"]
    assert (written.stat().st_uid, written.stat().st_gid) == (65534, 65534)
    assert docker.from_env().containers.list(all=True, filters={"label": "io.edgeconv.target"}) == []


def test_mo_runs_in_its_container_on_a_slurm_node(tmp_path):
    """The vendor step in its image on a cluster node: rvc2's mo through profiles/slurm (the
    one-node Slurm of `make slurm`; the job reaches podman's API through DOCKER_HOST, which sbatch
    passes on)."""
    from test_slurm import _slurm_up

    from harness import needs

    needs(_slurm_up(), "EDGECONV_REQUIRE_SLURM")
    root = _project(tmp_path)
    _config(root, DOCKER)
    proc = snakemake(root, "--profile", str(REPO / "profiles" / "slurm"), MO_VERIFY)
    out = proc.stdout + proc.stderr
    assert len(set(re.findall(r"submitted with SLURM jobid (\d+)", out))) == 1  # the chain: one job
    report = json.loads((root / "results" / "intermediate" / "alpha" / "rvc2" / "alpha.verify.json").read_text())
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
    log = (root / "logs" / "alpha" / "rvc2_convert_mo.log").read_text()
    assert f"[container {IMAGE}" in log and "[ SUCCESS ] Generated IR version 11 model." in log
    assert _leftover_containers() == []


def test_the_built_in_rvc2_compiler_makes_a_real_blob_in_the_image(tmp_path):
    """The image carries the built-in toolchain too (/opt/openvino-2021.4: mo 2021.4, myriad_compile):
    with rvc2.openvino_version 2021.4 both run in the container, and DepthAI reads the blob on the host."""
    root = _project(tmp_path, rvc2={"openvino_version": "2021.4", "superblob": False, "number_of_shaves": 4})
    _config(root, {"runtime": "docker", "image": IMAGE})
    snakemake(root, "results/rvc2/alpha.blob")
    inter = root / "results" / "intermediate" / "alpha"
    mo = json.loads((inter / "records" / "rvc2_convert_mo.json").read_text())["tool_calls"][0]
    assert mo["argv"][0] == "/opt/openvino-2021.4/bin/mo" and "2021.4.2" in mo["version"]
    call = json.loads((inter / "records" / "compile_blob.json").read_text())["tool_calls"][0]
    assert call["argv"][0] == "/opt/openvino-2021.4/bin/myriad_compile" and call["blob"]["shaves"] == 4
    assert "[container " in (root / "logs" / "alpha" / "compile_blob.log").read_text()
    os.environ.setdefault("DEPTHAI_LEVEL", "error")
    import depthai as dai

    assert dai.OpenVINO.Blob(str(root / "results" / "rvc2" / "alpha.blob")).numShaves == 4
    assert not _leftover_containers()


# A vendor tool that hangs, crashes or lies inside the container (tests/doubles/misbehaving_tool,
# mounted read-only; the fault reaches it through toolchains.rvc2.env, as no host variable does).
FAULTY = REPO / "tests" / "doubles" / "misbehaving_tool"


def _in_container(fault: str, tmp_path: Path, timeout: float = 60):
    from edgeconv.tools import run_tool, use_toolchain

    use_toolchain({"target": "rvc2", "runtime": "docker", "image": IMAGE, "timeout": timeout,
                   "env": {"EDGECONV_TEST_FAULT": fault}})
    try:
        run_tool([str(FAULTY), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)", reads=[FAULTY], writes=[tmp_path])
    finally:
        use_toolchain(None)


def test_a_hanging_tool_in_a_container_is_stopped_at_its_limit_and_the_container_is_gone(tmp_path):
    import time

    from edgeconv.errors import ConversionError

    started = time.monotonic()
    with pytest.raises(ConversionError, match=r"^compile_tool \(MYRIAD\) did not finish within 5 s \(toolchains\.rvc2\.timeout\)"):
        _in_container("hang", tmp_path, timeout=5)
    assert time.monotonic() - started < 60
    assert _leftover_containers() == []  # the tool and the child it started ended with the container


def test_a_tool_crashing_in_a_container_is_named_with_its_signal(tmp_path):
    from edgeconv.errors import ConversionError

    with pytest.raises(ConversionError, match=r"^compile_tool \(MYRIAD\) was killed by SIGSEGV \(signal 11\)"):
        _in_container("segv", tmp_path)
    assert _leftover_containers() == []


def test_a_tool_lying_in_a_container_keeps_nothing(tmp_path):
    """Exit 0 with random bytes, or with nothing: the blob's read-back and the placing refuse both,
    as they do locally (tests/workflow/test_tool_faults_workflow.py), and no file is kept."""
    from edgeconv.errors import ConversionError
    from edgeconv.targets import myriad
    from edgeconv.tools import tool_output

    blob = tmp_path / "out" / "x.blob"
    with pytest.raises(ConversionError, match=r"x\.blob is not a MyriadX blob"):
        with tool_output(blob, "compile_tool (MYRIAD)") as run:
            _in_container("garbage", run.tmp)
            myriad.read_blob(run.tmp / "x.blob")
    with pytest.raises(ConversionError, match=r"^compile_tool \(MYRIAD\) finished but wrote no x\.blob"):
        with tool_output(blob, "compile_tool (MYRIAD)") as run:
            _in_container("nothing", run.tmp)
    assert list(blob.parent.iterdir()) == []
