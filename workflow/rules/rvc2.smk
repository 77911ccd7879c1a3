# RVC2 (MyriadX): ONNX prepared for mo -> mo -> IR verified on CPU -> MYRIAD compiler -> .blob read
# back by DepthAI; the .superblob packs 16 shave variants compiled as parallel jobs. The built-in
# toolchain is OpenVINO 2021.4 from PyPI (make rvc2-env: mo 2021.4, myriad_compile), which first
# gets the ONNX rewritten for it (rewrite_for_myriad); a user's OpenVINO 2022.3 compile_tool takes
# mo 2022.3's IR. convert_mo also makes RVC3's IR (mo_target rvc3). Command lines:
# src/edgeconv/targets/rvc2.py; the compiler and the blob check: src/edgeconv/targets/myriad.py.


rule rewrite_for_myriad:
    input:
        onnx=f"{INTERMEDIATE}/mo/simplified.onnx",
    output:
        onnx=droppable(f"{INTERMEDIATE}/mo/myriad.onnx"),
        record=f"{RECORDS}/rewrite_for_myriad.json",
    log:
        f"{LOGS}/rewrite_for_myriad.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(300, 3),
    params:
        spec=step_params("rewrite_for_myriad"),
    shell:
        "edgeconv-step rewrite_for_myriad --input onnx={input.onnx} --output onnx={output.onnx}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule convert_mo:
    input:
        onnx=mo_onnx,
        original=source_model,
    output:
        xml=droppable(f"{INTERMEDIATE}/{{mo_target}}/{{model}}.xml"),
        bin=droppable(f"{INTERMEDIATE}/{{mo_target}}/{{model}}.bin"),
        record=f"{RECORDS}/{{mo_target}}_convert_mo.json",
    log:
        f"{LOGS}/{{mo_target}}_convert_mo.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/openvino-2022.3.yaml"
    container:
        mo_container
    resources:
        mem_mb=mem_mb(800, 3),
    params:
        spec=step_params("convert_mo", target="{mo_target}"),
    shell:
        "edgeconv-step convert_mo --input onnx={input.onnx} --input original={input.original}"
        " --output xml={output.xml} --params {params.spec:q} --record {output.record} --log {log}"


use rule verify_ir as verify_mo_ir with:
    input:
        artifact=f"{INTERMEDIATE}/{{mo_target}}/{{model}}.xml",
        artifact_bin=f"{INTERMEDIATE}/{{mo_target}}/{{model}}.bin",
        original=source_model,
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        report=f"{INTERMEDIATE}/{{mo_target}}/{{model}}.verify.json",
    log:
        f"{LOGS}/{{mo_target}}_verify_mo_ir.log",
    benchmark:
        f"{BENCH}/{{mo_target}}_verify_mo_ir.tsv"


rule compile_blob:
    input:
        unpack(vendor_ir("rvc2")),
    output:
        blob=droppable(f"{INTERMEDIATE}/rvc2/{{model}}.blob"),
        record=f"{RECORDS}/compile_blob.json",
    log:
        f"{LOGS}/compile_blob.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        # The compiler comes from make rvc2-env, or the vendor archive (toolchains.rvc2.compile_tool).
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc2")
    resources:
        mem_mb=mem_mb(400, 6),
    params:
        spec=step_params("compile_blob"),
    shell:
        "edgeconv-step compile_blob --input xml={input.xml} --output blob={output.blob}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule compile_blob_variant:
    input:
        unpack(vendor_ir("rvc2")),
        # The base variant first: a model the compiler refuses fails once, not once per variant.
        base=superblob_base,
    output:
        # With keep_intermediate_outputs: false, gone once the superblob holds them (common.smk).
        blob=droppable(f"{INTERMEDIATE}/rvc2/blobs/{{shaves}}shave.blob"),
        record=f"{RECORDS}/compile_blob_{{shaves}}shave.json",
    log:
        f"{LOGS}/compile_blob_{{shaves}}shave.log",
    wildcard_constraints:
        shaves="[0-9]+",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    container:
        container_for("rvc2")
    resources:
        mem_mb=mem_mb(400, 6),
    params:
        spec=step_params("compile_blob", shaves="{shaves}"),
    shell:
        "edgeconv-step compile_blob --input xml={input.xml} --output blob={output.blob}"
        " --params {params.spec:q} --record {output.record} --log {log}"


rule blob_patch:
    input:
        base=f"{INTERMEDIATE}/rvc2/blobs/8shave.blob",
        blob=f"{INTERMEDIATE}/rvc2/blobs/{{shaves}}shave.blob",
    output:
        patch=droppable(f"{INTERMEDIATE}/rvc2/blobs/{{shaves}}shave.patch"),
        record=f"{RECORDS}/blob_patch_{{shaves}}shave.json",
    log:
        f"{LOGS}/blob_patch_{{shaves}}shave.log",
    wildcard_constraints:
        shaves="[0-9]+",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "edgeconv-step blob_patch --input base={input.base} --input blob={input.blob}"
        " --output patch={output.patch} --record {output.record} --log {log}"


rule assemble_superblob:
    input:
        unpack(superblob_inputs),
    output:
        superblob=droppable(f"{INTERMEDIATE}/rvc2/{{model}}.superblob"),
        record=f"{RECORDS}/assemble_superblob.json",
    log:
        f"{LOGS}/assemble_superblob.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
    shell:
        "edgeconv-step assemble_superblob {params.inputs} --output superblob={output.superblob} --record {output.record} --log {log}"


# The blob or superblob, once compile_tool succeeded and mo's IR passed its check on CPU.
rule publish_blob:
    input:
        unpack(rvc2_publish_inputs),
    output:
        blob=f"{RESULTS}/rvc2/{{model}}.{{kind}}",
        buildinfo=f"{RESULTS}/rvc2/{{model}}.{{kind}}.buildinfo.json",
    log:
        f"{LOGS}/publish_{{kind}}.log",
    wildcard_constraints:
        kind="blob|superblob",
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step publish {params.inputs} {params.outputs} --log {log}"
