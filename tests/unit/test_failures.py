"""The summary of failed jobs: one line each, with the step's own error and the logs."""

from pathlib import Path

from edgeconv.failures import failed_jobs, step_error, summary

SNAKEMAKE_LOG = """\
[Tue Dec  1 05:37:18 2026]
Error in rule verify_ir:
    message: SLURM-job '18' failed, SLURM status is: 'FAILED'.
    jobid: 20
    input: results/intermediate/bad/openvino/bad.xml
    output: results/intermediate/bad/openvino/bad.verify.json
    log: {step_log}, .snakemake/slurm_logs/rule_verify_ir/bad/18.log (check log file(s) for error details)
    shell:
        edgeconv-step verify ...
        (command exited with non-zero exit code)
    external_jobid: 18
Error in rule convert_ir:
    jobid: 7
    log: {silent_log} (check log file(s) for error details)
    wildcards: model=other
Finished jobid: 10 (Rule: verify_ir)
Error in rule verify_ir:
    jobid: 20
    log: {step_log}, .snakemake/slurm_logs/rule_verify_ir/bad/18.log (check log file(s) for error details)
"""


def _logs(tmp_path: Path) -> tuple[Path, Path, Path]:
    step_log = tmp_path / "verify_ir.log"
    step_log.write_text(
        "2026-12-01 05:00:00,000 INFO edgeconv.step: step verify for bad: inputs {}\n"
        "2026-12-01 05:00:01,000 ERROR edgeconv.step: verify (bad): an old failure\n"
        "2026-12-01 05:37:00,000 INFO edgeconv.step: step verify for bad: inputs {}\n"
        "2026-12-01 05:37:01,000 ERROR edgeconv.step: verify (bad): out: max_abs_error 0.0084 > 0.0\n"
    )
    silent_log = tmp_path / "convert_ir.log"  # killed before it could write an error (e.g. out of memory)
    silent_log.write_text(
        "2026-12-01 05:00:00,000 INFO edgeconv.step: step convert_ir for other: inputs {}\n"
        "2026-12-01 05:00:01,000 ERROR edgeconv.step: convert_ir (other): a failure of an earlier run\n"
        "2026-12-01 05:37:00,000 INFO edgeconv.step: step convert_ir for other: inputs {}\n"
    )
    log = tmp_path / "run.snakemake.log"
    log.write_text(SNAKEMAKE_LOG.format(step_log=step_log, silent_log=silent_log))
    return log, step_log, silent_log


def test_each_failed_job_once_with_its_step_error_and_logs(tmp_path):
    log, step_log, silent_log = _logs(tmp_path)
    jobs = failed_jobs(log)
    assert [(j.rule, j.logs[0]) for j in jobs] == [("verify_ir", str(step_log)), ("convert_ir", str(silent_log))]
    lines = summary([str(log)]).splitlines()
    assert lines[0] == "edgeconv: 2 job(s) failed:"
    assert lines[1] == (f"  verify_ir: verify (bad): out: max_abs_error 0.0084 > 0.0 "
                        f"(log: {step_log}, .snakemake/slurm_logs/rule_verify_ir/bad/18.log)")
    # No error of this run in its log: not an old one; the wildcards say which model.
    assert lines[2] == f"  convert_ir [model=other]: failed before its step wrote an error (log: {silent_log})"


def test_the_last_run_of_a_step_decides(tmp_path):
    _, step_log, silent_log = _logs(tmp_path)
    assert step_error(step_log) == "verify (bad): out: max_abs_error 0.0084 > 0.0"
    assert step_error(silent_log) is None
    assert step_error(tmp_path / "missing.log") is None


def test_out_of_memory_kills_of_the_run_are_said_after_the_failed_jobs(tmp_path):
    """A step the kernel's OOM killer ends writes no error: the summary says the run had OOM kills."""
    log, _, silent_log = _logs(tmp_path)
    lines = summary([str(log)], oom_kills=1).splitlines()
    assert lines[2].startswith("  convert_ir [model=other]: failed before its step wrote an error")
    assert lines[3].startswith("edgeconv: the kernel's out-of-memory killer ended 1 process(es) of this run: "
                               "a job that stopped without an error of its own (exit status 137) ran out of memory")
    assert "out-of-memory" not in summary([str(log)], oom_kills=0)


def test_no_error_blocks_points_to_the_log(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("Building DAG of jobs...\n")
    assert summary(log) == f"edgeconv: the run failed; see {log}"


GROUP_LOG = """\
[Sun Dec  6 01:10:57 2026]
    message: Error in group chain
    log: {job_log} (check log file(s)
 for error details)
    jobs:
        rule attach_normalization:
            jobid: 22
            log: logs/bad/attach_normalization.log (check log file(s) for error details)
        rule verify_ir:
            jobid: 20
            log: {step_log} (check log file(s) for error details)
"""

CLUSTER_JOB_LOG = """\
localrule verify_ir:
error: verify (bad): out: max_abs_error 0.0084 > 0.0
[Sun Dec  6 01:10:52 2026]
Error in rule verify_ir:
    message: None
    jobid: 0
    log: {step_log} (check log file(s) for error details)
Exiting because a job execution failed. Look above for error messages
    Error in rule attach_normalization:
        message: None
        log: logs/bad/attach_normalization.log (check log file(s) for error details)
"""


def test_a_failed_group_job_names_the_step_that_failed_in_it(tmp_path):
    """A cluster job holds several models' chains (group: chain): Snakemake's own log lists every
    step of the group as failed; the summary names the one that did fail, from the job's log."""
    _, step_log, _ = _logs(tmp_path)
    job_log = tmp_path / "slurm_logs" / "group_chain" / "1.log"
    job_log.parent.mkdir(parents=True)
    job_log.write_text(CLUSTER_JOB_LOG.format(step_log=step_log))
    log = tmp_path / "main.snakemake.log"
    log.write_text(GROUP_LOG.replace("(check log file(s)\n for", "(check log file(s) for").format(
        job_log=job_log, step_log=step_log))
    lines = summary(log).splitlines()
    assert lines == ["edgeconv: 1 job(s) failed:",
                     f"  verify_ir: verify (bad): out: max_abs_error 0.0084 > 0.0 (log: {step_log}, {job_log})"]


def test_jobs_of_one_rule_with_the_same_error_share_one_line(tmp_path):
    """A superblob's shave variants that the compiler refuses for one reason: one line, not sixteen."""
    blocks, logs = [], []
    for shaves in (2, 4, 6):
        step_log = tmp_path / f"compile_blob_{shaves}shave.log"
        step_log.write_text("2026-12-01 05:00:00,000 INFO edgeconv.step: step compile_blob for m: inputs {}\n"
                            "2026-12-01 05:00:01,000 ERROR edgeconv.step: compile_blob (m): Subtract is not taken\n")
        blocks.append(f"Error in rule compile_blob_variant:\n    jobid: {shaves}\n"
                      f"    log: {step_log} (check log file(s) for error details)\n")
        logs.append(step_log)
    log = tmp_path / "run.snakemake.log"
    log.write_text("".join(blocks) + "Error in rule verify_ir:\n    jobid: 9\n    log: other.log (check log file(s) for error details)\n"
                   "    wildcards: model=n\n")
    lines = summary([str(log)]).splitlines()
    assert lines == [
        "edgeconv: 4 job(s) failed:",
        f"  compile_blob_variant (3 jobs, the same error): compile_blob (m): Subtract is not taken (log: {logs[0]}, and 2 more)",
        "  verify_ir [model=n]: failed before its step wrote an error (log: other.log)",
    ]
