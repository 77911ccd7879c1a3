# The ONNX chain for vendor tools that apply preprocessing themselves (results/intermediate/<model>/
# <flavor>/): `mo` takes mean/scale/--reverse_input_channels (flavor mo), the Hailo model script
# takes normalization and input_conversion (flavor hailo). The graph gets only what the tool
# cannot do (src/edgeconv/targets/rvc2.py: mo_plan, src/edgeconv/targets/hailo.py).


use rule attach_normalization as attach_normalization_vendor with:
    output:
        onnx=droppable(f"{INTERMEDIATE}/{{flavor}}/normalized.onnx"),
        record=f"{RECORDS}/{{flavor}}_attach_normalization.json",
    log:
        f"{LOGS}/{{flavor}}_attach_normalization.log",
    params:
        spec=step_params("attach_normalization", plan="{flavor}"),


use rule optimize_onnx as optimize_onnx_vendor with:
    input:
        onnx=f"{INTERMEDIATE}/{{flavor}}/normalized.onnx",
        original=source_model,
    output:
        onnx=droppable(f"{INTERMEDIATE}/{{flavor}}/optimized.onnx"),
        record=f"{RECORDS}/{{flavor}}_optimize_onnx.json",
    log:
        f"{LOGS}/{{flavor}}_optimize_onnx.log",


use rule simplify as simplify_vendor with:
    input:
        onnx=f"{INTERMEDIATE}/{{flavor}}/optimized.onnx",
    output:
        onnx=droppable(f"{INTERMEDIATE}/{{flavor}}/simplified.onnx"),
        record=f"{RECORDS}/{{flavor}}_simplify.json",
    log:
        f"{LOGS}/{{flavor}}_simplify.log",
