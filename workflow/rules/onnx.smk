# The ONNX chain every target starts from:
# source model -> attach_normalization -> optimize_onnx -> simplify.
# A TFLite model becomes ONNX first (tflite_to_onnx, checked against LiteRT); a YOLO detector is
# cut before its in-graph decode first (adapt_detector, docs/detectors.md).


rule tflite_to_onnx:
    input:
        tflite=interface_model,
    output:
        onnx=droppable(f"{INTERMEDIATE}/tflite/{{model}}.onnx"),
        record=f"{RECORDS}/tflite_to_onnx.json",
    log:
        f"{LOGS}/tflite_to_onnx.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("tflite_to_onnx"),
    shell:
        "edgeconv-step tflite_to_onnx --input tflite={input.tflite} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule adapt_detector:
    input:
        model=model_as_given,
        external_data=source_external_data,
    output:
        onnx=f"{INTERMEDIATE}/detector/{{model}}.onnx",
        record=f"{RECORDS}/adapt_detector.json",
    log:
        f"{LOGS}/adapt_detector.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("adapt_detector"),
    shell:
        "edgeconv-step adapt_detector --input model={input.model} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule attach_normalization:
    input:
        model=source_model,
        external_data=source_external_data,
    output:
        onnx=droppable(f"{INTERMEDIATE}/normalized.onnx"),
        record=f"{RECORDS}/attach_normalization.json",
    log:
        f"{LOGS}/attach_normalization.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(300, 2.5),
    params:
        spec=step_params("attach_normalization"),
    shell:
        "edgeconv-step attach_normalization --input model={input.model} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule optimize_onnx:
    input:
        onnx=f"{INTERMEDIATE}/normalized.onnx",
        original=source_model,
    output:
        onnx=droppable(f"{INTERMEDIATE}/optimized.onnx"),
        record=f"{RECORDS}/optimize_onnx.json",
    log:
        f"{LOGS}/optimize_onnx.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(400, 2),
    params:
        spec=step_params("optimize_onnx"),
    shell:
        "edgeconv-step optimize_onnx --input onnx={input.onnx} --input original={input.original}"
        " --output onnx={output.onnx} --params {params.spec:q} --record {output.record} --log {log}"


rule simplify:
    input:
        onnx=f"{INTERMEDIATE}/optimized.onnx",
    output:
        onnx=droppable(f"{INTERMEDIATE}/simplified.onnx"),
        record=f"{RECORDS}/simplify.json",
    log:
        f"{LOGS}/simplify.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(400, 3.5),
    params:
        spec=step_params("simplify"),
    shell:
        "edgeconv-step simplify --input onnx={input.onnx} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"
