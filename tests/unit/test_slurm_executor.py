"""The Slurm executor of profiles/slurm (src/snakemake_executor_plugin_edgeconv_slurm): the Slurm
plugin with waits between status checks that keep pace with the jobs. The profile on a real Slurm
is tested in tests/workflow/test_slurm.py."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import snakemake_executor_plugin_edgeconv_slurm as plugin


def _slurm_plugin():
    """The Slurm plugin (envs/locks/cluster.txt, `make cluster-env`): skipped without it, unless
    EDGECONV_REQUIRE_SLURM=1 (CI installs it with `make slurm`)."""
    try:
        import snakemake_executor_plugin_slurm
    except ImportError:
        missing = "snakemake-executor-plugin-slurm is not installed (make cluster-env)"
        if os.environ.get("EDGECONV_REQUIRE_SLURM") == "1":
            pytest.fail(f"EDGECONV_REQUIRE_SLURM=1 but {missing}")
        pytest.skip(missing)
    return snakemake_executor_plugin_slurm


def test_the_wait_is_a_twentieth_of_the_quiet_time_within_its_bounds():
    assert plugin.next_interval(0.0, 1, 60) == 1
    assert plugin.next_interval(50.0, 1, 60) == 2.5
    assert plugin.next_interval(3600.0, 1, 60) == 60


def test_snakemake_finds_it_with_the_slurm_plugins_settings_and_its_own():
    _slurm_plugin()
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    found = ExecutorPluginRegistry().get_plugin("edgeconv-slurm")
    names = {f for f in found.settings_cls.__dataclass_fields__}
    assert {"status_command", "no_account", "status_interval_min", "status_interval_max"} <= names
    assert found.common_settings.non_local_exec


def test_bounds_the_wrong_way_round_are_refused():
    with pytest.raises(ValueError, match="status-interval-min"):
        plugin.ExecutorSettings(status_interval_min=30, status_interval_max=10)


def _job(jobid):
    return SimpleNamespace(external_jobid=jobid)


def test_checks_come_quickly_after_a_change_and_thin_out_while_nothing_changes(monkeypatch):
    """Each check: the Slurm plugin reports which jobs still run (a stand-in here); the next wait is
    1 s after a submission or an end, then a twentieth of the time nothing changed."""
    still_running = {}

    async def slurm_check(self, active_jobs):
        for job in active_jobs:
            if job.external_jobid in still_running:
                yield job

    monkeypatch.setattr(_slurm_plugin().Executor, "check_active_jobs", slurm_check)
    clock = [1000.0]
    monkeypatch.setattr(plugin.time, "monotonic", lambda: clock[0])
    executor = object.__new__(plugin.Executor)
    executor.workflow = SimpleNamespace(executor_settings=plugin.ExecutorSettings())

    def check(active, now):
        clock[0] = now
        still_running.clear()
        still_running.update({j: True for j in active["running"]})
        jobs = [_job(j) for j in active["submitted"]]

        async def run():
            return [j.external_jobid async for j in executor.check_active_jobs(jobs)]

        left = asyncio.run(run())
        return left, executor.next_seconds_between_status_checks

    assert check({"submitted": [], "running": []}, 1000.0) == ([], 1)  # before any job
    assert check({"submitted": ["1", "2"], "running": ["1", "2"]}, 1002.0) == (["1", "2"], 1)  # submitted
    assert check({"submitted": ["1", "2"], "running": ["1", "2"]}, 1042.0) == (["1", "2"], 2.0)  # 40 s quiet
    assert check({"submitted": ["1", "2"], "running": ["2"]}, 1046.0) == (["2"], 1)  # job 1 ended
    assert check({"submitted": ["2"], "running": ["2"]}, 1646.0) == (["2"], 30.0)  # ten minutes quiet
    assert check({"submitted": ["2"], "running": ["2"]}, 2846.0) == (["2"], 60)  # thirty minutes quiet
    assert check({"submitted": ["2", "3"], "running": ["2", "3"]}, 2906.0) == (["2", "3"], 1)  # job 3 submitted


def test_a_wait_ends_as_soon_as_snakemake_shuts_down():
    """Snakemake's shutdown sets `wait` false and joins the status-check loop: the loop's wait
    (here 30 s) must not be slept out."""
    executor = object.__new__(plugin.Executor)
    executor.wait = True
    executor.next_seconds_between_status_checks = 30

    async def run():
        async def stop():
            await asyncio.sleep(0.3)
            executor.wait = False

        started = time.monotonic()
        await asyncio.gather(executor.sleep(), stop())
        return time.monotonic() - started

    assert asyncio.run(run()) < 1.5


def test_without_the_slurm_plugin_snakemake_still_starts_and_the_executor_says_what_to_install(tmp_path):
    """Snakemake imports every installed executor plugin at each start: with the Slurm plugin
    missing, this one must load (or every snakemake command would fail), and choosing it stops
    with what to install."""
    import subprocess
    import sys

    (tmp_path / "Snakefile").write_text("rule all:\n    output: 'x'\n    shell: 'touch {output}'\n")
    # As if the Slurm plugin were not installed: not found by Snakemake's plugin search, not importable.
    hide = (
        "import sys, runpy, pkgutil; found = pkgutil.iter_modules; "
        "pkgutil.iter_modules = lambda *a: [m for m in found(*a) if not m.name.startswith('snakemake_executor_plugin_slurm')]; "
        "sys.modules['snakemake_executor_plugin_slurm'] = None; "
        "sys.argv = ['snakemake'] + sys.argv[1:]; runpy.run_module('snakemake', run_name='__main__')"
    )
    listed = subprocess.run([sys.executable, "-c", hide, "--cores", "1", "-n"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr[-2000:]
    chosen = subprocess.run([sys.executable, "-c", hide, "--executor", "edgeconv-slurm", "--jobs", "1"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert chosen.returncode != 0
    assert "needs snakemake-executor-plugin-slurm" in chosen.stderr and "make cluster-env" in chosen.stderr, chosen.stderr[-2000:]
    assert not (tmp_path / "x").exists()
    # The profile as users type it: its Slurm settings are accepted, and the same message stops it.
    profile = Path(plugin.__file__).resolve().parents[2] / "profiles" / "slurm"
    typed = subprocess.run([sys.executable, "-c", hide, "--profile", str(profile)], cwd=tmp_path,
                           capture_output=True, text=True)
    assert typed.returncode != 0 and "unrecognized arguments" not in typed.stderr, typed.stderr[-2000:]
    assert "make cluster-env" in typed.stderr, typed.stderr[-2000:]
    assert not (tmp_path / "x").exists()
