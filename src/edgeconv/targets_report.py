"""What ``snakemake --report report.html [targets]`` shows for the artifacts of its targets: a
sortable table with one row per artifact those targets ask for (published with its check and
step times, failed with the step and error that stopped it, or not built yet) and the two
plots of ``report_figures`` (accuracy along each chain, time per step), drawn from these rows.

Snakemake builds the DAG of the report's targets and then renders the workflow description
(``workflow/report/workflow.rst``, a Jinja template); the description calls :meth:`html` of the
object ``common.smk`` puts in ``config["targets_report"]``, which reads that DAG's publish jobs.
So the report covers what the requested targets built, at report time, with no extra target and
nothing rebuilt, and an artifact whose check failed is in it too (a report-flagged output of a
failed job does not exist, and Snakemake refuses to report a missing file).
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

PASSED, FAILED, NOT_BUILT = "passed", "FAILED", "not built"


@dataclass
class Artifact:
    """One artifact a publish job of the DAG makes."""

    model: str
    target: str
    files: str
    buildinfo: Path
    status: str = NOT_BUILT
    error: str = ""
    log: str = ""
    stage_reports: list[Path] = field(default_factory=list)


def _publish_jobs(jobs: Iterable[Any]) -> list[Any]:
    return [j for j in jobs if j.rule.name.startswith("publish") and "buildinfo" in j.output.keys()]


def _failed_upstream(dag: Any, job: Any) -> tuple[str, str] | None:
    """The first job upstream of ``job`` whose outputs are missing and whose log holds a step error."""
    from edgeconv.failures import step_error

    seen, todo = set(), [job]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if not all(Path(f).exists() for f in current.output):
            for log in current.log:
                if error := step_error(log):
                    return f"{current.rule.name}: {error}"[:2000], str(log)
        todo.extend(dag.job_dependencies(current))
    return None


def artifacts(dag: Any) -> list[Artifact]:
    """Every artifact the DAG's publish jobs make, with what became of it."""
    from edgeconv import layout
    from edgeconv.steps.verify import failed_report_path

    found = []
    for job in _publish_jobs(dag.jobs):
        buildinfo = Path(job.output.buildinfo)
        names = sorted(Path(f).name for k, f in job.output.items() if k not in ("buildinfo", "verify"))
        item = Artifact(
            model=str(job.wildcards_dict.get("model", "")), target=buildinfo.parent.name,
            files=" ".join(names), buildinfo=buildinfo,
        )
        if item.model:  # the checks of its ONNX stages, where they were made
            item.stage_reports = [Path(p) for p in layout.onnx_stage_reports(item.model) if Path(p).exists()]
        if buildinfo.exists():
            item.status = PASSED
        else:
            failed = [failed_report_path(Path(f)) for k, f in job.input.items() if k.startswith("verify")]
            failed = [f for f in failed if f.exists()]
            if failed:
                report = json.loads(failed[0].read_text())
                item.status, item.log = FAILED, str(failed[0])
                item.error = ("check: " + "; ".join(report.get("failures") or []))[:2000]
            elif upstream := _failed_upstream(dag, job):
                item.status, (item.error, item.log) = FAILED, upstream
        found.append(item)
    return sorted(found, key=lambda a: (a.model, a.target, a.files))


def rows(items: list[Artifact]) -> Any:
    """The table: the published artifacts' columns of ``report_figures``, plus every other one."""
    import pandas as pd

    from edgeconv.steps.report_figures import table

    published = [a for a in items if a.status == PASSED]
    frame = table([a.buildinfo for a in published]) if published else pd.DataFrame()
    if published:
        frame.insert(3, "status", PASSED)
    others = pd.DataFrame([{"model": a.model, "target": a.target, "artifact": a.files, "status": a.status,
                            "error": a.error, "log": a.log} for a in items if a.status != PASSED])
    frame = pd.concat([frame, others], ignore_index=True) if not others.empty else frame
    if frame.empty:
        return frame
    return frame.sort_values(["model", "target", "artifact"], kind="stable").reset_index(drop=True)


# Click a column's header to sort by it (again to reverse); numbers sort as numbers.
_SORT = (
    "var t=this.closest('table'),i=this.cellIndex,d=this.dataset.d=this.dataset.d==='1'?'-1':'1',"
    "b=t.tBodies[0],r=Array.from(b.rows);r.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent,"
    "p=parseFloat(a),q=parseFloat(c);if(!isNaN(p)&&!isNaN(q)){return (p-q)*d;}return a.localeCompare(c)*d;});"
    "r.forEach(function(e){b.appendChild(e);});"
)
_STYLE = (
    "table.edgeconv{border-collapse:collapse;font-size:12px}table.edgeconv th{cursor:pointer;background:#f3f3f3}"
    "table.edgeconv th,table.edgeconv td{border:1px solid #ccc;padding:2px 5px}"
    "table.edgeconv tr.failed td{background:#fde2e2}table.edgeconv tr.notbuilt td{color:#888}"
)


def table_html(frame: Any) -> str:
    if frame.empty:
        return "<p>No artifact among this report's targets.</p>"
    head = "\n".join(f'<th onclick="{_SORT}" title="sort">{html.escape(str(c))}</th>' for c in frame.columns)
    body = []
    for _, line in frame.iterrows():
        css = {FAILED: "failed", NOT_BUILT: "notbuilt"}.get(line.get("status"), "")
        cells = "".join(f"<td>{_cell(v)}</td>" for v in line.tolist())
        body.append(f'<tr class="{css}">{cells}</tr>')
    body_lines = "\n".join(body)
    return (f'<style>{_STYLE}</style>\n<div style="overflow-x:auto;max-width:100%"><table class="edgeconv" id="edgeconv-artifacts"><thead><tr>\n{head}\n</tr></thead>'
            f"<tbody>\n{body_lines}\n</tbody></table></div>")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _png(draw: Any, *args: Any) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figure.png"
        draw(*args, out)
        data = base64.encodebytes(out.read_bytes()).decode()  # 76 characters a line: see report_html
    return f'<img alt="figure" style="max-width:100%" src="data:image/png;base64,\n{data}"/>'


def report_html(items: list[Artifact]) -> str:
    """The table and the two plots, as HTML for the description's raw block. No line is long (docutils
    refuses lines over 10,000 characters): a row or a header cell a line, and the plots' base64 in
    lines of 76 characters, which browsers read as one (whitespace in base64 data URLs is ignored)."""
    from edgeconv.steps.report_figures import plot_cosines, plot_times, stage_cosines

    frame = rows(items)
    counts = {s: sum(a.status == s for a in items) for s in (PASSED, FAILED, NOT_BUILT)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"
    published = [a for a in items if a.status == PASSED]
    parts = [
        f"<h3>Artifacts of this report's targets ({summary})</h3>",
        "<p>Click a column to sort; failed artifacts are red, with the step that stopped them and its log.</p>",
        table_html(frame),
    ]
    if published:
        stages = sorted({p for a in published for p in a.stage_reports})
        parts += [
            "<h3>How close each stage stays to the original</h3>",
            _png(plot_cosines, stage_cosines([a.buildinfo for a in published], stages)),
            "<h3>Where the conversion time goes</h3>",
            _png(plot_times, frame[frame["status"] == PASSED].drop(columns=["status", "error", "log"], errors="ignore")),
        ]
    return '<div id="edgeconv-report">\n' + "\n".join(parts) + "\n</div>"


class TargetsReport:
    """Rendered by the report's description, after Snakemake built the DAG of the report's targets."""

    def __init__(self, workflow: Any) -> None:
        self._workflow = workflow

    def html(self) -> str:
        dag = self._workflow.dag
        if dag is None:
            return ""
        return report_html(artifacts(dag))

    def __repr__(self) -> str:  # shown wherever Snakemake prints the config
        return "TargetsReport()"
