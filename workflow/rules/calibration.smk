# Calibration data for the quantizing steps: images (or .npy/.raw) from calibration.path, or random.
# Every calibration file is an input, so changing the data re-quantizes.


rule prepare_calibration:
    input:
        model=source_model,
        files=calibration_files,
    output:
        calibration=f"{INTERMEDIATE}/calibration.npz",
        record=f"{RECORDS}/prepare_calibration.json",
    log:
        f"{LOGS}/prepare_calibration.log",
    benchmark:
        f"{BENCH}/prepare_calibration.tsv"
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("prepare_calibration"),
    shell:
        "edgeconv-step prepare_calibration --input model={input.model} --output calibration={output.calibration}"
        " --params {params.spec:q} --record {output.record} --log {log}"
