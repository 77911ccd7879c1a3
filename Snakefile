# edgeconv: convert ONNX models for Luxonis cameras and OpenVINO, one rule per step.
# Layout: workflow/rules/<stage>.smk holds the rules, src/edgeconv/steps/<step>.py the code of each step.
import sys
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from edgeconv.config.matrix import check_matrix, origin_of
from edgeconv.errors import ConfigError
from edgeconv.tools import oom_kills, oom_kills_since

min_version("9.0")

OOM_KILLS_AT_START = oom_kills()  # this run's memory cgroup (onerror below)
RUN_STARTED = time.time()  # the step records this run writes (onsuccess, onerror)


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# The build matrix against workflow/schemas/config.schema.yaml, defaults filled in: a problem stops
# the run here, one line per key, naming the file or --config it came from (edgeconv.config.matrix).
try:
    check_matrix(
        config,
        Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
        origin_of(
            [str(f) for f in workflow.configfiles],
            [str(f) for f in workflow.overwrite_configfiles],
            workflow.config_settings.config,
        ),
    )
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise WorkflowError("stopped before any job ran: fix the error above") from None


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/remote.smk"
include: "workflow/rules/onnx.smk"
include: "workflow/rules/calibration.smk"
include: "workflow/rules/openvino.smk"
include: "workflow/rules/qnn_htp.smk"
include: "workflow/rules/verify.smk"
include: "workflow/rules/nn_archive.smk"
include: "workflow/rules/vendor_onnx.smk"
include: "workflow/rules/rvc2.smk"
include: "workflow/rules/rvc3.smk"
include: "workflow/rules/rvc4.smk"
include: "workflow/rules/hailo.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/analysis.smk"


rule all:
    default_target: True
    input:
        all_targets,


# fetch_demo_model runs on the submitting host: compute nodes often have no internet.
localrules:
    fetch_demo_model,


onsuccess:
    recap_warnings()


onerror:
    # The warnings of the steps that ran; one line per failed job with its step's own error and log,
    # wherever the job ran; and the out-of-memory kills of the run, which leave a step no chance to
    # write its error.
    from edgeconv.failures import summary

    recap_warnings()
    print(summary(log, oom_kills_since(OOM_KILLS_AT_START)), file=sys.stderr)
