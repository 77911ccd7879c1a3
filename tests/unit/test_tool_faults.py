"""Vendor tools that hang, crash or lie (tests/doubles/misbehaving_tool): a time limit that ends the
whole process group, a signal named as a signal, an output that exits 0 but is not what it claims."""

import os
import time
from pathlib import Path

import pytest

from edgeconv.errors import ConversionError
from edgeconv.tools import run_tool, use_toolchain

DOUBLE = Path(__file__).resolve().parents[1] / "doubles" / "misbehaving_tool"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead: only its parent has not read its status yet.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_a_hanging_tool_is_stopped_at_its_limit_with_its_children(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    monkeypatch.setenv("EDGECONV_TEST_FAULT", "hang")
    monkeypatch.setenv("EDGECONV_TEST_PIDS", str(pids))
    use_toolchain({"target": "rvc2", "timeout": 3})
    started = time.monotonic()
    with pytest.raises(ConversionError) as exc:
        run_tool([str(DOUBLE), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)")
    assert time.monotonic() - started < 20
    assert str(exc.value).startswith("compile_tool (MYRIAD) did not finish within 3 s (toolchains.rvc2.timeout)")
    tool, child = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(tool) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(tool) and not _alive(child)  # nothing left running
    use_toolchain(None)


def test_a_tool_killed_by_a_signal_is_named_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_TEST_FAULT", "segv")
    use_toolchain(None)
    with pytest.raises(ConversionError, match=r"^compile_tool \(MYRIAD\) was killed by SIGSEGV \(signal 11\)"):
        run_tool([str(DOUBLE), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)")


def test_a_tool_that_asks_a_question_gets_no_answer_instead_of_waiting(tmp_path):
    """As in a Snakemake job started from a terminal: stdin open and silent. The tool reads
    end-of-file at once and fails with its own message; no time limit is needed to end it."""
    import subprocess
    import sys

    code = (
        "import sys; from edgeconv.tools import run_tool, use_toolchain; "
        "use_toolchain({'target': 'rvc2', 'timeout': 60}); "
        f"run_tool([{str(DOUBLE)!r}, '-o', {str(tmp_path / 'x.blob')!r}], 'compile_tool (MYRIAD)')"
    )
    started = time.monotonic()
    with open(tmp_path / "err", "w") as err_file, subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file,
        env={**os.environ, "EDGECONV_TEST_FAULT": "prompt"},
    ) as run:
        try:
            run.wait(timeout=40)  # stdin stays open and silent meanwhile
        finally:
            run.kill()
    err = (tmp_path / "err").read_text()
    assert time.monotonic() - started < 30
    assert run.returncode != 0
    assert "compile_tool (MYRIAD) failed (exit 1): " in err and "no answer on stdin" in err, err[-1500:]
    assert "did not finish" not in err


def test_what_a_tool_leaves_running_is_ended_and_not_waited_for(tmp_path, monkeypatch):
    """A tool that exits 0 but leaves a helper holding its output open: the step goes on at once
    (not at the time limit), and the helper does not outlive it."""
    pids = tmp_path / "pids"
    monkeypatch.setenv("EDGECONV_TEST_FAULT", "daemon")
    monkeypatch.setenv("EDGECONV_TEST_PIDS", str(pids))
    use_toolchain({"target": "rvc2", "timeout": 120})
    started = time.monotonic()
    result = run_tool([str(DOUBLE), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)")
    assert time.monotonic() - started < 30
    assert result["returncode"] == 0 and (tmp_path / "x.blob").read_bytes() == b"blob"
    helper = int(pids.read_text())
    deadline = time.monotonic() + 5
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(helper)
    use_toolchain(None)


def _memory_budget(monkeypatch, head: int, tail: int) -> None:
    """A small budget for a tool's output in memory, so that a test can see it hold."""
    from edgeconv.tools import _KeptOutput

    monkeypatch.setattr(_KeptOutput, "HEAD_CHARS", head)
    monkeypatch.setattr(_KeptOutput, "TAIL_CHARS", tail)
    use_toolchain(None)


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "tool"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_tool_that_writes_without_end_is_kept_in_memory_only_at_its_ends(tmp_path, capsys, monkeypatch):
    """Every line reaches the step log; an error quotes the last ones; memory holds a bounded part."""
    _memory_budget(monkeypatch, 1000, 10_000)
    with pytest.raises(ConversionError, match=r"failed \(exit 3\): ERROR: out of patience") as exc:
        run_tool([_script(tmp_path, "seq 1 100000\necho 'ERROR: out of patience'\nexit 3")], "chatty")
    logged = capsys.readouterr().out
    assert "\n99999\n100000\n" in logged and "\n50000\n" in logged  # all of it in the log
    kept = exc.value.tool_output
    assert "\n50000\n" not in kept and kept.startswith("1\n2\n") and "100000\nERROR" in kept
    assert "lines, in the step log" in kept and len(kept) < 12_000


def test_a_progress_bar_that_never_ends_its_line_is_kept_bounded(tmp_path, monkeypatch):
    _memory_budget(monkeypatch, 100_000, 200_000)
    body = "for i in $(seq 1 300000); do printf '\\r%06d' $i; done\necho\necho 'ERROR: done badly'\nexit 4"
    with pytest.raises(ConversionError, match=r"failed \(exit 4\): ERROR: done badly") as exc:
        run_tool([_script(tmp_path, body)], "progress")
    kept = exc.value.tool_output
    # 2.1 MB written in one "line": kept in pieces, its start and its end only.
    assert kept.startswith("\r000001") and "\r300000" in kept and len(kept) < 100_000 + 200_000 + 2 * (1 << 16)


def test_a_containers_output_in_chunks_is_kept_by_line_at_its_ends(monkeypatch):
    from edgeconv.tools import _KeptOutput

    _memory_budget(monkeypatch, 1000, 10_000)
    kept = _KeptOutput()
    text = "".join(f"line {i:05d}\n" for i in range(30000)) + "ERROR: last words"
    for start in range(0, len(text), 777):  # chunks that end anywhere, as a container's stream does
        kept.write(text[start:start + 777])
    out = kept.text()
    assert out.startswith("line 00000\nline 00001\n") and out.endswith("line 29999\nERROR: last words")
    assert "line 00100\n" not in out and "line 15000\n" not in out and "line 29200\n" in out
    assert "lines, in the step log" in out and len(out) < 12_000


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: (p.write_text("#!/bin/sh\necho hi\n"), p.chmod(0o644)), "permission denied: make it executable"),
        (lambda p: (p.write_text("#!/nonexistent/interpreter\n"), p.chmod(0o755)), "the interpreter on its #! line"),
        (lambda p: (p.write_bytes(b"\x7fELF not a program"), p.chmod(0o755)), "not a program this machine can run"),
        (lambda p: None, "it is gone"),
    ],
    ids=["not-executable", "bad-interpreter", "not-a-program", "gone"],
)
def test_a_tool_the_system_cannot_start_is_named_with_why(tmp_path, make, says):
    tool = tmp_path / "compile_tool"
    make(tool)
    use_toolchain({"target": "rvc2"})
    with pytest.raises(ConversionError) as exc:
        run_tool([str(tool), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)")
    assert str(exc.value).startswith(f"compile_tool (MYRIAD) could not be started ({tool}): ")
    assert says in str(exc.value)
    use_toolchain(None)


def test_the_default_limit_is_generous():
    from edgeconv.tools import DEFAULT_TIMEOUT_S

    assert DEFAULT_TIMEOUT_S >= 6 * 3600


def test_a_tool_ended_by_sigkill_is_not_called_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_TEST_FAULT", "sigkill")
    use_toolchain(None)
    with pytest.raises(ConversionError) as exc:
        run_tool([str(DOUBLE), "-o", str(tmp_path / "x.blob")], "compile_tool (MYRIAD)")
    assert str(exc.value).startswith("compile_tool (MYRIAD) was killed by SIGKILL (signal 9) from outside the tool: "
                                     "most often the kernel's out-of-memory killer")
    assert "crashed" not in str(exc.value)


def _memory_cgroup_v1() -> Path | None:
    """This process's cgroup v1 memory directory when a child can be made there (root), else None."""
    from edgeconv.tools import oom_kills

    line = next((x for x in Path("/proc/self/cgroup").read_text().splitlines() if ":memory:" in x), None)
    if line is None or oom_kills() is None:
        return None
    here = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/")
    return here if os.access(here, os.W_OK) else None


def test_a_tool_the_out_of_memory_killer_ends_is_said_to_need_memory(tmp_path):
    """A real OOM kill: the step runs in a memory cgroup of 200 MB, the tool takes memory until the
    kernel ends it; the error says it ran out of memory, not that it crashed."""
    import subprocess
    import sys

    parent = _memory_cgroup_v1()
    if parent is None:
        pytest.skip("no writable cgroup v1 memory hierarchy here (a real OOM kill needs a memory limit of its own)")
    group = parent / f"edgeconv-test-oom-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(200 << 20))
        code = (
            "import os, sys; from pathlib import Path; "
            f"Path({str(group / 'cgroup.procs')!r}).write_text(str(os.getpid())); "
            "from edgeconv.tools import run_tool, use_toolchain; from edgeconv.errors import ConversionError\n"
            "use_toolchain(None)\n"
            "try:\n"
            f"    run_tool([{str(DOUBLE)!r}, '-o', {str(tmp_path / 'x.blob')!r}], 'compile_tool (MYRIAD)')\n"
            "except ConversionError as exc:\n"
            "    print('ERROR', exc, file=sys.stderr)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "EDGECONV_TEST_FAULT": "memory"})
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("ERROR")), proc.stderr[-1500:])
    assert line.startswith("ERROR compile_tool (MYRIAD) ran out of memory: the kernel's out-of-memory killer ended it "
                           "with SIGKILL (signal 9)"), line
    assert "--resources mem_mb" in line


@pytest.mark.parametrize("v1", [True, False])
def test_the_out_of_memory_count_is_read_from_cgroup_v1_and_v2(tmp_path, v1):
    from edgeconv.tools import oom_kills

    proc = tmp_path / "cgroup"
    if v1:
        proc.write_text("5:cpu:/\n4:memory:/jobs/step\n0::/\n")
        where = tmp_path / "memory" / "jobs" / "step" / "memory.oom_control"
        where.parent.mkdir(parents=True)
        where.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    else:
        proc.write_text("0::/user.slice/job\n")
        where = tmp_path / "user.slice" / "job" / "memory.events"
        where.parent.mkdir(parents=True)
        where.write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert oom_kills(proc, tmp_path) == (3 if v1 else 1)
    where.unlink()
    assert oom_kills(proc, tmp_path) is None
    assert oom_kills(tmp_path / "missing", tmp_path) is None
