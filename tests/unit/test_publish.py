"""Publishing: only artifacts whose every check passed reach results/<target>/; the lock digest of
each environment goes into the records and buildinfo.json."""

import json
import sys
from pathlib import Path

import pytest

from edgeconv import lockinfo
from edgeconv.errors import VerificationError
from edgeconv.records import file_sha256, parent_records, provenance, producer
from edgeconv.steps.__main__ import main as step_main
from edgeconv.steps.publish import environments, publish

REPO = Path(__file__).resolve().parents[2]


def _report(path: Path, passed: bool) -> Path:
    failures = [] if passed else ["out: cosine 0.909000 < min_cosine 0.95"]
    path.write_text(json.dumps({"passed": passed, "failures": failures, "outputs": {"out": {"cosine": 0.909}}}))
    return path


def _record(records: Path, step: str, inputs: dict[str, Path], outputs: dict[str, Path]) -> Path:
    """A step record as the step driver writes it, with its parent links."""
    files = lambda d: {k: {"path": str(p), "sha256": file_sha256(p)} for k, p in d.items()}  # noqa: E731
    record = records / f"{step}.json"
    record.write_text(json.dumps({
        "step": step, "model": "m", "argv": [], "tool_versions": {}, "duration_s": 0.1,
        "inputs": files(inputs), "outputs": files(outputs), "parents": parent_records(files(inputs)),
        "environment": {"lock": "envs/locks/main.txt", "sha256": "ab" * 32},
    }))
    return record


def _inputs(tmp_path: Path, passed: bool, monkeypatch) -> dict[str, Path]:
    """The ONNX model a user gave -> attach_normalization -> convert_ir, built under
    results/intermediate/m/ with their records, as the workflow leaves them."""
    monkeypatch.chdir(tmp_path)
    inter = Path("results/intermediate/m")
    (inter / "openvino").mkdir(parents=True)
    (inter / "records").mkdir()
    Path("models").mkdir()
    Path("models/m.onnx").write_bytes(b"onnx")
    (inter / "normalized.onnx").write_bytes(b"normalized")
    _record(inter / "records", "attach_normalization", {"model": Path("models/m.onnx")}, {"onnx": inter / "normalized.onnx"})
    (inter / "openvino" / "m.xml").write_text("<net/>")
    (inter / "openvino" / "m.bin").write_bytes(b"\0" * 16)
    _record(inter / "records", "convert_ir", {"onnx": inter / "normalized.onnx"},
            {"xml": inter / "openvino" / "m.xml", "bin": inter / "openvino" / "m.bin"})
    return {
        "artifact_xml": inter / "openvino" / "m.xml",
        "artifact_bin": inter / "openvino" / "m.bin",
        "verify": _report(inter / "openvino" / "m.verify.json", passed),
    }


def _outputs(tmp_path: Path) -> dict[str, Path]:
    out = Path("results") / "openvino"
    return {k: out / f"m.{k}" if k in ("xml", "bin") else out / f"m.{k}.json" for k in ("xml", "bin", "verify", "buildinfo")}


def test_publish_copies_the_artifact_and_writes_buildinfo(tmp_path, monkeypatch):
    inputs, outputs = _inputs(tmp_path, True, monkeypatch), _outputs(tmp_path)
    publish(inputs, outputs, {})
    assert outputs["xml"].read_text() == "<net/>" and outputs["bin"].read_bytes() == b"\0" * 16
    info = json.loads(outputs["buildinfo"].read_text())
    assert info["artifact"] == {str(outputs["xml"]): file_sha256(outputs["xml"]), str(outputs["bin"]): file_sha256(outputs["bin"])}
    assert [s["step"] for s in info["steps"]] == ["attach_normalization", "convert_ir"]
    assert info["environment"]["edgeconv"] == {"lock": "envs/locks/main.txt", "sha256": "ab" * 32}
    assert json.loads(outputs["verify"].read_text())["passed"] is True
    # The chain is found by walking parent links back from the record that wrote the artifact.
    assert info["steps"][1]["inputs"]["onnx"]["path"] == "results/intermediate/m/normalized.onnx"
    # A copy, not a link: the published file is newer than what it was made from.
    assert outputs["xml"].stat().st_ino != inputs["artifact_xml"].stat().st_ino


def test_publish_refuses_a_failed_check_and_writes_nothing(tmp_path, monkeypatch):
    inputs, outputs = _inputs(tmp_path, False, monkeypatch), _outputs(tmp_path)
    with pytest.raises(VerificationError, match=r"not published.*m\.verify\.json: out: cosine 0\.909000 < min_cosine 0\.95"):
        publish(inputs, outputs, {})
    assert not any(p.exists() for p in outputs.values())


def test_publish_refuses_when_any_upstream_check_failed(tmp_path, monkeypatch):
    inputs, outputs = _inputs(tmp_path, True, monkeypatch), _outputs(tmp_path)
    inputs["verify_onnx"] = _report(Path("results/intermediate/m/simplified.verify.json"), False)
    with pytest.raises(VerificationError, match="simplified.verify.json"):
        publish(inputs, outputs, {})
    assert not any(p.exists() for p in outputs.values())


def test_step_driver_removes_partial_outputs_of_a_refused_publish(tmp_path, monkeypatch):
    inputs, outputs = _inputs(tmp_path, False, monkeypatch), _outputs(tmp_path)
    outputs["xml"].parent.mkdir(parents=True)
    outputs["xml"].write_text("stale")  # an earlier, now failing build's copy must not survive
    argv = ["publish", *[f"--input={k}={v}" for k, v in inputs.items()], *[f"--output={k}={v}" for k, v in outputs.items()]]
    assert step_main(argv) == 1
    assert not outputs["xml"].exists()


def test_lockinfo_written_and_read(tmp_path):
    lock = tmp_path / "main.txt"
    lock.write_text("numpy==2.0 --hash=sha256:00\n")
    lockinfo.write(lock, tmp_path)
    info = lockinfo.environment.__wrapped__(str(tmp_path))
    assert info["sha256"] == lockinfo.lock_digest(lock) and info["lock"] == lock.as_posix()
    (tmp_path / "bin").mkdir()
    assert lockinfo.tool_environment(str(tmp_path / "bin" / "mo"))["sha256"] == info["sha256"]
    assert lockinfo.tool_environment(str(tmp_path / "elsewhere" / "bin" / "mo")) is None
    assert lockinfo.environment.__wrapped__(str(tmp_path / "nowhere"))["lock"] is None


def test_this_environment_is_the_committed_lock_when_make_installed_it():
    """`make setup` leaves the marker; then it names envs/locks/main.txt with its current digest
    (a lock changed since the install means the venv is stale: `make setup` rebuilds it)."""
    info = lockinfo.environment()
    if info["lock"] is None:
        pytest.skip("this venv was not installed by `make setup`")
    assert info["lock"] == "envs/locks/main.txt"
    assert info["sha256"] == lockinfo.lock_digest(REPO / "envs" / "locks" / "main.txt")
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))


def test_environments_name_tool_envs_and_images():
    records = [
        {"environment": {"lock": "a", "sha256": "1"}, "tool_environments": {"/x/bin/mo": {"lock": "b", "sha256": "2"}}},
        {"environment": {"lock": "a", "sha256": "1"}, "toolchain": {"target": "rvc2", "runtime": "docker", "image": "i", "image_id": "sha256:9", "image_versions": "LOCK_SHA256=3"}},
    ]
    env = environments(records)
    assert env["edgeconv"] == {"lock": "a", "sha256": "1"}
    assert env["tools"]["/x/bin/mo"]["sha256"] == "2"
    assert env["tools"]["rvc2 image"] == {"image": "i", "image_id": "sha256:9", "image_versions": "LOCK_SHA256=3"}


def test_provenance_follows_parent_links_and_content(tmp_path, monkeypatch):
    inputs = _inputs(tmp_path, True, monkeypatch)
    records = Path("results/intermediate/m/records")
    convert = json.loads((records / "convert_ir.json").read_text())
    assert convert["parents"] == {"onnx": str(records / "attach_normalization.json")}
    steps = [r["step"] for r in provenance({p: file_sha256(p) for p in (inputs["artifact_xml"], inputs["artifact_bin"])})]
    assert steps == ["attach_normalization", "convert_ir"]  # parents first, each record once
    # A file that no longer has the content its record names has no producer: a stale record is
    # never taken for the step that made it.
    inputs["artifact_xml"].write_text("<net changed/>")
    assert producer(inputs["artifact_xml"], file_sha256(inputs["artifact_xml"])) is None
    assert producer(Path("models/m.onnx")) is None  # the user's own file
