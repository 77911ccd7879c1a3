# Per-layer analysis (`edgeconv analyze <target>`): every float tensor of the model against the
# artifact's, on the verification samples, before any device or vendor compiler
# (src/edgeconv/steps/analyze.py). It reads the artifacts under results/intermediate/, so an
# artifact whose verification failed is analysed too. Not part of `all`: ask for
# results/analysis/<model>/<target>/summary.json.


rule analyze:
    input:
        unpack(analysis_inputs),
    output:
        csv=f"{RESULTS}/analysis/{{model}}/{{analysis_target}}/layers.csv",
        summary=f"{RESULTS}/analysis/{{model}}/{{analysis_target}}/summary.json",
        plot=report(
            f"{RESULTS}/analysis/{{model}}/{{analysis_target}}/sqnr.png",
            category="Per-layer analysis",
            subcategory="{model}",
            labels={"model": "{model}", "target": "{analysis_target}"},
        ),
    log:
        f"{LOGS}/analyze_{{analysis_target}}.log",
    benchmark:
        f"{BENCH}/analyze_{{analysis_target}}.tsv"
    wildcard_constraints:
        analysis_target="openvino|qnn_htp",
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(1000, 6),
    params:
        spec=step_params("analyze", target="{analysis_target}"),
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step analyze {params.inputs} {params.outputs} --params {params.spec:q} --log {log}"
