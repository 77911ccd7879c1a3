"""Real models fetched from pinned PyPI wheels by name: the bundled demo's PP-OCRv4 models from
``rapidocr-onnxruntime==1.4.4`` (Apache-2.0), and a trained YOLOv8n detector from ``nudenet==3.4.2``
(an Ultralytics export with 18 classes and a dynamic input, as users bring them)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from edgeconv.errors import ConversionError
from edgeconv.records import atomic_file, file_sha256

# wheel -> (requirement, file name, sha256)
WHEELS: dict[str, tuple[str, str, str]] = {
    "rapidocr": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
                 "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"),
    "nudenet": ("nudenet==3.4.2", "nudenet-3.4.2-py3-none-any.whl",
                "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331"),
}

# name -> (member of the wheel, sha256 of the member, wheel)
DEMO_MODELS: dict[str, tuple[str, str] | tuple[str, str, str]] = {
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
    # Not in the demo's matrix: the detector tests (and anyone) ask for it by name.
    "nudenet_320n": ("nudenet/320n.onnx", "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f", "nudenet"),
}


def fetch_wheel(cache: Path, key: str = "rapidocr") -> tuple[Path, dict[str, Any]]:
    requirement, filename, pinned = WHEELS[key]
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / filename
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache), requirement]
    if not wheel.exists():
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0 or not wheel.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConversionError(
                f"could not download {requirement} from the package index ({tail[0]}); "
                f"check network access, or place {filename} in {cache}"
            )
    digest = file_sha256(wheel)
    if digest != pinned:
        wheel.unlink()
        raise ConversionError(f"{wheel}: sha256 {digest} does not match the pinned {pinned}; deleted it, run again")
    return wheel, {"tool": "pip", "argv": argv, "sha256": digest}


def fetch_demo_model(name: str, out: Path, cache: Path) -> dict[str, Any]:
    if name not in DEMO_MODELS:
        raise ConversionError(f"{name!r} is not a demo model; known: {', '.join(DEMO_MODELS)}")
    member, sha, *key = DEMO_MODELS[name]
    wheel, call = fetch_wheel(cache, *key)
    with atomic_file(out) as tmp:
        with zipfile.ZipFile(wheel) as zf:
            tmp.write_bytes(zf.read(member))
        digest = file_sha256(tmp)
        if digest != sha:
            raise ConversionError(f"{member} in {wheel}: sha256 {digest} does not match the pinned {sha}")
    return {**call, "member": member, "member_sha256": sha}


# Real photographs for checking detectors (people, a cat, a cup, motorcycles, a rocket), from the
# scikit-image wheel's skimage/data (its licence file lists each image's source; all are free to
# use). file -> sha256.
WHEELS["scikit-image"] = ("scikit-image==0.24.0", "scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                          "fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c")
PHOTOS: dict[str, str] = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "motorcycle_right.png": "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
}


def fetch_photos(dest: Path, cache: Path) -> list[Path]:
    """The photographs above into ``dest`` (each checked against its pinned sha256)."""
    wheel, _ = fetch_wheel(cache, "scikit-image")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for name, sha in PHOTOS.items():
            out = dest / name
            with atomic_file(out) as tmp:
                tmp.write_bytes(zf.read(f"skimage/data/{name}"))
                if file_sha256(tmp) != sha:
                    raise ConversionError(f"skimage/data/{name} in {wheel}: sha256 does not match the pinned {sha}")
            written.append(out)
    return written
