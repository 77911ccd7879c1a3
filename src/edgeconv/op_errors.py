"""Errors that name the op: when a tool cannot convert or compile a model, its first line says
which op types and which nodes, and what to do.

The tools put that in lines after their first (OpenVINO's frontend: a summary after
``Check 'false' failed at .../unconverted_ops_report.cpp``; mo: ``[ ERROR ]`` lines). This reads
those lines, finds the nodes of the op types named in the ONNX model, and writes one line."""

from __future__ import annotations

import re
from pathlib import Path

# (pattern, what it gives): op types listed, or one node with its op type.
_OP_LISTS = (
    # OpenVINO frontends (convert_model, read_model, mo 2022+): the unconverted-ops summary.
    re.compile(r"No conversion rule found for operations?:\s*(?P<ops>.+)"),
    re.compile(r"Conversion is failed for:\s*(?P<ops>.+)"),
    # onnxruntime (and so onnxruntime-qnn) loading a graph: "No Op registered for Mish with domain_version of 17".
    re.compile(r"No Op registered for (?P<ops>[\w.]+)"),
)
_NODES = (
    # mo: 'There is no registered "infer" function for node "X" with op = "Y".'
    re.compile(r'no registered "infer" function for node "(?P<node>[^"]+)" with op = "(?P<op>[^"]+)"'),
    # mo: 'Cannot infer shapes or values for node "X".'
    re.compile(r'Cannot infer shapes or values for node "(?P<node>[^"]+)"'),
    # OpenVINO plugins (MYRIAD compile_tool): 'Cannot create X layer Y' / 'unsupported layer type "X"'.
    re.compile(r'Cannot create (?P<op>\w+) layer (?P<node>\S+)'),
    re.compile(r'layer "(?P<node>[^"]+)": unsupported layer type "(?P<op>[^"]+)"'),
    # SNPE's converters: "ERROR - Node X: 'No translation registered for op type onnx_y. ..."
    re.compile(r"Node (?P<node>\S+): '?No translation registered for op type (?:onnx_)?(?P<op>[\w.]+?)\.?(?:'| |$)"),
)

WHAT_TO_DO = ("replace or remove it before conversion (onnx_modifications in the model's config), export the model "
              "with another opset, or convert for another target")


def named_ops(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(op types, (node, op type) pairs) a tool's error output names."""
    ops: list[str] = []
    nodes: list[tuple[str, str]] = []
    for line in text.splitlines():
        for pattern in _OP_LISTS:
            if m := pattern.search(line):
                ops += [o.strip() for o in m["ops"].split(",") if o.strip()]
        for pattern in _NODES:
            if m := pattern.search(line):
                nodes.append((m["node"], m.groupdict().get("op") or ""))
    return list(dict.fromkeys(ops)), list(dict.fromkeys(nodes))


def onnx_nodes(onnx_path: Path, ops: list[str], limit: int = 5) -> dict[str, list[str]]:
    """Per op type (``Op`` or ``domain.Op``), the names of up to ``limit`` nodes of that type in
    ``onnx_path`` (a node without a name is named by its first output)."""
    import onnx

    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - the tool's own words are still given
        return {}
    found: dict[str, list[str]] = {}
    for node in graph.node:
        for key in (node.op_type, f"{node.domain}.{node.op_type}" if node.domain else node.op_type):
            if key in ops and len(found.setdefault(key, [])) < limit:
                found[key].append(node.name or (node.output[0] if node.output else "?"))
                break
    return found


def describe(tool_output: str, model: Path | None = None) -> str | None:
    """``op types X (nodes a, b), Y (node c)`` from a tool's error output, or None when it names none."""
    ops, nodes = named_ops(tool_output)
    where = onnx_nodes(model, ops) if model is not None and model.suffix == ".onnx" and ops else {}
    typed, untyped = [], []
    for op in ops:
        names = where.get(op, [])
        typed.append(f"{op} (node{'s' if len(names) > 1 else ''} {', '.join(names)})" if names else op)
    for node, op in nodes:
        if op and op not in ops:
            typed.append(f"{op} (node {node})")
        elif not op:
            untyped.append(f"node {node}")
    parts = ([f"op type{'s' if len(typed) > 1 else ''} {', '.join(typed)}"] if typed else []) + untyped
    return ", ".join(parts) or None


def cannot_convert(tool: str, model: Path, tool_output: str) -> str | None:
    """The first line of a "cannot convert" error that names the ops, or None when the output names none."""
    named = describe(tool_output, model)
    if named is None:
        return None
    return f"{tool} cannot convert {named} of {model}: {WHAT_TO_DO}"
