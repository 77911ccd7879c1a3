# The ONNX chain every target starts from:
# source model -> attach_normalization -> optimize_onnx -> simplify.


rule attach_normalization:
    input:
        model=source_model,
    output:
        onnx=f"{INTERMEDIATE}/normalized.onnx",
        record=f"{RECORDS}/attach_normalization.json",
    params:
        spec=step_params("attach_normalization"),
    log:
        f"{LOGS}/attach_normalization.log",
    benchmark:
        f"{BENCH}/attach_normalization.tsv"
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "{STEP} attach_normalization --input model={input.model} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule optimize_onnx:
    input:
        onnx=f"{INTERMEDIATE}/normalized.onnx",
        original=source_model,
    output:
        onnx=f"{INTERMEDIATE}/optimized.onnx",
        record=f"{RECORDS}/optimize_onnx.json",
    params:
        spec=step_params("optimize_onnx"),
    log:
        f"{LOGS}/optimize_onnx.log",
    benchmark:
        f"{BENCH}/optimize_onnx.tsv"
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "{STEP} optimize_onnx --input onnx={input.onnx} --input original={input.original}"
        " --output onnx={output.onnx} --params {params.spec:q} --record {output.record} --log {log}"


rule simplify:
    input:
        onnx=f"{INTERMEDIATE}/optimized.onnx",
    output:
        onnx=f"{INTERMEDIATE}/simplified.onnx",
        record=f"{RECORDS}/simplify.json",
    params:
        spec=step_params("simplify"),
    log:
        f"{LOGS}/simplify.log",
    benchmark:
        f"{BENCH}/simplify.tsv"
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "{STEP} simplify --input onnx={input.onnx} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"
