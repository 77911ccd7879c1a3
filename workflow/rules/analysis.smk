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
        analysis_target="openvino|qnn_htp|rvc2|rvc3",
    conda:
        "../../envs/edgeconv.yaml"
    resources:
        mem_mb=mem_mb(800, 50),
    params:
        spec=step_params("analyze", target="{analysis_target}"),
        inputs=input_args,
        outputs=output_args,
    shell:
        "edgeconv-step analyze {params.inputs} {params.outputs} --params {params.spec:q} --log {log}"


# `edgeconv benchmark openvino`: latency and throughput of the openvino target's IRs on this CPU
# (src/edgeconv/steps/benchmark.py). Every core is the job's: nothing else runs beside it.
rule benchmark_openvino:
    input:
        ir_fp16=f"{INTERMEDIATE}/openvino/{{model}}.xml",
        ir_int8=f"{INTERMEDIATE}/openvino/{{model}}.int8.xml",
        # Read with the xml files; declared so that they are there (temp() with keep_intermediate_outputs: false).
        ir_fp16_bin=f"{INTERMEDIATE}/openvino/{{model}}.bin",
        ir_int8_bin=f"{INTERMEDIATE}/openvino/{{model}}.int8.bin",
    output:
        json=f"{RESULTS}/benchmark/{{model}}/openvino.json",
        csv=report(
            f"{RESULTS}/benchmark/{{model}}/openvino.csv",
            category="CPU benchmark (openvino)",
            labels={"model": "{model}"},
        ),
    log:
        f"{LOGS}/benchmark_openvino.log",
    conda:
        "../../envs/edgeconv.yaml"
    # The whole machine (benchmark_app measures throughput): Snakemake lowers this to --cores.
    # Not workflow.cores, which stops every command run without --cores (--summary, --dag, --report).
    threads: 256
    params:
        spec=step_params("benchmark"),
        outputs=output_args,
    shell:
        "edgeconv-step benchmark --input ir_fp16={input.ir_fp16} --input ir_int8={input.ir_int8}"
        " {params.outputs} --params {params.spec:q} --log {log}"
