# The demo models: real PP-OCRv4 ONNX files from the PyPI wheel rapidocr-onnxruntime==1.4.4,
# checked against pinned sha256 sums (src/edgeconv/demo.py).


def demo_params(wildcards):
    return json.dumps({"name": wildcards.demo, "cache": "models/.downloads"})


rule fetch_demo_model:
    output:
        model="models/{demo}.onnx",
    params:
        spec=demo_params,
    log:
        "logs/fetch/{demo}.log",
    wildcard_constraints:
        demo="ppocr_det|ppocr_cls|ppocr_rec",
    shell:
        "{STEP} fetch_demo --output model={output.model} --params {params.spec:q} --log {log}"
