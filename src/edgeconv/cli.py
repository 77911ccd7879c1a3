"""The ``edgeconv`` command: what users of Luxonis ModelConverter already know.

    edgeconv convert <target> --path <config.yaml|model.onnx|model.tflite|archive.tar.xz> [--output-dir DIR] [key value ...]
    edgeconv infer <target> --model-path <artifact> --input-path DIR --output-dir DIR
    edgeconv analyze <openvino|qnn_htp|rvc2|rvc3> --path <config.yaml|model.onnx|...> [key value ...]
    edgeconv benchmark openvino --path <config.yaml|model.onnx|...> [key value ...]

``convert`` runs the Snakemake workflow for one model and one target (only what is out of date
runs) and copies the artifacts to ``--output-dir``; ``key value`` pairs are dotted-key overrides
as in ModelConverter (``inputs.0.shape "[1,3,320,320]" rvc4.quantization_mode FP16_STANDARD``).
``infer`` runs an artifact that runs on this machine (ONNX, OpenVINO IR, HTP context model) on
the reference's layout: ``<input-path>/<input name>/*.npy`` in, ``<output-dir>/<output name>/*.npy``
out. ``analyze`` builds the per-layer analysis (results/analysis/<model>/<target>/) and prints the
worst layers; ``benchmark`` measures the openvino IRs on this CPU (results/benchmark/<model>/).
Exit codes: 0 done, 1 conversion or inference failed, 2 bad command line, 3 another run
is converting in the directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from edgeconv import __version__, layout, runlock
from edgeconv.project import TARGETS

REPO_SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"


class UsageError(Exception):
    pass


def _overrides(pairs: list[str]) -> dict[str, str]:
    if len(pairs) % 2:
        raise UsageError(f"overrides come in `key value` pairs; {pairs[-1]!r} has no value")
    return dict(zip(pairs[::2], pairs[1::2]))


def _tool_version(target: str, version: str) -> dict[str, str]:
    """The reference's ``--tool-version`` (``2021.4.0``, ``2022.3.0``) as the model config key it sets."""
    release = ".".join(version.split(".")[:2])
    if target == "rvc2" and release in ("2021.4", "2022.3"):
        return {"rvc2.openvino_version": release}
    if target == "rvc3" and release == "2022.3":
        return {}
    raise UsageError(
        f"--tool-version {version}: for {target} there is no such choice; rvc2 takes 2021.4.0 (the built-in "
        "compiler) or 2022.3.0 (your compile_tool), rvc3 2022.3.0; pin another target's tools with "
        f"toolchains.{target}.version in config/config.yaml"
    )


def _yaml_flow(value: object) -> str:
    """Snakemake reads --config values as YAML; JSON is valid YAML flow syntax."""
    return json.dumps(value)


def progress_logger(choice: str, terminal: bool) -> bool:
    """Whether to show Snakemake's progress with the rich logger plugin (live bars: it shows nothing
    where there is no terminal, so a log file gets Snakemake's own lines instead)."""
    return choice == "rich" or (choice == "auto" and terminal)


def _remote_path(url: str) -> Path:
    """``--path URL``: the config or NN Archive, copied to its mirror under results/remote/ (a model
    file is converted from a generated config naming the URL, fetched by the workflow)."""
    from edgeconv.errors import InputError
    from edgeconv.inputs.table import url_kind

    kind = url_kind(url)
    if kind is None:
        raise UsageError(f"--path {url}: URLs of this scheme are not fetched; download it and give the local path")
    name = Path(urlsplit(url).path).name
    try:
        if name.lower().endswith((".onnx", ".tflite")):
            kind.look_up(url)  # a missing object stops here, with the URL and where it was looked for
            config = Path(layout.REMOTE) / "configs" / f"{Path(name).stem}.yaml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(f"input_model: {json.dumps(url)}\n")
            return config
        if not name.lower().endswith((".yaml", ".yml", ".tar.xz")):
            raise UsageError(f"--path {url}: give the URL of a config (.yaml), an ONNX/TFLite model or an NN Archive (.tar.xz)")
        return kind.local_copy(url, Path(layout.remote_copy(url)))
    except InputError as exc:
        raise UsageError(f"--path {exc}") from None


def convert(args: argparse.Namespace) -> int:
    from edgeconv.inputs.base import is_url

    path = _remote_path(args.path) if is_url(args.path) else Path(args.path)
    if not path.exists():
        raise UsageError(f"--path {path} does not exist; give a model config (.yaml) or an ONNX model")
    if path.suffix.lower() in (".yaml", ".yml"):
        name, location = path.stem, {"model_configs_dir": str(path.parent.resolve())}
    elif path.suffix.lower() in (".onnx", ".tflite", ".xml"):
        name, location = path.stem, {"models_dir": str(path.parent.resolve())}
    elif path.name.endswith(".tar.xz"):  # an NN Archive
        name, location = path.name[: -len(".tar.xz")], {"models_dir": str(path.parent.resolve())}
    else:
        raise UsageError(
            f"--path {path}: give a model config (.yaml/.yml), a model (.onnx, .tflite, OpenVINO .xml) or an NN Archive (.tar.xz)"
        )
    overrides = _overrides(args.overrides)
    if getattr(args, "tool_version", None):
        overrides.update(_tool_version(args.target, args.tool_version))
    config = [
        f"models={_yaml_flow([name])}",
        f"targets={_yaml_flow([args.target])}",
        *(f"{k}={v}" for k, v in location.items()),
    ]
    if overrides:
        config.append(f"overrides={_yaml_flow({name: overrides})}")
    if args.main_stage:  # the stage whose artifact is the model of a multi-stage NN Archive
        config.append(f"main_stages={_yaml_flow({name: args.main_stage})}")
    if args.archive_preprocess:
        config.append(f"archive_preprocess={_yaml_flow([name])}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO_SNAKEFILE), "-d", str(Path.cwd())]
    if os.environ.get("SNAKEMAKE_OUTPUT_CACHE"):
        # The team's output cache (docs/batches.md, "A cache a team shares"). --cache takes the names
        # that follow it as rules: an option must come next.
        cmd.append("--cache")
    cmd += ["--cores", str(args.cores)]
    if args.dry_run:
        cmd.append("-n")
    elif progress_logger(args.progress, sys.stdout.isatty()):
        cmd[3:3] = ["--logger", "rich"]  # before -s: --logger takes every value up to the next option
    # Held for the whole run: a second live run here is refused, and what a killed run left
    # behind (its locks) is cleared because no run is live (src/edgeconv/runlock.py).
    run = runlock.enter() if args.dry_run else runlock.enter_alone()
    doing = {"analyze": "analysing", "benchmark": "benchmarking"}.get(args.command, "converting")
    print(f"edgeconv {__version__}: {doing} {name} for {args.target}", flush=True)
    if run.cleared:
        print(f"edgeconv: cleared {len(run.cleared)} lock(s) left by a run that was killed or crashed;"
              " its unfinished steps run again", flush=True)
    # Targets first: --configfile and --config take every value that follows them.
    if args.command == "analyze":
        cmd += [layout.analysis_summary(unit, args.target) for unit in _units(name, location)]
    elif args.command == "benchmark":
        cmd += [layout.benchmark_result(unit, args.target) for unit in _units(name, location)]
    else:
        cmd += [layout.nn_archive(args.target, name)] if args.to == "nn_archive" else ["all"]
    with tempfile.TemporaryDirectory(prefix="edgeconv-") as tmp:
        if not Path("config/config.yaml").exists():
            # A directory that is not an edgeconv project: an empty matrix, filled by --config.
            matrix = Path(tmp) / "config.yaml"
            matrix.write_text("models: []\n")
            cmd += ["--configfile", str(matrix)]
        proc = subprocess.run([*cmd, "--config", *config])
    if proc.returncode != 0:
        what = {"analyze": "analysis", "benchmark": "benchmark"}.get(args.command, "conversion")
        print(f"edgeconv: {what} of {name} for {args.target} failed (see the error above)", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    if args.command == "analyze":
        for unit in _units(name, location):
            print(worst_layers(Path(layout.analysis_summary(unit, args.target))))
        return 0
    if args.command == "benchmark":
        for unit in _units(name, location):
            print(speed_table(Path(layout.benchmark_result(unit, args.target))))
        return 0
    units = _units(name, location) if args.to == "native" else [name]
    copied = []
    for unit in units:
        copied += _deliver(unit, args.target, Path(args.output_dir) if args.output_dir else None, args.to)
    for p in copied:
        print(p)
    from edgeconv.delivered import NEXT, rows, table

    print(f"\n{table(rows(target=args.target, units=units))}\n\n{NEXT}")
    return 0


def _units(name: str, location: dict[str, str]) -> list[str]:
    """The built units of a model: itself, or ``<model>-<stage>`` for each of its stages."""
    from edgeconv.project import Project

    return Project({"models": [name], **location}).units_of(name)


def speed_table(result_path: Path) -> str:
    """What ``edgeconv benchmark`` prints: per IR and mode, latency, throughput, streams, precision."""
    figures = json.loads(result_path.read_text())
    first = next(iter(figures.values()))
    lines = [f"{result_path}: {first['device_name']}, OpenVINO {first['openvino']} (CPU of this machine, not a camera)",
             f"  {'artifact':<15} {'mode':<6} {'median ms':>10} {'FPS':>8} {'streams':>8}  precision"]
    for label, result in figures.items():
        for mode in ("sync", "async"):
            r = result[mode]
            lines.append(f"  {label:<15} {mode:<6} {r['median_ms']:>10.2f} {r['throughput_fps']:>8.1f} "
                         f"{r['streams']:>8}  {r['inference_precision']}")
    return "\n".join(lines)


def worst_layers(summary_path: Path, count: int = 5) -> str:
    """What ``edgeconv analyze`` prints: per artifact, its outputs' figures and its worst layers."""
    summary = json.loads(summary_path.read_text())
    lines = [f"{summary_path.parent}: {summary['samples']} sample(s), {summary['tensors']} tensor(s) in the float model"]
    for label, art in summary["artifacts"].items():
        outputs = ", ".join(f"{n} cosine {o['cosine']:.4f}" for n, o in art["outputs"].items())
        lines.append(f"  {label} ({'passes' if art['passed'] else 'FAILS'} its verify thresholds): {outputs}")
        by = art.get("worst_by")
        for w in art["worst"][:count]:
            lines.append(f"    #{w['index']} {w['tensor']} ({w['op_type']}, {w['precision']}): "
                         f"{by.replace('_db', '')} {w[by]:.1f} dB, cosine {w['cosine']:.4f}")
        if art["unmatched"]:
            lines.append(f"    {len(art['unmatched'])} tensor(s) not in the artifact (fused or renamed): layers.csv lists them")
    if summary.get("htp_cpu_nodes"):
        nodes = ", ".join(f"{n['name']} ({n['op_type']})" for n in summary["htp_cpu_nodes"][:5])
        lines.append(f"  left on the CPU by onnxruntime-qnn, not the HTP: {len(summary['htp_cpu_nodes'])}: {nodes}")
    lines.append(f"  {summary_path.parent / 'layers.csv'}, {summary_path.parent / 'sqnr.png'}")
    return "\n".join(lines)


def _deliver(name: str, target: str, output_dir: Path | None, to: str = "native") -> list[Path]:
    names = [layout.nn_archive(target, name)] if to == "nn_archive" else layout.deliverables(target, name)
    files = [Path(f) for f in names if Path(f).exists()]
    if output_dir is None:
        return files
    output_dir.mkdir(parents=True, exist_ok=True)
    delivered = []
    for f in files:
        shutil.copy2(f, output_dir / f.name)
        delivered.append(output_dir / f.name)
    return delivered


def infer(args: argparse.Namespace) -> int:
    import numpy as np

    from edgeconv.runtime import run_ir, run_onnx

    model = Path(args.model_path)
    if not model.exists():
        raise UsageError(f"--model-path {model} does not exist")
    inputs_dir = Path(args.input_path)
    if not inputs_dir.is_dir():
        raise UsageError(f"--input-path {inputs_dir} is not a directory of <input name>/*.npy")
    if args.target == "qnn_htp" or model.name.endswith(".ctx.onnx"):
        from edgeconv.targets.qnn_htp import run_context

        def run(feeds):
            return run_context(model, feeds, args.soc, args.fp16)

    elif model.suffix == ".xml":

        def run(feeds):
            return run_ir(model, feeds)

    elif model.suffix == ".onnx":

        def run(feeds):
            return run_onnx(model, feeds)

    else:
        raise UsageError(f"{model}: `infer` runs .onnx, .xml (OpenVINO IR) and HTP .ctx.onnx models on this machine")
    per_input = {d.name: sorted(d.glob("*.npy")) for d in sorted(inputs_dir.iterdir()) if d.is_dir()}
    if not per_input or not any(per_input.values()):
        raise UsageError(f"--input-path {inputs_dir} holds no <input name>/*.npy files")
    counts = {k: len(v) for k, v in per_input.items()}
    if len(set(counts.values())) != 1:
        raise UsageError(f"every input needs the same number of .npy files; found {counts}")
    out_dir = Path(args.output_dir)
    for i in range(next(iter(counts.values()))):
        feeds = {name: np.load(files[i]) for name, files in per_input.items()}
        stem = next(iter(per_input.values()))[i].name
        for name, value in run(feeds).items():
            target_dir = out_dir / name.replace("/", "_")
            target_dir.mkdir(parents=True, exist_ok=True)
            np.save(target_dir / stem, value)
    print(f"wrote outputs of {model} for {i + 1} sample(s) to {out_dir}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeconv", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"edgeconv {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "convert",
        help="convert one model for one target (runs the Snakemake workflow)",
        usage="edgeconv convert TARGET --path PATH [options] [key value ...]",
        epilog="key value: dotted-key overrides of the model config, e.g. "
        "inputs.0.shape '[1,3,320,320]' rvc4.quantization_mode FP16_STANDARD",
    )
    c.add_argument("target", choices=TARGETS)
    c.add_argument("--path", required=True, help="model config (.yaml, ModelConverter format), model (.onnx, .tflite, OpenVINO .xml) or NN Archive")
    c.add_argument("--to", choices=["native", "nn_archive"], default="native",
                   help="native artifacts, or an NN Archive (<model>.tar.xz with config.json)")
    c.add_argument("--output-dir", help="copy the artifacts and their buildinfo.json here")
    c.add_argument("--main-stage", help="multi-stage models: the stage whose artifact is the NN Archive's model "
                   "(the other stage is linked as its post-processor); every stage is built")
    c.add_argument("--archive-preprocess", action="store_true",
                   help="move mean/scale/channel order from the model into the NN Archive's preprocessing "
                   "(the model is converted without them); from an NN Archive, keep them in the archive")
    c.add_argument("--tool-version", help="rvc2: OpenVINO 2021.4.0 (the built-in MYRIAD compiler, the default "
                   "unless toolchains.rvc2 names a compile_tool) or 2022.3.0 (your compile_tool), as the reference takes it")
    c.add_argument("--cores", type=int, default=2)
    c.add_argument("--dry-run", action="store_true", help="show what would run")
    c.add_argument("--progress", choices=["auto", "rich", "plain"], default="auto",
                   help="rich: live progress bars (snakemake-logger-plugin-rich); plain: Snakemake's own lines; "
                        "auto (default): rich on a terminal, plain otherwise")
    a = sub.add_parser("analyze", help="per-layer analysis of one model's artifacts for a target, on this machine")
    a.add_argument("target", choices=["openvino", "qnn_htp", "rvc2", "rvc3"])
    a.add_argument("--path", required=True, help="model config (.yaml), model (.onnx, .tflite) or NN Archive")
    a.add_argument("--cores", type=int, default=2)
    a.add_argument("--dry-run", action="store_true", help="show what would run")
    a.add_argument("--progress", choices=["auto", "rich", "plain"], default="auto")
    a.set_defaults(to="native", main_stage=None, archive_preprocess=False, output_dir=None)
    b = sub.add_parser("benchmark", help="latency and throughput of a target's artifacts on this machine (openvino: "
                       "the CPU, as benchmark_app; no camera figures)")
    b.add_argument("target", choices=["openvino"])
    b.add_argument("--path", required=True, help="model config (.yaml), model (.onnx, .tflite) or NN Archive")
    b.add_argument("--cores", type=int, default=2)
    b.add_argument("--dry-run", action="store_true", help="show what would run")
    b.add_argument("--progress", choices=["auto", "rich", "plain"], default="auto")
    b.set_defaults(to="native", main_stage=None, archive_preprocess=False, output_dir=None)
    i = sub.add_parser("infer", help="run an artifact that runs on this machine on .npy inputs")
    i.add_argument("target", choices=TARGETS)
    i.add_argument("--model-path", required=True)
    i.add_argument("--input-path", required=True, help="directory of <input name>/*.npy")
    i.add_argument("--output-dir", required=True)
    i.add_argument("--soc", default="sm8550", help="HTP SoC for qnn_htp context models")
    i.add_argument("--fp16", action="store_true", help="the context model was compiled for FP16")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if args.command in ("convert", "analyze", "benchmark"):
        args.overrides = extra
    elif extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return infer(args) if args.command == "infer" else convert(args)
    except UsageError as exc:
        print(f"edgeconv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except runlock.LiveRun as exc:
        print(f"edgeconv {args.command}: error: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # a model that does not run: one line, not a traceback
        print(f"edgeconv {args.command}: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
