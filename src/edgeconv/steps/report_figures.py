"""The figures of ``snakemake --report``: a table of every published artifact of the matrix with
its check and the time of each step that made it, and two plots (matplotlib): how close each stage
of each model's chain stays to the original (normalized -> optimized -> simplified -> IR, INT8,
HTP ...), and where the conversion time goes.

Inputs: ``buildinfo_<i>``, every published ``buildinfo.json`` of the matrix, and ``stage_<i>``,
the checks of the ONNX stages (``results/intermediate/<model>/<stage>.verify.json``). Outputs:
``table`` (HTML), ``cosine`` and ``times`` (PNG), under ``results/report/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.records import atomic_file
from edgeconv.steps.base import NoParams, Paths, Step
from edgeconv.steps.summarize import row

ONNX_STAGES = ("normalized", "optimized", "simplified")


def _worst_cosine(outputs: dict[str, dict[str, float]]) -> float | None:
    return min((o["cosine"] for o in outputs.values()), default=None)


def _label(buildinfo: Path, info: dict[str, Any]) -> str:
    """``<target> <artifact kind>``: ``openvino FP16 IR``'s file is ``<model>.xml``, INT8's ``<model>.int8.xml``."""
    model = info.get("model") or ""
    names = sorted(Path(f).name for f in info["artifact"])
    main = next((n for n in names if not n.endswith((".bin", ".csv", ".json"))), names[0] if names else "")
    kind = main[len(model):].lstrip(".") if main.startswith(model) else main
    kind = {"xml": "IR", "int8.xml": "INT8 IR"}.get(kind, kind)
    return f"{buildinfo.parent.name} {kind}".strip()


def table(buildinfos: list[Path]) -> Any:
    import pandas as pd

    rows = []
    for path in buildinfos:
        info = json.loads(path.read_text())
        base = row(path)
        line = {
            "model": base["model"], "target": base["target"], "artifact": base["artifact"],
            "KiB": round(base["bytes"] / 1024, 1), "passed": base["passed"], "worst cosine": base["min_cosine"],
            "max abs error": base["max_abs_error"], "mean abs error": base["mean_abs_error"],
            **({"mAP@0.5": base["map50"]} if base["map50"] is not None else {}),
            "total s": base["steps_s"],
        }
        for step in info["steps"]:  # a step that ran twice in the chain (stages) adds up
            key = f"{step['step']} s"
            line[key] = round(line.get(key, 0.0) + float(step.get("duration_s", 0.0)), 3)
        rows.append(line)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["model", "target", "artifact"], kind="stable").reset_index(drop=True)


def stage_cosines(buildinfos: list[Path], stage_reports: list[Path]) -> dict[str, dict[str, float]]:
    """Per model, the worst cosine of each stage of its chain against the original, in chain order."""
    chains: dict[str, dict[str, float]] = {}
    for report in sorted(stage_reports):
        if report.name.removesuffix(".verify.json") in ONNX_STAGES:
            value = _worst_cosine(json.loads(report.read_text()).get("outputs") or {})
            if value is not None:
                chains.setdefault(report.parent.name, {})[report.name.removesuffix(".verify.json")] = value
    for path in sorted(buildinfos):
        info = json.loads(path.read_text())
        value = _worst_cosine((info.get("verification") or {}).get("outputs") or {})
        if value is not None:
            chains.setdefault(info.get("model") or "", {})[_label(path, info)] = value
    return chains


def plot_cosines(chains: dict[str, dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages: list[str] = [s for s in ONNX_STAGES if any(s in c for c in chains.values())]
    # Then the artifacts per target, the float one before the quantized one.
    stages += sorted({s for c in chains.values() for s in c} - set(stages), key=lambda s: (s.split()[0], "INT8" in s, s))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(stages)), 4.5))
    for model, chain in sorted(chains.items()):
        xs = [i for i, s in enumerate(stages) if s in chain]
        # 1 - cosine on a log scale: 0.9999 and 0.98 are far apart where it matters.
        ys = [max(1.0 - chain[stages[i]], 1e-9) for i in xs]
        ax.plot(xs, ys, marker="o", label=model)
    ax.set_yscale("log")
    ax.set_xticks(range(len(stages)), stages, rotation=20, ha="right")
    ax.set_ylabel("1 - worst cosine vs the original (lower is closer)")
    ax.set_title("How close each stage stays to the original model")
    ax.grid(True, which="major", alpha=0.3)
    if chains:
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    _save(fig, out)


def plot_times(frame: Any, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c for c in frame.columns if c.endswith(" s") and c != "total s"] if not frame.empty else []
    labels = [f"{m} · {t} · {a.split()[-1]}" for m, t, a in zip(frame.get("model", []), frame.get("target", []),
                                                                 frame.get("artifact", []))]
    fig, ax = plt.subplots(figsize=(9.0, max(2.5, 0.45 * len(labels) + 1.5)))
    left = [0.0] * len(labels)
    colors = plt.get_cmap("tab20")
    for i, step in enumerate(steps):
        values = frame[step].fillna(0.0).tolist()
        ax.barh(labels, values, left=left, color=colors(i % 20), label=step.removesuffix(" s"))
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("seconds (each step, start to exit)")
    ax.set_title("Where the conversion time goes, per artifact")
    if steps:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    _save(fig, out)


def _save(fig: Any, out: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_file(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


STYLE = (
    "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}"
    "td:nth-child(-n+4){text-align:left}</style>"
)


def run(inputs: Paths, outputs: Paths, params: NoParams) -> dict[str, Any]:
    import matplotlib
    import pandas as pd

    buildinfos = [p for k, p in sorted(inputs.items()) if k.startswith("buildinfo_")]
    stage_reports = [p for k, p in sorted(inputs.items()) if k.startswith("stage_")]
    frame = table(buildinfos)
    html = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.6g}", border=0, table_id="artifacts")
    with atomic_file(outputs["table"]) as tmp:
        tmp.write_text(f"<!doctype html><html><head><meta charset='utf-8'>{STYLE}</head><body>{html}</body></html>\n")
    plot_cosines(stage_cosines(buildinfos, stage_reports), outputs["cosine"])
    plot_times(frame, outputs["times"])
    return {
        "rows": len(frame),
        "tool_calls": [
            {"tool": "pandas", "version": pd.__version__, "call": "DataFrame.to_html"},
            {"tool": "matplotlib", "version": matplotlib.__version__, "call": "pyplot (Agg) savefig png"},
        ],
    }


STEP = Step(
    "report_figures", run, NoParams, inputs=("buildinfo_<i>", "stage_<i>"), outputs=("table", "cosine", "times"))
