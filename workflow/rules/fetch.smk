# The demo models: real PP-OCRv4 ONNX files from the PyPI wheel rapidocr-onnxruntime==1.4.4,
# checked against pinned sha256 sums (src/edgeconv/demo.py).


rule fetch_demo_model:
    output:
        model="models/{demo}.onnx",
    log:
        "logs/fetch/{demo}.log",
    wildcard_constraints:
        demo="ppocr_det|ppocr_cls|ppocr_rec",
    conda:
        "../../envs/edgeconv.yaml"
    params:
        spec=demo_params,
    shell:
        "edgeconv-step fetch_demo --output model={output.model} --params {params.spec:q} --log {log}"
