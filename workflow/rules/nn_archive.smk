# NN Archive in (models/<model>.tar.xz, extracted safely) and out for any target: results/<target>/<model>.tar.xz with the artifact(s),
# buildinfo.json and a config.json validated with luxonis-ml (src/edgeconv/nn_archive.py).


rule nn_archive:
    input:
        unpack(archive_inputs),
    output:
        archive=f"{RESULTS}/{{target}}/{{model}}.tar.xz",
        record=f"{RECORDS}/{{target}}_nn_archive.json",
    log:
        f"{LOGS}/{{target}}_nn_archive.log",
    wildcard_constraints:
        target="openvino|qnn_htp|rvc2|rvc3|rvc4|hailo",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=archive_params,
        inputs=input_args,
    shell:
        "edgeconv-step nn_archive {params.inputs} --output archive={output.archive}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule extract_archive:
    input:
        archive=input_archive,
    output:
        model=f"{INTERMEDIATE}/archive/model.onnx",
        config=f"{INTERMEDIATE}/archive/config.json",
        record=f"{RECORDS}/extract_archive.json",
    log:
        f"{LOGS}/extract_archive.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "edgeconv-step extract_archive --input archive={input.archive} --output model={output.model}"
        " --output config={output.config} --record {output.record} --log {log}"


# The post-processing model a head of the input archive links: the second stage of the model.
rule extract_postprocessor:
    input:
        archive=input_archive,
    output:
        model=f"{INTERMEDIATE}/postprocessor/model.onnx",
        record=f"{RECORDS}/extract_postprocessor.json",
    log:
        f"{LOGS}/extract_postprocessor.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "edgeconv-step extract_postprocessor --input archive={input.archive} --output model={output.model} --record {output.record} --log {log}"
