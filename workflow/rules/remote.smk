# Inputs named by a URL (src/edgeconv/inputs/: s3:// ...) downloaded to their mirrors under
# results/remote/, archives of calibration images extracted, and with output_remote_url /
# intermediate_outputs_remote_url the published artifacts uploaded to S3-compatible storage.


# Objects named by a config (a URL whose kind of input fetches it): each is downloaded once to its
# mirror. `version` (an S3 ETag and size ... when the run was planned) is a parameter, so a changed
# object is downloaded again and reruns what reads it.
rule fetch_remote:
    output:
        file=f"{REMOTE}/{{scheme}}/{{path}}",
        record=f"{REMOTE}/records/{{scheme}}/{{path}}.json",
    log:
        f"logs/remote/{{scheme}}/{{path}}.log",
    wildcard_constraints:
        scheme=FETCHED,
    localrule: True
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=remote_params,
    shell:
        "edgeconv-step fetch_remote --output file={output.file} --params {params.spec:q}"
        " --record {output.record} --log {log}"


# calibration.path naming an archive of images (.zip, .tar.*): extracted safely; the directory
# holds the images.
rule extract_calibration:
    input:
        archive=f"{REMOTE}/{{scheme}}/{{path}}",
    output:
        images=directory(f"{REMOTE}/extracted/{{scheme}}/{{path}}"),
        record=f"{REMOTE}/records/extracted/{{scheme}}/{{path}}.json",
    log:
        f"logs/remote/extracted/{{scheme}}/{{path}}.log",
    wildcard_constraints:
        scheme=FETCHED,
    conda:
        "../../envs/edgeconv.yaml"
    shell:
        "edgeconv-step extract_calibration --input archive={input.archive} --output images={output.images}"
        " --record {output.record} --log {log}"


# calibration.path <dataset>:<split>: a Luxonis dataset's split (luxonis-ml), written as PNG files.
rule export_ldf:
    output:
        images=directory(f"{REMOTE}/ldf/{{dataset}}/{{split}}"),
        record=f"{REMOTE}/records/ldf/{{dataset}}/{{split}}.json",
    log:
        "logs/remote/ldf/{dataset}/{split}.log",
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=ldf_params,
    shell:
        "edgeconv-step export_ldf --output images={output.images} --params {params.spec:q}"
        " --record {output.record} --log {log}"


# The published files of an artifact (and with intermediate_outputs_remote_url its intermediates),
# uploaded once built and verified; the manifest lists URL, ETag and sha256 of each file sent.
rule upload_remote:
    input:
        unpack(upload_inputs),
    output:
        manifest=f"{REMOTE}/uploads/{{target}}/{{model}}.json",
    log:
        f"{LOGS}/upload_remote_{{target}}.log",
    localrule: True
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=step_params("upload_remote", target="{target}"),
        inputs=input_args,
    shell:
        "edgeconv-step upload_remote {params.inputs} --output manifest={output.manifest}"
        " --params {params.spec:q} --log {log}"
