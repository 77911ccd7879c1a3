"""Per-layer analysis of a target's artifacts (``results/analysis/<model>/<target>/``): every
float tensor of the model compared with the artifact's, on the verification samples, before any
device or vendor compiler. See :mod:`edgeconv.analysis`.

- ``openvino``: the FP16 IR and the INT8 IR (NNCF), on OpenVINO's CPU plugin; ``rvc2``: mo's FP16
  IR (what compile_tool reads); ``rvc3``: mo's FP16 IR and POT's INT8 IR.
- ``qnn_htp``: the QDQ model the HTP compiles (onnxruntime, CPU), and the HTP context model at its
  outputs (the simulator), with the nodes onnxruntime-qnn left on the CPU.

The inputs are the artifacts under ``results/intermediate/``, not the published ones: an artifact
whose verification failed is analysed too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.steps.base import Context, Paths, StageParams, Step

log = logging.getLogger("edgeconv.progress")

# Per target: (artifact label, input key, the verify kind whose thresholds it is checked against).
IRS = {
    "openvino": (("openvino_fp16", "ir_fp16", "openvino_fp16"), ("openvino_int8", "ir_int8", "openvino_int8")),
    "rvc2": (("rvc2_fp16", "ir_fp16", "openvino_fp16"),),  # mo's IR, before compile_tool
    "rvc3": (("rvc3_fp16", "ir_fp16", "openvino_fp16"), ("rvc3_int8", "ir_int8", "openvino_int8")),  # mo, POT
}
KINDS = {**{t: tuple(kind for _, _, kind in irs) for t, irs in IRS.items()}, "qnn_htp": ("qnn_htp",)}


@dataclass(frozen=True, kw_only=True)
class AnalyzeParams(StageParams):
    PARSED_STAGE = True
    target: str  # openvino, qnn_htp
    thresholds: dict[str, dict[str, float]]  # verify.<kind> per artifact kind
    max_images: int
    runtime: dict[str, Any] | None = None  # qnn_htp: the simulator's {soc, fp16}


def configure(ctx: Context, target: str = "openvino") -> AnalyzeParams:
    from edgeconv.metrics import thresholds_for, verify_images

    if target not in KINDS:
        from edgeconv.errors import ConversionError

        raise ConversionError(f"analyze: no per-layer analysis for target {target!r}; it has {', '.join(KINDS)}")
    runtime = None
    if target == "qnn_htp":
        from edgeconv.targets.qnn_htp import htp_runtime

        runtime = htp_runtime(ctx.stage)
    return ctx.make(AnalyzeParams, target=target, max_images=int(verify_images(ctx.settings, ctx.stage)),
                    thresholds={k: thresholds_for(ctx.settings, ctx.stage, k) for k in KINDS[target]},
                    runtime=runtime)


def promoted(inputs: Paths) -> set[str]:
    """The tensors accuracy control kept at 16 bits (its encodings), if it ran."""
    path = inputs.get("encodings")
    if path is None:
        return set()
    data = json.loads(Path(path).read_text())
    return set(data.get("activation_encodings") or {}) | set(data.get("param_encodings") or {})


def artifacts(inputs: Paths, params: AnalyzeParams) -> list[Any]:
    from edgeconv.analysis import Artifact

    if params.target in IRS:
        return [Artifact(label, inputs[key], "ir", "fp16" if kind.endswith("fp16") else "fp32")
                for label, key, kind in IRS[params.target]]
    found = [Artifact("qnn_htp_qdq", inputs["qdq"], "qdq", "fp32")]
    if "ctx" in inputs and params.runtime:
        from edgeconv.targets.qnn_htp import run_context

        rt = params.runtime

        def run(path: Path, feeds: dict[str, Any]) -> dict[str, Any]:
            return run_context(path, feeds, rt["soc"], rt["fp16"])

        found.append(Artifact("qnn_htp", inputs["ctx"], "context", "fp16" if rt["fp16"] else "int8", run))
    return found


def cpu_layers(ctx_path: Path, qdq_path: Path, soc: str) -> list[dict[str, str]]:
    """The layers onnxruntime-qnn left on the CPU in the context model, each with QNN's reason."""
    import onnx

    from edgeconv.targets.qnn_htp import cpu_layers as layers, htp_support

    found = layers(onnx.load(str(ctx_path), load_external_data=False))
    if found:
        reasons = htp_support(qdq_path, soc)
        for row in found:
            row["reason"] = reasons.get(row["name"], {}).get("reason", "not said by QNN")
    return found


def run(inputs: Paths, outputs: Paths, params: AnalyzeParams) -> dict[str, Any]:
    import time

    from edgeconv import analysis
    from edgeconv.arrays import load_npz
    from edgeconv.records import write_json_atomic

    started = time.monotonic()
    stage = params.stage(inputs["original"])
    kept = promoted(inputs)
    found = artifacts(inputs, params)
    kind_of = {label: kind for irs in IRS.values() for label, _, kind in irs}
    thresholds = {a.label: params.thresholds.get(kind_of.get(a.label, "qnn_htp"), {}) for a in found}
    rows, summary = analysis.analyze(inputs["float"], inputs["original"], stage, load_npz(inputs["calibration"]),
                                     params.max_images, found, thresholds, kept, workdir=outputs["csv"].parent.parent)
    summary["target"] = params.target
    summary["accuracy_control_promoted"] = sorted(kept)
    if params.target == "qnn_htp" and "ctx" in inputs:
        on_cpu = cpu_layers(inputs["ctx"], inputs["qdq"], params.runtime["soc"])  # type: ignore[index]
        summary["htp_cpu_nodes"] = on_cpu
        if on_cpu:
            log.warning("onnxruntime-qnn left %d layer(s) on the CPU, not the HTP: %s", len(on_cpu),
                        "; ".join(f"{n['name']} ({n['op_type']}): {n['reason']}" for n in on_cpu[:5]))
    summary["seconds"] = round(time.monotonic() - started, 2)
    analysis.write_csv(rows, outputs["csv"])
    analysis.plot(rows, outputs["plot"], f"{params.model} on {params.target}: SQNR along the graph")
    write_json_atomic(outputs["summary"], summary)
    for label, art in summary["artifacts"].items():
        worst = ", ".join(f"{w['tensor']} ({w['op_type']}, {w[art['worst_by']]:.1f} dB)" for w in art["worst"][:3])
        log.info("%s: %d tensors compared, %d unmatched; outputs %s; worst: %s", label, art["compared"],
                 len(art["unmatched"]), _outputs(art["outputs"]), worst or "-")
    return {"analysis": {label: {"worst": art["worst"][:3], "outputs": art["outputs"]}
                         for label, art in summary["artifacts"].items()}}


def _outputs(outputs: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{name} cosine {o['cosine']:.4f}" for name, o in outputs.items())


STEP = Step(
    "analyze", run, AnalyzeParams, configure,
    inputs=("original", "float", "calibration", "ir_fp16", "ir_int8", "qdq", "ctx", "bin", "encodings"),
    outputs=("csv", "summary", "plot"), doc="variant: target")
