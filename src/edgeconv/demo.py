"""The bundled demo: real PP-OCRv4 models from the PyPI wheel ``rapidocr-onnxruntime==1.4.4`` (Apache-2.0)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.records import atomic_file, file_sha256

WHEEL = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"

# name -> (member of the wheel, sha256 of the member)
DEMO_MODELS: dict[str, tuple[str, str]] = {
    "ppocr_det": (
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "ppocr_cls": (
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
    "ppocr_rec": (
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    ),
}


def fetch_wheel(cache: Path) -> tuple[Path, dict[str, Any]]:
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache), WHEEL_REQUIREMENT]
    if not wheel.exists():
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0 or not wheel.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConversionError(
                f"could not download {WHEEL_REQUIREMENT} from the package index ({tail[0]}); "
                f"check network access, or place {WHEEL} in {cache}"
            )
    digest = file_sha256(wheel)
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise ConversionError(f"{wheel}: sha256 {digest} does not match the pinned {WHEEL_SHA256}; deleted it, run again")
    return wheel, {"tool": "pip", "argv": argv, "sha256": digest}


def fetch_demo_model(name: str, out: Path, cache: Path) -> dict[str, Any]:
    if name not in DEMO_MODELS:
        raise ConversionError(f"{name!r} is not a demo model; known: {', '.join(DEMO_MODELS)}")
    member, sha = DEMO_MODELS[name]
    wheel, call = fetch_wheel(cache)
    with atomic_file(out) as tmp:
        with zipfile.ZipFile(wheel) as zf:
            tmp.write_bytes(zf.read(member))
        digest = file_sha256(tmp)
        if digest != sha:
            raise ConversionError(f"{member} in {wheel}: sha256 {digest} does not match the pinned {sha}")
    return {**call, "member": member, "member_sha256": sha}
