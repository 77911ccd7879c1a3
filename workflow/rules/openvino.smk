# The open target: OpenVINO IR with FP16 weights, and an INT8 IR quantized with NNCF. Both are
# built under results/intermediate/<model>/openvino/ and reach results/openvino/ only through
# their publish rule (verify.smk) once their verification passed.


rule convert_ir:
    input:
        onnx=f"{INTERMEDIATE}/simplified.onnx",
    output:
        xml=droppable(f"{INTERMEDIATE}/openvino/{{model}}.xml"),
        bin=droppable(f"{INTERMEDIATE}/openvino/{{model}}.bin"),
        record=f"{RECORDS}/convert_ir.json",
    log:
        f"{LOGS}/convert_ir.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(500, 2),
    params:
        spec=step_params("convert_ir"),
    shell:
        "edgeconv-step convert_ir --input onnx={input.onnx} --output xml={output.xml}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule quantize_ir:
    input:
        onnx=f"{INTERMEDIATE}/simplified.onnx",
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        xml=droppable(f"{INTERMEDIATE}/openvino/{{model}}.int8.xml"),
        bin=droppable(f"{INTERMEDIATE}/openvino/{{model}}.int8.bin"),
        record=f"{RECORDS}/quantize_ir.json",
    log:
        f"{LOGS}/quantize_ir.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    # Multi-threaded (NNCF, onnxruntime use every core they see): two cores reserved, so that
    # `--cores 2` runs nothing beside it (Snakemake lowers it to --cores when fewer).
    threads: 2
    resources:
        mem_mb=mem_mb(1000, 3),
    params:
        spec=step_params("quantize_ir"),
    shell:
        "edgeconv-step quantize_ir --input onnx={input.onnx} --input calibration={input.calibration}"
        " --output xml={output.xml} --params {params.spec:q} --record {output.record} --log {log}"
