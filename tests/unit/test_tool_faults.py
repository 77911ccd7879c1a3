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


def test_the_default_limit_is_generous():
    from edgeconv.tools import DEFAULT_TIMEOUT_S

    assert DEFAULT_TIMEOUT_S >= 6 * 3600
