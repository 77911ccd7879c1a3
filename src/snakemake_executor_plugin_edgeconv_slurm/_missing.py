"""Stand-ins for snakemake-executor-plugin-slurm when it is not installed: Snakemake loads this
plugin at every start, so it must load; choosing it (profiles/slurm) stops with what to install."""

from dataclasses import dataclass, field
from typing import Optional

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

MISSING = (
    "executor edgeconv-slurm (profiles/slurm) needs snakemake-executor-plugin-slurm, which is not installed: "
    "install it from its lock with `make cluster-env` (or pip install 'edgeconv[cluster]')"
)

common_settings = CommonSettings(non_local_exec=True, implies_no_shared_fs=False, job_deploy_sources=False)


def _needs_plugin(default):
    return field(default=default, metadata={"help": "a setting of snakemake-executor-plugin-slurm (make cluster-env)"})


@dataclass
class SlurmSettings(ExecutorSettingsBase):
    # The Slurm plugin's settings that profiles/slurm sets: accepted here, so that the profile
    # reaches the message above instead of "unrecognized arguments".
    status_command: Optional[str] = _needs_plugin(None)
    no_account: bool = _needs_plugin(False)

    def __post_init__(self):
        pass


class SlurmExecutor(RemoteExecutor):
    def __init__(self, *args, **kwargs):
        raise WorkflowError(MISSING)

    def run_job(self, job):
        raise WorkflowError(MISSING)

    async def check_active_jobs(self, active_jobs):
        raise WorkflowError(MISSING)
        yield  # an async generator, as the interface expects

    def cancel_jobs(self, active_jobs):
        raise WorkflowError(MISSING)
