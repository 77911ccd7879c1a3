# edgeconv: convert ONNX models for Luxonis cameras and OpenVINO, one rule per step.
# Layout: workflow/rules/<stage>.smk holds the rules, src/edgeconv/steps/<step>.py the code of each step.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate(config, schema="workflow/schemas/config.schema.yaml")


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


onerror:
    # One line per failed job with its step's own error and log, wherever the job ran.
    from edgeconv.failures import summary

    print(summary(log), file=sys.stderr)
