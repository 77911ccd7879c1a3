# The qnn_htp target: RVC4's Hexagon HTP through onnxruntime-qnn, without SNPE or a device.
# QDQ quantization (onnxruntime) -> offline HTP context binary (onnxruntime-qnn) -> verified in
# the HTP simulator. DepthAI on RVC4 loads .dlc (the rvc4 target); this serves onnxruntime-qnn
# deployments and measures quantization accuracy on this machine.


# rvc4.accuracy_control: the fewest 16-bit tensors that meet verify.qnn_htp on held-back
# samples; its encodings feed quantize_qdq and (for rvc4) snpe-onnx-to-dlc.
rule htp_accuracy_control:
    input:
        unpack(user_encodings_input),
        onnx=f"{INTERMEDIATE}/simplified.onnx",
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        encodings=f"{INTERMEDIATE}/qnn_htp/accuracy_control.encodings.json",
        record=f"{RECORDS}/htp_accuracy_control.json",
    log:
        f"{LOGS}/htp_accuracy_control.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(1500, 4),
    params:
        spec=step_params("htp_accuracy_control"),
        inputs=input_args,
    shell:
        "edgeconv-step htp_accuracy_control {params.inputs} --output encodings={output.encodings}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule quantize_qdq:
    input:
        unpack(qdq_inputs),
    output:
        onnx=droppable(f"{INTERMEDIATE}/qnn_htp/{{model}}.quant.onnx"),
        record=f"{RECORDS}/quantize_qdq.json",
    log:
        f"{LOGS}/quantize_qdq.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    # Multi-threaded (NNCF, onnxruntime use every core they see): two cores reserved, so that
    # `--cores 2` runs nothing beside it (Snakemake lowers it to --cores when fewer).
    threads: 2
    resources:
        mem_mb=mem_mb(1200, 3),
    params:
        spec=step_params("quantize_qdq"),
        inputs=input_args,
    shell:
        "edgeconv-step quantize_qdq {params.inputs} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule compile_htp:
    input:
        onnx=f"{INTERMEDIATE}/qnn_htp/{{model}}.quant.onnx",
    output:
        ctx=droppable(f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx.onnx"),
        bin=droppable(f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx_qnn.bin"),
        record=f"{RECORDS}/compile_htp.json",
    log:
        f"{LOGS}/compile_htp.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    # Multi-threaded (NNCF, onnxruntime use every core they see): two cores reserved, so that
    # `--cores 2` runs nothing beside it (Snakemake lowers it to --cores when fewer).
    threads: 2
    resources:
        mem_mb=mem_mb(600, 2),
    params:
        spec=step_params("compile_htp"),
    shell:
        "edgeconv-step compile_htp --input onnx={input.onnx} --output ctx={output.ctx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule verify_htp:
    input:
        artifact=f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx.onnx",
        bin=f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx_qnn.bin",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report=f"{INTERMEDIATE}/qnn_htp/{{model}}.verify.json",
    log:
        f"{LOGS}/verify_htp.log",
    benchmark:
        f"{BENCH}/verify_htp.tsv"
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(600, 1.5),
    params:
        spec=step_params("verify", kind="qnn_htp"),
    shell:
        "edgeconv-step verify --input artifact={input.artifact} --input original={input.original}"
        " --input calibration={input.calibration} --output report={output.report}"
        " --params {params.spec:q} --log {log}"


rule publish_htp:
    input:
        artifact_ctx=f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx.onnx",
        artifact_bin=f"{INTERMEDIATE}/qnn_htp/{{model}}.ctx_qnn.bin",
        artifact_qdq=f"{INTERMEDIATE}/qnn_htp/{{model}}.quant.onnx",
        verify=f"{INTERMEDIATE}/qnn_htp/{{model}}.verify.json",
    output:
        ctx=f"{RESULTS}/qnn_htp/{{model}}.ctx.onnx",
        bin=f"{RESULTS}/qnn_htp/{{model}}.ctx_qnn.bin",
        qdq=f"{RESULTS}/qnn_htp/{{model}}.quant.onnx",
        verify=f"{RESULTS}/qnn_htp/{{model}}.verify.json",
        buildinfo=f"{RESULTS}/qnn_htp/{{model}}.buildinfo.json",
    log:
        f"{LOGS}/publish_htp.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"
