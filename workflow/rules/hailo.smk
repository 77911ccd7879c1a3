# Hailo (hailo8/8l/10h/15h...): ONNX for the DFC (flavor hailo) -> parse to a HAR -> optimize
# with an NHWC float32 calibration set and the model script -> compile to a HEF.
# Calls and model script: src/edgeconv/targets/hailo.py; the DFC runs in toolchains.hailo.python.


rule hailo_parse:
    input:
        unpack(hailo_parse_inputs),
    output:
        har=droppable(f"{INTERMEDIATE}/hailo/{{model}}.parsed.har"),
        record=f"{RECORDS}/hailo_parse.json",
    log:
        f"{LOGS}/hailo_parse.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        # The DFC itself lives in its own environment (toolchains.hailo.python).
        "../../envs/edgeconv.yaml"
    container:
        container_for("hailo")
    params:
        spec=step_params("hailo_parse"),
        inputs=input_args,
    shell:
        "edgeconv-step hailo_parse {params.inputs} --output har={output.har} --params {params.spec:q} --record {output.record} --log {log}"


rule hailo_optimize:
    input:
        har=f"{INTERMEDIATE}/hailo/{{model}}.parsed.har",
        calibration=f"{INTERMEDIATE}/calibration.npz",
        original=interface_model,
    output:
        har=droppable(f"{INTERMEDIATE}/hailo/{{model}}.har"),
        record=f"{RECORDS}/hailo_optimize.json",
    log:
        f"{LOGS}/hailo_optimize.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    container:
        container_for("hailo")
    params:
        spec=step_params("hailo_optimize"),
    shell:
        "edgeconv-step hailo_optimize --input har={input.har} --input calibration={input.calibration}"
        " --input original={input.original} --output har={output.har}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule hailo_compile:
    input:
        har=f"{INTERMEDIATE}/hailo/{{model}}.har",
    output:
        hef=droppable(f"{INTERMEDIATE}/hailo/{{model}}.hef"),
        record=f"{RECORDS}/hailo_compile.json",
    log:
        f"{LOGS}/hailo_compile.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    container:
        container_for("hailo")
    params:
        spec=step_params("hailo_compile"),
    shell:
        "edgeconv-step hailo_compile --input har={input.har} --output hef={output.hef}"
        " --params {params.spec:q} --record {output.record} --log {log}"


# The HEF, the quantized HAR or the parsed HAR (hailo.disable_compilation / disable_calibration),
# once the DFC succeeded. The DFC's own emulator is not run here, so nothing checks it on CPU.
rule publish_hailo:
    input:
        unpack(hailo_publish_inputs),
    output:
        artifact=f"{RESULTS}/hailo/{{model}}.{{kind}}",
        buildinfo=f"{RESULTS}/hailo/{{model}}.{{kind}}.buildinfo.json",
    log:
        f"{LOGS}/publish_hailo_{{kind}}.log",
    wildcard_constraints:
        kind="hef|har|parsed\\.har",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"
