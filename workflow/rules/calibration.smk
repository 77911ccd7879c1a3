# Calibration data for the quantizing steps: images (or .npy/.raw) from calibration.path, random,
# or -- in a multi-stage model -- another stage's outputs (calibration: {stage, output|script}).
# Every calibration file is an input, so changing the data re-quantizes.


rule prepare_calibration:
    input:
        unpack(calibration_inputs),
    output:
        calibration=droppable(f"{INTERMEDIATE}/calibration.npz"),
        record=f"{RECORDS}/prepare_calibration.json",
    log:
        f"{LOGS}/prepare_calibration.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("prepare_calibration"),
        inputs=named_input_args,
    shell:
        "edgeconv-step prepare_calibration {params.inputs} --output calibration={output.calibration}"
        " --params {params.spec:q} --record {output.record} --log {log}"


# A stage's outputs on its own calibration data, computed on CPU from its simplified ONNX: the
# calibration of the stages linked to it.
rule stage_outputs:
    input:
        onnx=f"{INTERMEDIATE}/simplified.onnx",
        calibration=f"{INTERMEDIATE}/calibration.npz",
    output:
        outputs=f"{INTERMEDIATE}/stage_outputs.npz",
        record=f"{RECORDS}/stage_outputs.json",
    log:
        f"{LOGS}/stage_outputs.log",
    cache: CACHING
    group:
        CHAIN
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("stage_outputs"),
    shell:
        "edgeconv-step stage_outputs --input onnx={input.onnx} --input calibration={input.calibration}"
        " --output outputs={output.outputs} --params {params.spec:q} --record {output.record} --log {log}"
