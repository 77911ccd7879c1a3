# Verification of every artifact that runs on this machine against the original model, and the
# publish rules: an artifact reaches results/<target>/ only when its verification passed, with
# its buildinfo.json (the chain of step records that made it). A failed check keeps its report
# as results/intermediate/<model>/.../<artifact>.verify.failed.json and publishes nothing.


# The ONNX stages of a chain in one job: the original runs once on the samples for all three.
rule verify_onnx_stages:
    input:
        artifact_normalized=f"{INTERMEDIATE}/normalized.onnx",
        artifact_optimized=f"{INTERMEDIATE}/optimized.onnx",
        artifact_simplified=f"{INTERMEDIATE}/simplified.onnx",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report_normalized=f"{INTERMEDIATE}/normalized.verify.json",
        report_optimized=f"{INTERMEDIATE}/optimized.verify.json",
        report_simplified=f"{INTERMEDIATE}/simplified.verify.json",
    log:
        f"{LOGS}/verify_onnx_stages.log",
    benchmark:
        f"{BENCH}/verify_onnx_stages.tsv"
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(600, 1.5),
    params:
        spec=step_params("verify", kind="onnx"),
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step verify {params.inputs} {params.outputs} --params {params.spec:q} --log {log}"


rule verify_ir:
    input:
        artifact=f"{INTERMEDIATE}/openvino/{{model}}.xml",
        artifact_bin=f"{INTERMEDIATE}/openvino/{{model}}.bin",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report=f"{INTERMEDIATE}/openvino/{{model}}.verify.json",
    log:
        f"{LOGS}/verify_ir.log",
    benchmark:
        f"{BENCH}/verify_ir.tsv"
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(600, 1.5),
    params:
        spec=step_params("verify", kind="openvino_fp16"),
    shell:
        "edgeconv-step verify --input artifact={input.artifact} --input original={input.original}"
        " --input calibration={input.calibration} --output report={output.report}"
        " --params {params.spec:q} --log {log}"


use rule verify_ir as verify_ir_int8 with:
    input:
        artifact=f"{INTERMEDIATE}/openvino/{{model}}.int8.xml",
        artifact_bin=f"{INTERMEDIATE}/openvino/{{model}}.int8.bin",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report=f"{INTERMEDIATE}/openvino/{{model}}.int8.verify.json",
    log:
        f"{LOGS}/verify_ir_int8.log",
    benchmark:
        f"{BENCH}/verify_ir_int8.tsv"
    params:
        spec=step_params("verify", kind="openvino_int8"),


rule publish_ir:
    input:
        artifact_xml=f"{INTERMEDIATE}/openvino/{{model}}.xml",
        artifact_bin=f"{INTERMEDIATE}/openvino/{{model}}.bin",
        verify=f"{INTERMEDIATE}/openvino/{{model}}.verify.json",
    output:
        xml=f"{RESULTS}/openvino/{{model}}.xml",
        bin=f"{RESULTS}/openvino/{{model}}.bin",
        verify=f"{RESULTS}/openvino/{{model}}.verify.json",
        buildinfo=f"{RESULTS}/openvino/{{model}}.buildinfo.json",
    log:
        f"{LOGS}/publish_ir.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"


use rule publish_ir as publish_ir_int8 with:
    input:
        artifact_xml=f"{INTERMEDIATE}/openvino/{{model}}.int8.xml",
        artifact_bin=f"{INTERMEDIATE}/openvino/{{model}}.int8.bin",
        verify=f"{INTERMEDIATE}/openvino/{{model}}.int8.verify.json",
    output:
        xml=f"{RESULTS}/openvino/{{model}}.int8.xml",
        bin=f"{RESULTS}/openvino/{{model}}.int8.bin",
        verify=f"{RESULTS}/openvino/{{model}}.int8.verify.json",
        buildinfo=f"{RESULTS}/openvino/{{model}}.int8.buildinfo.json",
    log:
        f"{LOGS}/publish_ir_int8.log",


# The batch at a glance (asked for by path: `snakemake --cores 4 results/summary.csv`): the build
# info of every artifact the matrix publishes.
rule summarize:
    input:
        unpack(
            lambda wildcards: {
                f"buildinfo_{i:04d}": f
                for i, f in enumerate(matrix_targets(wildcards))
                if f.endswith(".buildinfo.json")
            }
        ),
    output:
        csv=f"{RESULTS}/summary.csv",
        json=f"{RESULTS}/summary.json",
    log:
        "logs/summarize.log",
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
    shell:
        "edgeconv-step summarize {params.inputs} --output csv={output.csv} --output json={output.json} --log {log}"


# With `cluster_batch: N` (profiles/slurm sets it), `all` asks for these: each batch of N models is
# one connected part of the DAG, and so one cluster job (group chain) whose models run side by side
# on the job's CPUs, with the cost of a submission and of Snakemake's start paid once per batch.
rule batch_summary:
    input:
        unpack(batch_inputs),
    output:
        csv=layout.batch_summary("{batch}"),
        json=layout.batch_summary("{batch}", "json"),
    log:
        "logs/batches/{batch}.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=buildinfo_args,
    shell:
        "edgeconv-step summarize {params.inputs} --output csv={output.csv} --output json={output.json} --log {log}"
