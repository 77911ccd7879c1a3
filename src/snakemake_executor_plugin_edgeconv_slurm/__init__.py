"""Snakemake's Slurm executor with status checks that keep pace with the jobs (``executor: edgeconv-slurm``).

This is ``snakemake-executor-plugin-slurm`` as it is (submission, resources, status parsing, cancel),
with two things changed: how the job runs on the node, and how long it waits between two status
checks.

On the node, the plugin's batch script starts Snakemake with its jobstep executor (``--executor
slurm-jobstep --jobs 1``), which parses the workflow and builds the job's DAG only to start, inside
``srun``, a second Snakemake that parses and builds it again and runs the steps. Here the batch
script's Snakemake runs the steps itself, on the job's CPUs (Snakemake's local executor, as the
second one did): one parse and DAG per cluster job instead of two (the node's part of a 50-model
batch took 88 s against 105 s with the jobstep executor, one run each; BENCHMARKS.md (h)). What the jobstep executor adds besides, ``srun`` for MPI and GPU steps,
none of this workflow's steps needs.

Status checks: the plugin waits
``init-seconds-before-status-checks`` and then, after every check that finds no job finished, 10 s
longer than the time before (10, 20, 30 ... s, not settable). A job of 25 s is seen done about 30 s
after it was submitted, and at the end Snakemake's shutdown sleeps out the last interval: a batch of
small models spent a third of its time waiting (BENCHMARKS.md (h)).

Here the wait is a fraction of the time since anything last changed (a job submitted or seen
ending), between ``status-interval-min`` and ``status-interval-max`` seconds: checks come quickly
while jobs are short and young, and thin out to one a minute once nothing has changed for ten
minutes (for a job of an hour, about 150 ``squeue`` calls, each for all of the run's jobs; the
plugin makes about 30). A job is seen done within a twentieth of its run time (BENCHMARKS.md (h)),
and at the end the wait is cut short as soon as Snakemake shuts down.

Its settings are the Slurm plugin's, under this plugin's prefix (``edgeconv-slurm-status-command``
...), plus the two above. Discovered by Snakemake as any executor plugin: a top-level package named
``snakemake_executor_plugin_<name>``, installed with the project.
"""

# No `from __future__ import annotations`: the plugin interface reads the settings' types at run time.
import asyncio
import time
from dataclasses import dataclass, field

try:
    from snakemake_executor_plugin_slurm import Executor as SlurmExecutor
    from snakemake_executor_plugin_slurm import ExecutorSettings as SlurmSettings
    from snakemake_executor_plugin_slurm import common_settings  # noqa: F401  (the plugin interface reads it)
except ImportError:
    # Snakemake imports every installed executor plugin at each start: without the Slurm plugin
    # (make cluster-env), this one must still load, and says what is missing only when chosen.
    from ._missing import SlurmExecutor, SlurmSettings, common_settings  # noqa: F401

# The wait after a check is this fraction of the time since the set of active jobs last changed.
QUIET_FRACTION = 0.05
# How often a wait looks whether Snakemake is shutting down.
SLICE_S = 0.2


@dataclass
class ExecutorSettings(SlurmSettings):
    status_interval_min: int = field(
        default=1,
        metadata={"help": "Shortest wait between two job status checks, in seconds (just after a job "
                  "was submitted or ended)."},
    )
    status_interval_max: int = field(
        default=60,
        metadata={"help": "Longest wait between two job status checks, in seconds (jobs that have run for "
                  "twenty times as long). Keep it well below the cluster's MinJobAge when following jobs with squeue."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.status_interval_min <= self.status_interval_max:
            raise ValueError(
                f"edgeconv-slurm: status-interval-min ({self.status_interval_min}) must be at least 1 and at most "
                f"status-interval-max ({self.status_interval_max})"
            )


def next_interval(quiet_for: float, shortest: float, longest: float) -> float:
    """Seconds until the next status check, when nothing has changed for ``quiet_for`` seconds."""
    return min(longest, max(shortest, quiet_for * QUIET_FRACTION))


class Executor(SlurmExecutor):
    _watched: frozenset = frozenset()
    _changed_at: float | None = None  # when the set of active jobs last changed (None: no check yet)

    async def sleep(self):
        # Snakemake's shutdown waits for the status-check loop to notice that it should stop: wake
        # every SLICE_S to look, instead of sleeping out the whole wait after the last job ended.
        end = time.monotonic() + self.next_seconds_between_status_checks
        while self.wait and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(SLICE_S, left))

    def additional_general_args(self):
        # The node's Snakemake runs the job's steps itself (local executor, the job's --cores): no
        # jobstep executor, whose Snakemake would start a second one in srun (module docstring).
        return ""

    async def check_active_jobs(self, active_jobs):
        running = []
        async for job in super().check_active_jobs(active_jobs):
            running.append(job)
            yield job
        now = time.monotonic()
        watched = frozenset(j.external_jobid for j in running)
        submitted = frozenset(j.external_jobid for j in active_jobs)
        if self._changed_at is None or watched != self._watched or submitted != self._watched:
            self._changed_at = now  # the first check, or a job was submitted or seen ending since the last
        self._watched = watched
        settings = self.workflow.executor_settings
        self.next_seconds_between_status_checks = next_interval(
            now - self._changed_at, settings.status_interval_min, settings.status_interval_max
        )
