"""What a run delivered, for the end of ``make demo`` and ``edgeconv convert``: one row per published
artifact (its path, target, precision, the figure its check gave and the seconds its steps took), then
the commands to go on with.

    python -m edgeconv.delivered [results]        # every published artifact under results/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgeconv import layout

NEXT = (
    "next: snakemake --report report.html            (the report of what was built)\n"
    "      edgeconv convert <target> --path your_model.onnx   (your own model: README.md, Convert your own model)"
)


def _precision(target: str, artifact: str, info: dict[str, Any]) -> str:
    resolved = info.get("resolved_config") or {}
    if ".int8." in artifact or target in ("rvc3", "hailo"):
        return "INT8"
    if target == "qnn_htp":
        mode = next((v.get("quantization_mode") for v in resolved.values() if isinstance(v, dict) and v.get("quantization_mode")), None)
        return str(mode or "INT8")
    if target == "rvc2":
        return "FP16"
    fp16 = next((v.get("compress_to_fp16") for v in resolved.values() if isinstance(v, dict) and "compress_to_fp16" in v), None)
    return "FP16" if fp16 else "FP32"


def _check(info: dict[str, Any], target: str) -> str:
    verification = info.get("verification") or {}
    if "outputs" not in verification:  # several checks (one per ONNX stage, say): the last
        verification = next(reversed(verification.values()), {}) if verification else {}
    cosines = [o.get("cosine") for o in (verification.get("outputs") or {}).values() if o.get("cosine") is not None]
    if not cosines:
        return "-"
    # rvc2/rvc3: the check is of the IR the compiler read (a blob does not run here).
    of = " (IR)" if str(verification.get("artifact", "")).endswith(".xml") and target in ("rvc2", "rvc3") else ""
    detections = verification.get("detections") or {}
    found = f", mAP@0.5 {detections['map50']:.3f}" if detections.get("map50") is not None else ""
    return f"cosine {min(cosines):.5f}{of}{found}"


def rows(results: Path = Path(layout.RESULTS), target: str | None = None, units: list[str] | None = None) -> list[dict[str, str]]:
    """One row per ``<artifact>.buildinfo.json`` under ``results/<target>/`` (optionally of one
    target and some units only)."""
    found = []
    for path in sorted(results.glob(f"{target or '*'}/*buildinfo.json")):
        if units is not None and not any(path.name.startswith(f"{u}.") for u in units):
            continue
        target = path.parent.name
        if target in ("intermediate", "remote", "analysis", "benchmark", "report"):
            continue
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        artifacts = list(info.get("artifact") or {}) or [str(path)]
        seconds = sum(float(s.get("duration_s") or 0) for s in info.get("steps") or [])
        found.append({
            "artifact": artifacts[0] + (f" (+{len(artifacts) - 1} more)" if len(artifacts) > 1 else ""),
            "target": target,
            "precision": _precision(target, artifacts[0], info),
            "check": _check(info, target),
            "seconds": f"{seconds:.0f}",
        })
    return found


def table(found: list[dict[str, str]]) -> str:
    if not found:
        return "no published artifacts (results/<target>/); see the errors above"
    heads = ("artifact", "target", "precision", "check", "seconds")  # seconds: its steps' sum
    widths = {h: max(len(h), *(len(r[h]) for r in found)) for h in heads}
    line = "  ".join(h.ljust(widths[h]) for h in heads)
    body = ["  ".join(r[h].ljust(widths[h]) for h in heads) for r in found]
    return "\n".join([line, "  ".join("-" * widths[h] for h in heads), *body])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    results = Path(args[0]) if args else Path(layout.RESULTS)
    print(f"\nPublished (checked) artifacts under {results}/:\n")
    print(table(rows(results)))
    print(f"\n{NEXT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
