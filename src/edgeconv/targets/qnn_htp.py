"""The ``qnn_htp`` target: the RVC4's Hexagon HTP without SNPE or a device.

DepthAI on the RVC4 loads ``.dlc`` files (the ``rvc4`` target, which needs
Qualcomm's SNPE). This target serves onnxruntime-qnn deployments and measures
what quantization does to accuracy without a device:

1. ``quantize_qdq``: onnxruntime static quantization to a QDQ model on the
   calibration data, following ``rvc4.quantization_mode`` where it maps;
2. ``compile_htp``: onnxruntime-qnn compiles an offline HTP context binary for
   the ``htp_arch``/``soc_model`` of the first SoC in ``rvc4.htp_socs``
   (an EP-context ``.onnx`` plus its ``_qnn.bin``);
3. the context model is then verified like every artifact, running in the HTP
   simulator that onnxruntime-qnn ships for x86-64.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.version_converter

from edgeconv.arrays import sample
from edgeconv.errors import ConversionError
from edgeconv.onnx_graph import finite_constants, flatten_gemm_biases, float16_to_float32, unshare_biases
from edgeconv.threads import ort_options

# SoC name (as in rvc4.htp_socs) -> (HTP architecture, QNN soc_model id from QnnTypes.h).
SOCS: dict[str, tuple[str, str]] = {
    "sm8350": ("68", "30"),
    "sm8450": ("69", "36"),
    "sm8550": ("73", "43"),
    "sm8650": ("75", "57"),
    "qcs6490": ("68", "35"),
    "qcs8550": ("73", "66"),  # the RVC4 camera's SoC
}


@dataclass(frozen=True)
class QuantScheme:
    activations: str | None  # onnxruntime QuantType name; None = no quantization (FP16 on the HTP)
    weights: str | None
    calibrate_method: str = "MinMax"
    # Measured with onnxruntime-qnn 2.7.0: the HTP does not take a Conv with per-channel 16-bit
    # weights (the compile fails), but takes per-tensor 16-bit weights.
    per_channel_allowed: bool = True


# rvc4.quantization_mode -> how onnxruntime's quantizer approximates it.
# "Accuracy focused" modes use percentile calibration, which clips rare outliers
# the way SNPE's enhanced quantizer does, instead of min/max.
SCHEMES: dict[str, QuantScheme] = {
    "INT8_STANDARD": QuantScheme("QUInt8", "QUInt8"),
    "INT8_ACCURACY_FOCUSED": QuantScheme("QUInt8", "QUInt8", "Percentile"),
    "INT8_INT16_MIXED": QuantScheme("QUInt16", "QUInt8"),
    "INT8_INT16_MIXED_ACCURACY_FOCUSED": QuantScheme("QUInt16", "QUInt8", "Percentile"),
    "INT16_STANDARD": QuantScheme("QUInt16", "QUInt16", per_channel_allowed=False),
    "FP16_STANDARD": QuantScheme(None, None),
}
UNMAPPABLE = {
    "CUSTOM": "CUSTOM means the user's own snpe-dlc-quant arguments, which onnxruntime's quantizer cannot take",
}


def scheme_for(mode: str) -> QuantScheme:
    if mode in UNMAPPABLE:
        raise ConversionError(
            f"rvc4.quantization_mode {mode} cannot be used for the qnn_htp target: {UNMAPPABLE[mode]}; "
            f"choose one of {', '.join(SCHEMES)} (or drop qnn_htp from the targets of this model)"
        )
    return SCHEMES[mode]


def htp_runtime(stage: Any) -> dict[str, Any]:
    """The SoC a context binary is compiled for (the first of ``rvc4.htp_socs``) and its precision."""
    return {"soc": stage.rvc4.htp_socs[0], "fp16": stage.rvc4.quantization_mode == "FP16_STANDARD"}


def soc_options(soc: str, fp16: bool) -> dict[str, str]:
    import onnxruntime_qnn

    if soc not in SOCS:
        raise ConversionError(f"rvc4.htp_socs: no HTP settings for {soc!r}; known: {', '.join(SOCS)}")
    arch, model = SOCS[soc]
    options = {"htp_arch": arch, "soc_model": model, "backend_path": onnxruntime_qnn.get_qnn_htp_path()}
    if fp16:
        options["enable_htp_fp16_precision"] = "1"
    return options


def qnn_versions() -> dict[str, str]:
    import onnxruntime

    versions = {"onnxruntime": onnxruntime.__version__}
    try:
        versions["onnxruntime-qnn"] = metadata.version("onnxruntime-qnn")
    except metadata.PackageNotFoundError:
        pass
    return versions


def require_qnn() -> None:
    try:
        import onnxruntime_qnn  # noqa: F401
    except ImportError:
        raise ConversionError(
            "the qnn_htp target needs the onnxruntime-qnn package (x86-64 Linux, Python >= 3.11), which is not "
            "installed; install it with `pip install 'edgeconv[qnn]'` or drop qnn_htp from `targets`"
        ) from None


_REGISTERED = False


def qnn_devices() -> list[Any]:
    """Register the QNN execution provider library once per process and return its devices."""
    global _REGISTERED
    require_qnn()
    import onnxruntime as ort
    import onnxruntime_qnn

    if not _REGISTERED:
        ort.register_execution_provider_library("QNNExecutionProvider", onnxruntime_qnn.get_library_path())
        _REGISTERED = True
    devices = [d for d in ort.get_ep_devices() if d.ep_name == "QNNExecutionProvider"]
    if not devices:
        raise ConversionError("onnxruntime-qnn is installed but offers no QNN device on this machine")
    return devices


# --------------------------------------------------------------------------- quantize


class QdqQuantizer:
    """onnxruntime's QDQ quantization of one model, prepared once for many encodings: the model is
    stripped, upgraded and preprocessed once, and the activation ranges are collected once (the
    first call runs the calibrator over the samples and keeps its ranges in ``calibration_cache_path``,
    which onnxruntime reads back on every later call), so each later call only rebuilds the QDQ
    graph. ``encodings``: AIMET-format encodings, applied as TensorQuantOverrides."""

    def __init__(self, onnx_path: Path, calibration: dict[str, np.ndarray] | None, mode: str, per_channel: bool,
                 workdir: Path) -> None:
        self.onnx_path, self.calibration, self.mode = onnx_path, calibration, mode
        self.scheme = scheme_for(mode)
        self.per_channel = per_channel and self.scheme.per_channel_allowed
        self.workdir = workdir
        self.source: Path | None = None
        self.preprocess_note = ""
        self.widened = 0
        self.unshared = 0
        self.flattened = 0
        self.finite: dict[str, int] = {}
        self.opset = 0
        self.ranges = workdir / "calibration_ranges.json"
        self.pinned: list[str] = []  # kept at 8 bits in a 16-bit activation mode (found once, in _prepare)

    def _prepare(self) -> Path:
        if self.source is not None:
            return self.source
        from onnxruntime.quantization.execution_providers.qnn import qnn_preprocess_model

        model = onnx.load(str(self.onnx_path))
        # onnxruntime's preprocessor fails on models carrying metadata_props (onnxslim writes some).
        del model.metadata_props[:]
        # A half-precision export is quantized from its float32 form (the quantizer cannot take float16).
        self.widened = float16_to_float32(model)
        # A bias two nodes share is copied here, under a name no tensor has (the quantizer's own
        # copies can take an activation's name: onnx_graph.unshare_biases).
        self.unshared = unshare_biases(model)
        # A Gemm's [1, N] bias gets per-channel scales along its axis of size 1 (onnx_graph.flatten_gemm_biases).
        self.flattened = flatten_gemm_biases(model)
        # An infinite constant gets an infinite scale (onnx_graph.finite_constants).
        self.finite = finite_constants(model)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        if self.opset < 13:
            # QDQ with per-channel scales (DequantizeLinear's axis) needs opset 13.
            try:
                model = onnx.version_converter.convert_version(model, 13)
            except Exception as exc:
                raise ConversionError(
                    f"cannot upgrade {self.onnx_path} from opset {self.opset} to 13 for QDQ quantization ({exc}); "
                    "export the model with opset >= 13"
                ) from None
        stripped = self.workdir / "stripped.onnx"
        pre = self.workdir / "preprocessed.onnx"
        onnx.save(model, str(stripped))
        try:
            changed = qnn_preprocess_model(str(stripped), str(pre))
            self.preprocess_note = "applied" if changed else "no change"
        except Exception as exc:  # preprocessing only fuses patterns; quantizing without it is still correct
            changed = False
            self.preprocess_note = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.source = pre if changed else stripped
        if self.scheme.activations in ("QUInt16", "QInt16"):
            # What the HTP computes wrong at 16 bits stays 8-bit (accuracy_control.htp_pinned_8bit).
            from edgeconv.accuracy_control import htp_pinned_8bit

            self.pinned = htp_pinned_8bit(self.source)
        return self.source

    def __call__(self, encodings: dict[str, Any] | None, out: Path) -> dict[str, Any]:
        scheme, calibration = self.scheme, self.calibration
        out.parent.mkdir(parents=True, exist_ok=True)
        if scheme.activations is None:
            shutil.copyfile(self.onnx_path, out)  # FP16 runs the float model; the HTP computes in fp16
            return {"tool": "copy", "call": f"FP16_STANDARD: {self.onnx_path} unchanged, compiled with enable_htp_fp16_precision=1"}
        if not calibration:
            raise ConversionError("quantize_qdq: no calibration data")
        from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantType, quantize_static
        from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                n = len(next(iter(calibration.values())))
                self._it = iter([sample(calibration, i) for i in range(n)])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._it, None)

        source = self._prepare()
        pinned = self.pinned
        if pinned:
            from edgeconv.encodings import normalize_io

            encodings = normalize_io(encodings or {}, pinned)
        overrides, applied = None, None
        if encodings:
            from edgeconv.encodings import to_tensor_quant_overrides

            overrides, applied = to_tensor_quant_overrides(encodings, source)
        config = get_qnn_qdq_config(
            str(source),
            Reader(),
            calibrate_method=CalibrationMethod[scheme.calibrate_method],
            activation_type=QuantType[scheme.activations],
            weight_type=QuantType[scheme.weights],
            per_channel=self.per_channel,
            init_overrides=overrides or None,
        )
        tmp_out = self.workdir / "quantized.onnx"
        try:
            quantize_static(
                str(source), str(tmp_out), config.calibration_data_reader,
                calibrate_method=config.calibrate_method, quant_format=config.quant_format,
                activation_type=config.activation_type, weight_type=config.weight_type,
                op_types_to_quantize=config.op_types_to_quantize, nodes_to_quantize=config.nodes_to_quantize,
                nodes_to_exclude=config.nodes_to_exclude, per_channel=config.per_channel,
                reduce_range=config.reduce_range, use_external_data_format=config.use_external_data_format,
                calibration_providers=config.calibration_providers, extra_options=config.extra_options,
                calibration_cache_path=str(self.ranges),
            )
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(f"onnxruntime quantization failed for mode {self.mode}: {first}") from None
        for extra in self.workdir.glob("quantized.onnx*"):  # the model, and its weights when written beside it
            os.replace(extra, out.with_name(out.name + extra.name.removeprefix("quantized.onnx")))
        return {
            "tool": "onnxruntime.quantization",
            **qnn_versions(),
            "call": (
                f"quantize_static(get_qnn_qdq_config(model, <{len(next(iter(calibration.values())))} samples>, "
                f"calibrate_method={scheme.calibrate_method}, activation_type={scheme.activations}, "
                f"weight_type={scheme.weights}, per_channel={self.per_channel}), calibration_cache_path=<ranges>)"
            ),
            "qnn_preprocess_model": self.preprocess_note,
            "opset_upgraded_from": self.opset if self.opset < 13 else None,
            **({"float16_widened": f"{self.widened} float16 tensor(s) and Cast(s) made float32 before quantizing"}
               if self.widened else {}),
            **({"biases_unshared": f"{self.unshared} shared bias(es) copied, one per node, before quantizing"}
               if self.unshared else {}),
            **({"gemm_biases_flattened": f"{self.flattened} Gemm bias(es) read as [N] instead of [1, N] before quantizing"}
               if self.flattened else {}),
            **({"infinite_constants": self.finite} if self.finite else {}),
            **({"tensor_quant_overrides": applied} if applied is not None else {}),
            **({"pinned_8bit": pinned} if pinned else {}),
        }


def search_quantizer(onnx_path: Path, mode: str, per_channel: bool, workdir: Path) -> Any:
    """For accuracy control's trials: ``quantize(statistics, encodings, out)``, one
    :class:`QdqQuantizer` made on the first call (the statistics are the same for every trial), so
    the activation ranges are collected once and every later trial only rebuilds the QDQ graph."""
    made: list[QdqQuantizer] = []

    def quantize(statistics: dict[str, np.ndarray], encodings: dict[str, Any] | None, out: Path) -> None:
        if not made:
            (workdir / "quantizer").mkdir(parents=True, exist_ok=True)
            made.append(QdqQuantizer(onnx_path, statistics, mode, per_channel, workdir / "quantizer"))
        made[0](encodings, out)

    return quantize


def quantize_qdq(
    onnx_path: Path, calibration: dict[str, np.ndarray] | None, out: Path, mode: str, per_channel: bool,
    encodings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One QDQ model (see :class:`QdqQuantizer`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        return QdqQuantizer(onnx_path, calibration, mode, per_channel, Path(tmp))(encodings, out)


# --------------------------------------------------------------------------- compile


def compile_htp(model_path: Path, ctx_out: Path, soc: str, fp16: bool) -> dict[str, Any]:
    """Compile an offline HTP context binary; writes ``<name>.ctx.onnx`` and ``<name>.ctx_qnn.bin``."""
    import onnxruntime as ort

    devices = qnn_devices()
    options = soc_options(soc, fp16)
    ctx_out.parent.mkdir(parents=True, exist_ok=True)
    bin_name = f"{ctx_out.name[: -len('.onnx')]}_qnn.bin"
    with tempfile.TemporaryDirectory(dir=ctx_out.parent, prefix=f".{ctx_out.name}.") as tmp:
        tmp_ctx = Path(tmp) / ctx_out.name
        so = ort_options(ort.SessionOptions())
        so.log_severity_level = 3
        so.add_session_config_entry("ep.context_enable", "1")
        so.add_session_config_entry("ep.context_file_path", str(tmp_ctx))
        so.add_session_config_entry("ep.context_embed_mode", "0")
        # Nodes the HTP does not take stay on the CPU; partition_summary records them.
        so.add_provider_for_devices(devices, options)
        try:
            ort.InferenceSession(str(model_path), so)
        except Exception as exc:
            from edgeconv.op_errors import cannot_convert

            text = str(exc).strip()
            named = cannot_convert(f"onnxruntime-qnn ({soc})", model_path, text)
            if named:  # the op and its nodes first, then onnxruntime's own words
                raise ConversionError(f"{named}\n{text}") from None
            first = text.splitlines()[0] if text else type(exc).__name__
            raise ConversionError(f"onnxruntime-qnn could not compile {model_path} for {soc}: {first}") from None
        produced_bin = Path(tmp) / bin_name
        if not tmp_ctx.exists() or not produced_bin.exists():
            raise ConversionError(
                f"onnxruntime-qnn wrote no context binary for {model_path}; the HTP took none of the graph "
                f"(files written: {sorted(p.name for p in Path(tmp).iterdir())})"
            )
        summary = partition_summary(onnx.load(str(tmp_ctx)))
        if summary["ep_context_nodes"] == 0:
            raise ConversionError(f"onnxruntime-qnn placed no part of {model_path} on the HTP")
        os.replace(produced_bin, ctx_out.parent / bin_name)
        os.replace(tmp_ctx, ctx_out)
    public_options = {k: v for k, v in options.items() if k != "backend_path"} | {"backend_path": "libQnnHtp.so"}
    return {
        "tool": "onnxruntime-qnn",
        **qnn_versions(),
        "soc": soc,
        "provider_options": public_options,
        "session_config": {"ep.context_enable": "1", "ep.context_embed_mode": "0"},
        "partition": summary,
        "call": f"onnxruntime.InferenceSession({str(model_path)!r}, QNNExecutionProvider {public_options})",
    }


def compile_htp_files(model_path: str, ctx_out: str, soc: str, fp16: bool) -> dict[str, Any]:
    """:func:`compile_htp` with paths as strings (called through edgeconv.isolated)."""
    return compile_htp(Path(model_path), Path(ctx_out), soc, fp16)


def partition_summary(ctx_model: onnx.ModelProto) -> dict[str, Any]:
    """Which nodes the HTP took (inside EPContext nodes) and which stayed on the CPU: op counts,
    and by name the model's own layers left there (the quantize/dequantize that convert its float
    inputs and outputs are expected on the CPU and not listed)."""
    ops = Counter(n.op_type for n in ctx_model.graph.node)
    ep_nodes = [n for n in ctx_model.graph.node if n.op_type == "EPContext"]
    sdk = next((a.s.decode() for n in ep_nodes for a in n.attribute if a.name == "ep_sdk_version"), None)
    outside = {op: c for op, c in ops.items() if op != "EPContext"}
    return {"ep_context_nodes": len(ep_nodes), "cpu_nodes": outside, "qnn_sdk_version": sdk,
            "cpu_layers": cpu_layers(ctx_model)}


def cpu_layers(ctx_model: onnx.ModelProto) -> list[dict[str, str]]:
    """The nodes of an EP-context model outside its EPContext nodes, but for the quantize and
    dequantize at the model's inputs and outputs: the layers onnxruntime-qnn left on the CPU."""
    graph = ctx_model.graph
    io = {v.name for v in (*graph.input, *graph.output)}
    layers = []
    for n in graph.node:
        at_io = n.op_type in ("QuantizeLinear", "DequantizeLinear") and (set(n.input) | set(n.output)) & io
        if n.op_type != "EPContext" and not at_io:
            layers.append({"name": n.name or n.output[0], "op_type": n.op_type})
    return layers


def htp_support(model_path: Path, soc: str, fp16: bool = False) -> dict[str, dict[str, str]]:
    """Node name -> {op_type, reason}: the nodes the QNN EP refuses for the HTP, with why in QNN's
    own words (the float IO's quantize/dequantize left out): a session with
    onnxruntime's verbose log (its C++ log goes to the process's stderr, caught in a file)."""
    import re

    import onnxruntime as ort

    so = ort_options(ort.SessionOptions())
    so.log_severity_level = 0
    so.log_verbosity_level = 0
    so.add_provider_for_devices(qnn_devices(), soc_options(soc, fp16))
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        try:
            ort.InferenceSession(str(model_path), so)
        except Exception:  # noqa: BLE001 - what it logged before failing is still read
            pass
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    reasons = {}
    pattern = r"Operator type: (\S+) Node name: (.*?) Node index: \d+\s*REASON : (.*)"
    for op, name, reason in re.findall(pattern, text):
        if "Q nodes that consume a graph input" in reason or "DQ nodes that generate a graph output" in reason:
            continue  # the float IO's conversions, expected on the CPU
        reasons.setdefault(name.strip(), {"op_type": op, "reason": reason.strip()})
    return reasons


def context_runner(ctx_path: Path, soc: str, fp16: bool) -> Any:
    """One HTP-simulator session (x86-64, onnxruntime-qnn) for an EP-context model:
    ``runner(feeds) -> outputs``."""
    import onnxruntime as ort

    so = ort_options(ort.SessionOptions())
    so.log_severity_level = 3
    so.add_provider_for_devices(qnn_devices(), soc_options(soc, fp16))
    sess = ort.InferenceSession(str(ctx_path), so)
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))

    return run


def run_context(ctx_path: Path, feeds: dict[str, np.ndarray], soc: str, fp16: bool) -> dict[str, np.ndarray]:
    """Run an EP-context model in the HTP simulator (x86-64) through onnxruntime-qnn."""
    return context_runner(ctx_path, soc, fp16)(feeds)


def simulator_runner(soc: str) -> Any:
    """For a QDQ model: compile it for ``soc`` and return a runner of it in the HTP simulator."""

    def make(qdq_path: Path) -> Any:
        ctx = qdq_path.with_name(qdq_path.name.removesuffix(".onnx") + ".ctx.onnx")
        compile_htp(qdq_path, ctx, soc, False)
        return context_runner(ctx, soc, False)

    return make
