"""Quantization encodings in AIMET's format (``rvc4.encodings``, modelconv 0.6.x).

A config may pin the quantization of chosen tensors::

    rvc4:
      encodings:                      # inline, a JSON string, or a path to a JSON file
        activation_encodings:         # {tensor: [entry, ...]} or [{name: tensor, ...}, ...]
          conv1_out: [{bitwidth: 16, dtype: int}]
        param_encodings:
          conv1.weight: [{bitwidth: 8, is_symmetric: "True", scale: [...], offset: [...]}]

An entry holds ``bitwidth`` (4, 8, 16, 32), ``dtype`` (``int``/``float``), ``is_symmetric``,
``scale``/``offset`` (AIMET: ``real = scale * (q + offset)``) and ``min``/``max``; ``bw`` and
``is_sym`` are AIMET's short names. A list under ``scale``/``offset``/``min``/``max`` is one
value per channel.

What is done with them, as the reference does:

- ``rvc4``: the payload goes to ``snpe-onnx-to-dlc --quantization_overrides FILE``. With
  ``rvc4.normalize_io_encodings`` (default on) the model's own inputs and outputs are given the
  default 8-bit integer encoding first (DepthAI takes no custom encodings on exposed tensors).
- ``rvc4.strict_quantization_overrides``: every name must be an activation (for
  ``activation_encodings``) or a parameter (for ``param_encodings``) of the ONNX model SNPE reads.
- ``qnn_htp``: the same choice becomes onnxruntime ``TensorQuantOverrides``
  (:func:`to_tensor_quant_overrides`), so what is verified in the HTP simulator is what SNPE gets.

Only the standard library and numpy: steps import this without pydantic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError

GROUPS = ("activation_encodings", "param_encodings")
PER_CHANNEL_KEYS = ("scale", "offset", "min", "max")
KNOWN_KEYS = {"name", "bitwidth", "bw", "is_symmetric", "is_sym", "dtype", *PER_CHANNEL_KEYS}
# What IO normalization replaces on an exposed tensor's entry (the reference's list).
IO_KEYS = {"bitwidth", "bw", "is_symmetric", "is_sym", "dtype", *PER_CHANNEL_KEYS}
IO_DEFAULT = {"bitwidth": 8, "dtype": "int"}


class EncodingsError(ConversionError, ValueError):
    """Encodings that cannot be used; the message names the key or tensor and what to do."""


def parse_value(value: Any) -> dict[str, Any] | str:
    """A config's ``rvc4.encodings``: an inline mapping or JSON text -> the payload (checked);
    anything else -> the path it names (read by :func:`load_file`)."""
    if isinstance(value, dict):
        check(value)
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            payload = json.loads(value)
        except json.JSONDecodeError as exc:
            raise EncodingsError(f"the inline JSON does not parse ({exc.msg} at line {exc.lineno}); fix the JSON") from None
        check(payload)
        return payload
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise EncodingsError(f"must be a mapping, JSON text or the path of a JSON file, got {value!r}")


def load_file(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except OSError as exc:
        raise EncodingsError(f"cannot read {path} ({exc.strerror}); give an existing JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncodingsError(f"{path} is not JSON ({exc}); give AIMET-format encodings") from None
    check(payload, str(path))
    return payload


def check(payload: Any, where: str = "") -> None:
    """The payload's shape, as SNPE and the reference expect it; raises with the first problem."""
    at = f"{where}: " if where else ""
    if not isinstance(payload, dict):
        raise EncodingsError(f"{at}encodings must be a JSON object with activation_encodings/param_encodings")
    unknown = sorted(set(payload) - {*GROUPS, "version", "quantizer_args", "excluded_layers"})
    if unknown:
        raise EncodingsError(f"{at}unknown key(s) {unknown}; AIMET encodings hold {', '.join(GROUPS)}")
    for group in GROUPS:
        for name, entries in _entries(payload.get(group, {}), f"{at}{group}"):
            for i, entry in enumerate(entries):
                _check_entry(entry, f"{at}{group}.{name}[{i}]")


def _entries(group: Any, key: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(tensor name, entries) of a group given as ``{name: entry | [entries]}`` or ``[{name, ...}]``."""
    if isinstance(group, dict):
        out = []
        for name, value in group.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, dict) for v in values):
                raise EncodingsError(f"{key}.{name}: each entry must be a mapping such as {{bitwidth: 8, dtype: int}}")
            out.append((str(name), values))
        return out
    if isinstance(group, list):
        merged: dict[str, list[dict[str, Any]]] = {}
        for i, item in enumerate(group):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise EncodingsError(f"{key}[{i}]: a list entry must be a mapping with a tensor `name`")
            merged.setdefault(item["name"], []).append(item)
        return list(merged.items())
    raise EncodingsError(f"{key}: must be a mapping of tensor names or a list, got {type(group).__name__}")


def _check_entry(entry: dict[str, Any], key: str) -> None:
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise EncodingsError(f"{key}: unknown field(s) {unknown}; known: {', '.join(sorted(KNOWN_KEYS - {'name'}))}")
    bits = entry.get("bitwidth", entry.get("bw"))
    if bits is not None and bits not in (4, 8, 16, 32):
        raise EncodingsError(f"{key}.bitwidth: {bits!r}; use 4, 8, 16 or 32")
    dtype = entry.get("dtype")
    if dtype is not None and str(dtype).lower() not in ("int", "float"):
        raise EncodingsError(f"{key}.dtype: {dtype!r}; use int or float")
    sym = entry.get("is_symmetric", entry.get("is_sym"))
    if sym is not None and _flag(sym) is None:
        raise EncodingsError(f"{key}.is_symmetric: {sym!r}; use true or false")
    lengths = {len(v) for k, v in entry.items() if k in PER_CHANNEL_KEYS and isinstance(v, list)}
    if len(lengths) > 1:
        raise EncodingsError(f"{key}: per-channel fields have different lengths {sorted(lengths)}; give one value per channel in each")
    for k in PER_CHANNEL_KEYS:
        values = entry.get(k)
        for v in values if isinstance(values, list) else [values]:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise EncodingsError(f"{key}.{k}: {v!r} is not a number")
    if entry.get("scale") is not None and "offset" not in entry:
        raise EncodingsError(f"{key}: `scale` needs `offset` (AIMET: real = scale * (q + offset))")


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def names(payload: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(activation names, parameter names) the payload pins."""
    return tuple(  # type: ignore[return-value]
        {name for name, _ in _entries(payload.get(group, {}), group)} for group in GROUPS
    )


# --------------------------------------------------------------------------- the model's names


def model_names(model_path: Path) -> tuple[set[str], set[str]]:
    """(activations, parameters) of an ONNX model: graph inputs, outputs and node outputs that are
    not initializers or Constant outputs; initializers and Constant outputs."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    params = {t.name for t in graph.initializer if t.name}
    params |= {s.values.name for s in graph.sparse_initializer if s.values.name}
    activations = {v.name for v in (*graph.input, *graph.output) if v.name}
    for node in graph.node:
        if node.op_type == "Constant":
            params.update(o for o in node.output if o)
        activations.update(n for n in (*node.input, *node.output) if n)
    return activations - params, params


def check_names(payload: dict[str, Any], model_path: Path) -> None:
    """``strict_quantization_overrides``: every name is an activation or parameter of the model,
    in the right group."""
    activations, params = model_names(model_path)
    act_names, param_names = names(payload)
    wrong_act = sorted(act_names - activations)
    wrong_param = sorted(param_names - params)
    if wrong_act or wrong_param:
        hints = []
        for n in wrong_act:
            hints.append(f"{n!r} is a parameter: move it to param_encodings" if n in params else f"no activation {n!r}")
        for n in wrong_param:
            hints.append(f"{n!r} is an activation: move it to activation_encodings" if n in activations else f"no parameter {n!r}")
        raise EncodingsError(
            f"rvc4.strict_quantization_overrides: {len(hints)} override name(s) do not match the model {model_path}: "
            + "; ".join(hints[:10]) + ("; ..." if len(hints) > 10 else "")
            + " (names are the ONNX tensor names after edgeconv's ONNX steps; see the simplified model)"
        )


# --------------------------------------------------------------------------- IO normalization


def normalize_io(payload: dict[str, Any], io_names: list[str]) -> dict[str, Any]:
    """A copy of the payload in which the model's own inputs and outputs carry the default 8-bit
    integer encoding (an exposed tensor with no entry gets one), as the reference does."""
    out = json.loads(json.dumps(payload))
    acts = out.setdefault("activation_encodings", {})
    if isinstance(acts, list):
        seen = set()
        for item in acts:
            if item.get("name") in io_names:
                _to_default(item)
                seen.add(item["name"])
        acts.extend({"name": n, **IO_DEFAULT} for n in io_names if n not in seen)
        return out
    for name in io_names:
        entry = acts.get(name)
        if entry is None or entry == []:
            acts[name] = [dict(IO_DEFAULT)]
        else:
            for item in entry if isinstance(entry, list) else [entry]:
                _to_default(item)
    return out


def _to_default(item: dict[str, Any]) -> None:
    for key in IO_KEYS:
        item.pop(key, None)
    item.update(IO_DEFAULT)


# --------------------------------------------------------------------------- what a step uses


def for_model(
    inline: dict[str, Any] | None, file: Path | None, model: Path, io_names: list[str], *, strict: bool, normalize: bool
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The payload a step applies to ``model`` (the ONNX or TFLite model the tool reads), and what
    the step record says of it: its source, what strict checking found, which exposed tensors IO
    normalization set to 8-bit."""
    if inline is None and file is None:
        return None, {}
    payload = load_file(file) if file is not None else inline
    assert payload is not None
    note: dict[str, Any] = {"source": str(file) if file is not None else "inline (rvc4.encodings)"}
    if strict:
        if model.suffix.lower() != ".onnx":
            raise EncodingsError(
                f"rvc4.strict_quantization_overrides checks names in an ONNX model; {model} is not one "
                "(set it to false for this model)"
            )
        check_names(payload, model)
        note["strict"] = "every name is in the model"
    if normalize:
        payload = normalize_io(payload, io_names)
        note["io_normalized"] = sorted(io_names)
    acts, params = names(payload)
    note.update(activations=len(acts), parameters=len(params))
    return payload, note


def step_settings(rvc4: Any, *, searcher: bool = False) -> dict[str, Any]:
    """The encodings parameters of a step that applies them (``onnx_to_dlc``, ``quantize_qdq``),
    or of the accuracy-control search (``searcher``). With accuracy control the appliers get the
    search's encodings as their ``encodings`` input (the user's own merged and checked there), so
    their parameters carry none. Keys that cannot matter are left at their defaults, so changing
    them reruns nothing."""
    searched = rvc4.accuracy_control is not None and not searcher
    given = rvc4.encodings is not None and not searched
    return {
        "encodings": rvc4.encodings if isinstance(rvc4.encodings, dict) and not searched else None,
        "normalize_io_encodings": rvc4.normalize_io_encodings if given or searched or searcher else True,
        "strict_quantization_overrides": rvc4.strict_quantization_overrides if given else False,
    }


def write(payload: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


# --------------------------------------------------------------------------- onnxruntime


def to_tensor_quant_overrides(
    payload: dict[str, Any], model_path: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """onnxruntime ``TensorQuantOverrides`` for the QDQ quantization of ``model_path``, and a note
    of what was applied and what was left out (a name the model does not have, 32-bit biases that
    onnxruntime quantizes by itself)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType

    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {t.name: t for t in model.graph.initializer}
    activations, params = model_names(model_path)
    overrides: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    for group in GROUPS:
        known = activations if group == "activation_encodings" else params
        for name, entries in _entries(payload.get(group, {}), group):
            if name not in known:
                skipped[name] = f"not a{'n activation' if group == 'activation_encodings' else ' parameter'} of the model"
                continue
            first = entries[0]
            bits = int(first.get("bitwidth", first.get("bw", 8)))
            dtype = str(first.get("dtype", "int")).lower()
            if dtype == "float":
                raise EncodingsError(
                    f"rvc4.encodings.{group}.{name}: dtype float cannot be simulated by onnxruntime's QDQ "
                    "quantizer for qnn_htp; use an integer encoding, or quantization_mode FP16_STANDARD"
                )
            if bits == 32:
                skipped[name] = "32-bit (onnxruntime quantizes biases to int32 by itself)"
                continue
            symmetric = bool(_flag(first.get("is_symmetric", first.get("is_sym", False))))
            qtype = {(4, False): QuantType.QUInt4, (4, True): QuantType.QInt4, (8, False): QuantType.QUInt8,
                     (8, True): QuantType.QInt8, (16, False): QuantType.QUInt16, (16, True): QuantType.QInt16}[(bits, symmetric)]
            expanded = _expand(entries)
            per_channel = len(expanded) > 1
            if per_channel and name not in initializers:
                skipped[name] = "per-channel values on an activation (onnxruntime takes them only on weights)"
                continue
            result = []
            for i, entry in enumerate(expanded):
                item: dict[str, Any] = {"quant_type": qtype}
                if "scale" in entry:
                    dt = {QuantType.QUInt4: np.uint8, QuantType.QInt4: np.int8, QuantType.QUInt8: np.uint8,
                          QuantType.QInt8: np.int8, QuantType.QUInt16: np.uint16, QuantType.QInt16: np.int16}[qtype]
                    shift = (1 << (bits - 1)) if symmetric else 0  # AIMET's unsigned grid -> a signed type
                    item["scale"] = np.array(entry["scale"], dtype=np.float32)
                    item["zero_point"] = np.array(-int(entry["offset"]) - shift, dtype=dt)
                elif "min" in entry and "max" in entry and not per_channel:
                    item["rmin"] = np.array(entry["min"], dtype=np.float32)
                    item["rmax"] = np.array(entry["max"], dtype=np.float32)
                elif symmetric:
                    item["symmetric"] = True
                if per_channel and i == 0:
                    item["axis"] = _channel_axis(numpy_helper.to_array(initializers[name]).shape, len(expanded), name)
                result.append(item)
            overrides[name] = result
    note = {
        "applied": sorted(overrides),
        "skipped": dict(sorted(skipped.items())),
    }
    return overrides, note


def _expand(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per channel: lists under scale/offset/min/max spread over entries."""
    if len(entries) > 1:
        return entries
    entry = entries[0]
    lengths = [len(v) for k, v in entry.items() if k in PER_CHANNEL_KEYS and isinstance(v, list)]
    if not lengths:
        return [entry]
    if lengths[0] == 1:
        return [{k: v[0] if isinstance(v, list) else v for k, v in entry.items()}]
    return [{k: v[i] if isinstance(v, list) else v for k, v in entry.items()} for i in range(lengths[0])]


def _channel_axis(shape: tuple[int, ...], channels: int, name: str) -> int:
    """The weight axis the per-channel values run along: the output channels (axis 0 for Conv,
    the last for a MatMul weight), whichever has that many elements."""
    for axis in (0, len(shape) - 1, 1):
        if 0 <= axis < len(shape) and shape[axis] == channels:
            return axis
    raise EncodingsError(
        f"rvc4.encodings.param_encodings.{name}: {channels} per-channel entries but the weight's shape is "
        f"{list(shape)}; give one entry per output channel"
    )


def from_qdq(model: Any) -> tuple[Any, dict[str, Any]]:
    """A model that comes quantized (QuantizeLinear/DequantizeLinear, as onnxruntime, NNCF, AIMET and
    Brevitas export it) as a float model and the AIMET encodings of its own quantization: each
    activation Q->DQ pair becomes a Clip to its range (the clamp it did) and its scale, offset and bit
    width are kept for the tensors on both sides; each DequantizeLinear of a weight becomes the float weight it computes, its (per
    channel) encodings kept under that name. SNPE then gets them as ``--quantization_overrides``,
    as the reference does with ``rvc4.encodings``."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}

    def const(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        node = producer.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def encoding(scale: np.ndarray, zero: np.ndarray | None) -> list[dict[str, Any]]:
        dtype = zero.dtype if zero is not None else np.dtype(np.uint8)
        bits = dtype.itemsize * 8
        info = np.iinfo(dtype)
        zeros = np.broadcast_to(zero if zero is not None else np.zeros(1, dtype), scale.shape).reshape(-1)
        out = []
        for s, z in zip(scale.reshape(-1).astype(float), zeros.astype(int)):
            signed = info.min < 0
            # AIMET: real = (q + offset) * scale on the unsigned grid 0 .. 2^bits - 1.
            offset = -int(z) + (info.min if signed else 0)
            out.append({"bitwidth": bits, "dtype": "int", "scale": s, "offset": offset,
                        "min": (info.min - int(z)) * s, "max": (info.max - int(z)) * s,
                        "is_symmetric": str(bool(signed and int(z) == 0))})
        return out

    acts: dict[str, list[dict[str, Any]]] = {}
    params: dict[str, list[dict[str, Any]]] = {}
    drop: list[Any] = []
    new_inits: list[Any] = []
    clips: dict[int, Any] = {}  # a dropped activation DQ -> the Clip in its place
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        scale, zero = const(node.input[1]), const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        source = producer.get(node.input[0])
        weight = const(node.input[0])
        if scale is None:
            continue
        if weight is not None:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.size > 1:
                shape = [1] * weight.ndim
                shape[axis] = -1
                real = (weight.astype(np.float64) - (zero.reshape(shape) if zero is not None else 0)) * scale.reshape(shape)
            else:
                real = (weight.astype(np.float64) - (zero if zero is not None else 0)) * scale
            new_inits.append(numpy_helper.from_array(real.astype(np.float32), node.output[0]))
            if weight.dtype != np.int32:  # int32 biases: SNPE quantizes them itself
                params[node.output[0]] = encoding(scale, zero)
            drop.append(node)
        elif source is not None and source.op_type == "QuantizeLinear":
            # The pair becomes a Clip to its range: a quantizer that dropped a Relu after a Conv leaves
            # the clamp to the quantization (zero point at the grid's bottom), and the float model must too.
            enc = encoding(scale, zero)
            acts[source.input[0]] = acts[node.output[0]] = enc
            drop.extend([node, source])
            low, high = (numpy_helper.from_array(np.array(enc[0][k], np.float32), f"{node.output[0]}_{k}")
                         for k in ("min", "max"))
            new_inits.extend([low, high])
            clips[id(node)] = (onnx.helper.make_node("Clip", [source.input[0], low.name, high.name], [node.output[0]],
                                               name=f"{node.output[0]}_range"))
    dropped = {id(n) for n in drop}
    kept = [clips.get(id(n), n) for n in graph.node if id(n) not in dropped or id(n) in clips]
    used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    kept = [n for n in kept if n.op_type != "Constant" or set(n.output) & used]  # quantized weights' Constants
    del graph.node[:]
    graph.node.extend(kept)
    keep_inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend([*keep_inits, *new_inits])
    return model, {"activation_encodings": acts, "param_encodings": params}
