# RVC4 (Qualcomm QCS8550, DepthAI loads .dlc): the normalized, simplified ONNX -> snpe-onnx-to-dlc
# (a TFLite model as it is -> snpe-tflite-to-dlc)
# -> snpe-dlc-quant on raw calibration files -> snpe-dlc-graph-prepare for rvc4.htp_socs ->
# snpe-dlc-info. Command lines: src/edgeconv/targets/rvc4.py.


rule prepare_snpe_inputs:
    input:
        calibration=f"{INTERMEDIATE}/calibration.npz",
        original=interface_model,
    output:
        raw=droppable(directory(f"{INTERMEDIATE}/rvc4/raw")),
        input_list=droppable(f"{INTERMEDIATE}/rvc4/input_list.txt"),
        record=f"{RECORDS}/prepare_snpe_inputs.json",
    log:
        f"{LOGS}/prepare_snpe_inputs.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("prepare_snpe_inputs"),
    shell:
        "edgeconv-step prepare_snpe_inputs --input calibration={input.calibration} --input original={input.original}"
        " --output raw={output.raw} --output input_list={output.input_list}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule onnx_to_dlc:
    input:
        unpack(encodings_input),
        onnx=f"{INTERMEDIATE}/simplified.onnx",
        original=source_model,
    output:
        dlc=droppable(f"{INTERMEDIATE}/rvc4/{{model}}.dlc"),
        record=f"{RECORDS}/onnx_to_dlc.json",
    log:
        f"{LOGS}/onnx_to_dlc.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        # SNPE itself comes from Qualcomm's SDK (toolchains.rvc4.bin_dir).
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc4")
    params:
        step="onnx_to_dlc",
        spec=step_params("onnx_to_dlc"),
        inputs=input_args,
    shell:
        "edgeconv-step {params.step} {params.inputs} --output dlc={output.dlc} --params {params.spec:q} --record {output.record} --log {log}"


use rule onnx_to_dlc as tflite_to_dlc with:
    input:
        unpack(encodings_input),
        tflite=interface_model,
        original=interface_model,
    output:
        dlc=droppable(f"{INTERMEDIATE}/rvc4/{{model}}.tflite.dlc"),
        record=f"{RECORDS}/tflite_to_dlc.json",
    log:
        f"{LOGS}/tflite_to_dlc.log",
    params:
        step="tflite_to_dlc",
        spec=step_params("tflite_to_dlc"),
        inputs=input_args,


rule quantize_dlc:
    input:
        dlc=float_dlc,
        input_list=f"{INTERMEDIATE}/rvc4/input_list.txt",
        raw=f"{INTERMEDIATE}/rvc4/raw",
    output:
        dlc=droppable(f"{INTERMEDIATE}/rvc4/{{model}}.quantized.dlc"),
        record=f"{RECORDS}/quantize_dlc.json",
    log:
        f"{LOGS}/quantize_dlc.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc4")
    params:
        spec=step_params("quantize_dlc"),
    shell:
        "edgeconv-step quantize_dlc --input dlc={input.dlc} --input input_list={input.input_list}"
        " --output dlc={output.dlc} --params {params.spec:q} --record {output.record} --log {log}"


rule graph_prepare_dlc:
    input:
        unpack(graph_prepare_inputs),
    output:
        dlc=droppable(f"{INTERMEDIATE}/rvc4/{{model}}.prepared.dlc"),
        info=f"{INTERMEDIATE}/rvc4/{{model}}.info.csv",
        record=f"{RECORDS}/graph_prepare_dlc.json",
    log:
        f"{LOGS}/graph_prepare_dlc.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc4")
    params:
        spec=step_params("graph_prepare_dlc"),
        inputs=input_args,
    shell:
        "edgeconv-step graph_prepare_dlc {params.inputs} --output dlc={output.dlc} --output info={output.info}"
        " --params {params.spec:q} --record {output.record} --log {log}"


# The DLC, once SNPE succeeded and the ONNX it converted passed its check (a TFLite model is
# given to SNPE as it is).
rule publish_dlc:
    input:
        unpack(rvc4_publish_inputs),
    output:
        dlc=f"{RESULTS}/rvc4/{{model}}.dlc",
        info=f"{RESULTS}/rvc4/{{model}}.info.csv",
        buildinfo=f"{RESULTS}/rvc4/{{model}}.buildinfo.json",
    log:
        f"{LOGS}/publish_dlc.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"
