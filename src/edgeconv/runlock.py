"""Recover from a crashed run by itself, and never break into a live one.

A run killed hard (SIGKILL, a lost node, a job's time limit) leaves Snakemake's locks in
``.snakemake/locks/`` and its in-progress outputs marked incomplete. Snakemake cannot tell a stale
lock from a live run's, so it asks the user to ``--unlock``. This module tells them apart with an
operating-system lock that dies with its process: every run of the workflow (the main Snakemake
process, and ``edgeconv convert``) holds ``.snakemake/edgeconv/run.lock`` shared for its whole
life. Whoever gets it exclusively knows that no run is live in the directory, so Snakemake's
remaining locks are stale and are removed. Incomplete outputs are rerun by ``rerun-incomplete`` in
the workflow profile (profiles/default). Runs that overlap a live run still stop at Snakemake's own
lock check, before any job starts.

The lock is ``flock(2)``: on NFSv4 and other file systems that carry it, it works between hosts too.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

STATE = Path(".snakemake") / "edgeconv"


class LiveRun(Exception):
    """Another run of the workflow is going on in the directory."""


@dataclass
class Run:
    """This process's hold on the run lock (released by the kernel when the process ends)."""

    fd: int
    cleared: list[str] = field(default_factory=list)


def _runs(workdir: Path) -> Path:
    return workdir / STATE / "runs"


def live_runs(workdir: Path) -> list[str]:
    """``pid: command`` of every run that said it started here and whose process is alive."""
    found = []
    for info in sorted(_runs(workdir).glob("*")):
        try:
            pid = int(info.name)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            continue
        except PermissionError:  # alive, another user's
            pass
        found.append(f"pid {pid}: {info.read_text(errors='replace').strip()[:120]}")
    return found


def _open(workdir: Path) -> int:
    (workdir / STATE).mkdir(parents=True, exist_ok=True)
    return os.open(workdir / STATE / "run.lock", os.O_RDWR | os.O_CREAT, 0o664)


def _exclusive(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def clear_stale(workdir: Path) -> list[str]:
    """Remove what dead runs left: Snakemake's locks and the runs' notes. Call only while holding
    the run lock exclusively."""
    cleared = []
    for lock in sorted((workdir / ".snakemake" / "locks").glob("*.lock")):
        lock.unlink(missing_ok=True)
        cleared.append(str(lock))
    for info in _runs(workdir).glob("*"):
        info.unlink(missing_ok=True)
    return cleared


def _announce(workdir: Path) -> None:
    runs = _runs(workdir)
    runs.mkdir(parents=True, exist_ok=True)
    note = runs / str(os.getpid())
    note.write_text(shlex.join(sys.argv) + "\n")
    atexit.register(note.unlink, missing_ok=True)


def enter(workdir: Path | str = ".") -> Run:
    """Join the runs of ``workdir``: clear what dead runs left when no other run is live, then hold
    the lock shared for the rest of this process's life (other live runs may share it)."""
    workdir = Path(workdir)
    fd = _open(workdir)
    cleared = clear_stale(workdir) if _exclusive(fd) else []
    fcntl.flock(fd, fcntl.LOCK_SH)  # from exclusive: a downgrade; otherwise waits out a clear
    _announce(workdir)
    return Run(fd, cleared)


def enter_alone(workdir: Path | str = ".") -> Run:
    """As :func:`enter`, but refuse (:class:`LiveRun`) when another run is live in ``workdir``."""
    workdir = Path(workdir)
    fd = _open(workdir)
    if not _exclusive(fd):
        os.close(fd)
        who = "; ".join(live_runs(workdir)) or "a process that holds .snakemake/edgeconv/run.lock"
        raise LiveRun(
            f"another run is converting in {workdir.resolve()} ({who}): wait for it to finish,"
            " or run from another directory"
        )
    cleared = clear_stale(workdir)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _announce(workdir)
    return Run(fd, cleared)
