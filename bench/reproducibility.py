"""Same inputs, same lock, same toolchain pin -> byte-identical artifacts.

Builds the demo matrix (config/config.yaml) twice, each time from nothing in its own fresh working
directory (the config, models and calibration images copied in), and compares the sha256 of every
published artifact and every intermediate model. Also compares against a list of digests from an
earlier build (`--against FILE`, lines of `sha256  path` as `sha256sum` writes them), e.g. one
made by a fresh clone with a fresh venv on another day or machine.

    .venv/bin/python bench/reproducibility.py [--against digests.txt] [--write digests.txt]

Exit 0 when every artifact is byte-identical; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Artifacts and intermediates; reports and build info hold paths and timings, so they are not compared.
PATTERNS = ["results/*/*.xml", "results/*/*.bin", "results/*/*.onnx", "results/intermediate/*/*.onnx",
            "results/intermediate/*/calibration.npz"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(workdir: Path) -> tuple[dict[str, str], float]:
    for name in ("config", "models", "calibration_data"):
        shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns(".downloads"))
    start = time.monotonic()
    subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", "--quiet"],
                   check=True, cwd=workdir)
    elapsed = time.monotonic() - start
    digests = {str(p.relative_to(workdir)): sha256(p) for pattern in PATTERNS for p in sorted(workdir.glob(pattern))}
    return digests, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="sha256sum-style digests of an earlier build to compare with")
    parser.add_argument("--write", type=Path, help="write this build's digests here (sha256sum style)")
    args = parser.parse_args()
    missing = [m for m in ("ppocr_det", "ppocr_cls", "ppocr_rec") if not (REPO / "models" / f"{m}.onnx").exists()]
    if missing:
        sys.exit(f"error: demo models {missing} not fetched yet; run `make demo` once first")
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-repro-") as tmp:
        for i in (1, 2):
            runs.append(build(Path(tmp) / f"run{i}"))
    (first, t1), (second, t2) = runs
    differ = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    print(f"run 1: {len(first)} files in {t1:.0f} s; run 2: {len(second)} files in {t2:.0f} s")
    print(f"run 1 vs run 2: {len(first) - len(differ)} of {len(first)} byte-identical" + (f"; differ: {differ}" if differ else ""))
    if args.against:
        earlier = {}
        for line in args.against.read_text().splitlines():
            digest, path = line.split(maxsplit=1)
            earlier[path.strip().lstrip("*")] = digest
        common = sorted(earlier.keys() & first.keys())
        other = [k for k in common if earlier[k] != first[k]]
        print(f"vs {args.against}: {len(common) - len(other)} of {len(common)} common files byte-identical"
              + (f"; differ: {other}" if other else ""))
        differ += other
    if args.write:
        args.write.write_text("".join(f"{d}  {p}\n" for p, d in sorted(first.items())))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
