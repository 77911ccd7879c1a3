"""The summary at the end of a run that had failures: one line per failed job, with its step's own
one-line error and its log, the same whether the job ran here or on a cluster node (Snakefile,
``onerror``). Read from Snakemake's log of the run and from each failed job's step log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(r"^Error in rule (\w+):\s*$")
# A cluster job that ran a group of steps (group: chain): Snakemake's log names the job's own log,
# where the node's Snakemake wrote the "Error in rule" block of the step that failed.
_GROUP = re.compile(r"^(?:Error in group \S+:|\s+message: Error in group \S+)\s*$")
_LOG = re.compile(r"^\s+log: (.*) \(check log file\(s\) for error details\)\s*$")
_MESSAGE = re.compile(r"^\s+message: (.*)$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
_STEP_START = re.compile(r" INFO edgeconv\.step: step \w+ for ")
_STEP_ERROR = re.compile(r" ERROR edgeconv\.step: (.*)$")


@dataclass
class Failure:
    rule: str
    logs: list[str]
    message: str = ""
    wildcards: str = ""

    def parts(self) -> tuple[str, str, str]:
        """(the rule, with its wildcards when the step wrote no error; the error; its logs)."""
        error = next((e for e in map(step_error, self.logs) if e), None)
        what = error or self.message or "failed before its step wrote an error"
        where = ", ".join(self.logs) or "no log"
        label = f"{self.rule} [{self.wildcards}]" if self.wildcards and not error else self.rule
        return label, what, where


def grouped_lines(failures: list[Failure]) -> list[str]:
    """One line per failure; jobs of one rule that failed with the very same error (a superblob's
    shave variants: one model, one compiler message) share one line, with their count and first log."""
    groups: dict[tuple[str, str], list[str]] = {}
    for failure in failures:
        label, what, where = failure.parts()
        groups.setdefault((label, what), []).append(where)
    out = []
    for (label, what), wheres in groups.items():
        if len(wheres) == 1:
            out.append(f"  {label}: {what} (log: {wheres[0]})")
        else:
            out.append(f"  {label} ({len(wheres)} jobs, the same error): {what} "
                       f"(log: {wheres[0]}, and {len(wheres) - 1} more)")
    return out


def failed_jobs(snakemake_log: Path, _seen_logs: frozenset[Path] = frozenset()) -> list[Failure]:
    """Every "Error in rule" block of a Snakemake log, in order, once per log file; for a failed
    group job, the blocks of the log its cluster job wrote."""
    failures: list[Failure] = []
    current: Failure | None = None
    group_logs: list[Path] | None = None
    nested: list[Path] = []
    for line in snakemake_log.read_text(errors="replace").splitlines():
        m = _BLOCK.match(line)
        if m:
            current, group_logs = Failure(m.group(1), []), None
            failures.append(current)
            continue
        if _GROUP.match(line):
            current, group_logs = None, nested
            continue
        if group_logs is not None:
            if not line.startswith(" ") or line.startswith("    jobs:"):
                group_logs = None  # the group's own log comes before the list of its steps
            elif m := _LOG.match(line):
                group_logs += [Path(p.strip()) for p in m.group(1).split(",") if p.strip()]
            continue
        if current is None:
            continue
        if not line.startswith(" "):
            current = None
            continue
        if m := _LOG.match(line):
            current.logs += [p.strip() for p in m.group(1).split(",") if p.strip()]
        elif (m := _MESSAGE.match(line)) and m.group(1).strip() != "None":
            current.message = current.message or m.group(1).strip()
        elif m := _WILDCARDS.match(line):
            current.wildcards = m.group(1).strip()
    seen_logs = _seen_logs | {snakemake_log.resolve()}
    for log in nested:
        if log.is_file() and log.resolve() not in seen_logs:
            for inner in failed_jobs(log, seen_logs):
                inner.logs.append(str(log))  # the cluster job's log, after the step's own
                failures.append(inner)
    seen: set[tuple[str, ...]] = set()
    unique = []
    for f in failures:  # a cluster executor may report a job twice (its own check and the job's exit)
        key = (f.rule, *f.logs) if f.logs else (f.rule, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def step_error(log: str | Path) -> str | None:
    """The one-line error of the last step run that wrote to ``log``, if it failed."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if _STEP_START.search(line)]
    for line in reversed(lines[starts[-1] if starts else 0:]):
        m = _STEP_ERROR.search(line)
        if m:
            return m.group(1).strip()
    return None


def summary(snakemake_logs: str | Path | list[str], oom_kills: int = 0) -> str:
    """What ``onerror`` prints; Snakemake gives its log as a path or a list of paths. ``oom_kills``:
    how many processes the kernel's out-of-memory killer ended in the run's memory cgroup while it
    ran (a step it ends writes no error of its own)."""
    logs = [Path(p) for p in ([snakemake_logs] if isinstance(snakemake_logs, (str, Path)) else snakemake_logs)]
    failures = [f for log in logs if log.is_file() for f in failed_jobs(log)]
    if not failures:
        lines = [f"edgeconv: the run failed; see {', '.join(map(str, logs)) or 'the messages above'}"]
    else:
        lines = [f"edgeconv: {len(failures)} job(s) failed:", *grouped_lines(failures)]
    if oom_kills > 0:
        lines.append(f"edgeconv: the kernel's out-of-memory killer ended {oom_kills} process(es) of this run: a job that "
                     "stopped without an error of its own (exit status 137) ran out of memory; give it more memory "
                     "or run fewer jobs at once (--cores, --resources mem_mb=N)")
    return "\n".join(lines)
