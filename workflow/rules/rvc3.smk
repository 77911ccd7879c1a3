# RVC3 (Keem Bay): mo's IR (convert_mo, mo_target rvc3) -> POT INT8 on the calibration images,
# verified on CPU -> compile_tool -d VPUX.3400 -> .blob. Command lines: src/edgeconv/targets/rvc3.py.


rule pot_quantize:
    input:
        unpack(vendor_ir("rvc3")),
        calibration=f"{INTERMEDIATE}/calibration.npz",
        original=source_model,
    output:
        xml=droppable(f"{INTERMEDIATE}/rvc3/{{model}}.int8.xml"),
        bin=droppable(f"{INTERMEDIATE}/rvc3/{{model}}.int8.bin"),
        record=f"{RECORDS}/pot_quantize.json",
    log:
        f"{LOGS}/pot_quantize.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/openvino-2022.3.yaml"
    container:
        container_for("rvc3")
    params:
        spec=step_params("pot_quantize"),
    shell:
        "edgeconv-step pot_quantize --input xml={input.xml} --input calibration={input.calibration}"
        " --input original={input.original} --output xml={output.xml}"
        " --params {params.spec:q} --record {output.record} --log {log}"


use rule verify_ir_int8 as verify_pot_ir with:
    input:
        artifact=f"{INTERMEDIATE}/rvc3/{{model}}.int8.xml",
        artifact_bin=f"{INTERMEDIATE}/rvc3/{{model}}.int8.bin",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report=f"{INTERMEDIATE}/rvc3/{{model}}.int8.verify.json",
    log:
        f"{LOGS}/verify_pot_ir.log",
    benchmark:
        f"{BENCH}/verify_pot_ir.tsv"


rule compile_vpux_blob:
    input:
        unpack(rvc3_blob_inputs),
    output:
        blob=droppable(f"{INTERMEDIATE}/rvc3/{{model}}.blob"),
        record=f"{RECORDS}/compile_vpux_blob.json",
    log:
        f"{LOGS}/compile_vpux_blob.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        # compile_tool with VPUX comes from the vendor toolkit (toolchains.rvc3.compile_tool).
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc3")
    params:
        spec=step_params("compile_vpux_blob"),
    shell:
        "edgeconv-step compile_vpux_blob --input xml={input.xml} --output blob={output.blob}"
        " --params {params.spec:q} --record {output.record} --log {log}"


# The VPUX blob, once compile_tool succeeded and the IR it compiled passed its check on CPU.
rule publish_rvc3:
    input:
        unpack(rvc3_publish_inputs),
    output:
        blob=f"{RESULTS}/rvc3/{{model}}.blob",
        buildinfo=f"{RESULTS}/rvc3/{{model}}.buildinfo.json",
    log:
        f"{LOGS}/publish_rvc3.log",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"
