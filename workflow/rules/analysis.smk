# Per-layer analysis (`edgeconv analyze <target>`): every float tensor of the model against the
# artifact's, on the verification samples, before any device or vendor compiler
# (src/edgeconv/steps/analyze.py). It reads the artifacts under results/intermediate/, so an
# artifact whose verification failed is analysed too. Not part of `all`: ask for
# results/analysis/<model>/<target>/summary.json.


def analysis_inputs(wildcards):
    """The artifacts of one target to analyse, the float model they were made from, the original
    and the samples; for qnn_htp the context model only where onnxruntime-qnn can build it.
    """
    from importlib.util import find_spec

    model, target = wildcards.model, wildcards.analysis_target
    where = layout.target_dir(model, target)
    inputs = {
        "original": source_model(wildcards),
        "float": layout.simplified(model),
        "calibration": layout.calibration(model),
    }
    if target == "openvino":
        inputs |= {
            "ir_fp16": f"{where}/{model}.xml",
            "ir_int8": f"{where}/{model}.int8.xml",
        }
    else:
        inputs |= {"qdq": f"{where}/{model}.quant.onnx", **encodings_input(wildcards)}
        if find_spec("onnxruntime_qnn") is not None:
            inputs |= {
                "ctx": f"{where}/{model}.ctx.onnx",
                "bin": f"{where}/{model}.ctx_qnn.bin",
            }
    return inputs


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
