# The figures of the whole matrix as report categories (README.md, "The report"); the report of
# any run's own targets needs no target (src/edgeconv/targets_report.py):
#   snakemake --cores 4 report_figures && snakemake --report report.html
# The table and the plots are built from the published build infos and the ONNX stages' checks
# of the matrix (whatever of it is missing is built first).


rule report_figures:
    input:
        unpack(report_inputs),
    output:
        table=report(
            f"{RESULTS}/report/artifacts.html",
            caption="../report/artifacts.rst",
            category="1. Artifacts",
            labels={"figure": "every artifact, its check and its time per step"},
        ),
        cosine=report(
            f"{RESULTS}/report/cosine_per_stage.png",
            caption="../report/cosine_per_stage.rst",
            category="2. Accuracy along the chain",
            labels={"figure": "1 - cosine per stage"},
        ),
        times=report(
            f"{RESULTS}/report/time_per_step.png",
            caption="../report/time_per_step.rst",
            category="3. Time per step",
            labels={"figure": "seconds per step and artifact"},
        ),
    log:
        "logs/report_figures.log",
    conda:
        "../../envs/edgeconv.yaml"
    params:
        inputs=input_args,
    shell:
        "edgeconv-step report_figures {params.inputs} --output table={output.table}"
        " --output cosine={output.cosine} --output times={output.times} --log {log}"
