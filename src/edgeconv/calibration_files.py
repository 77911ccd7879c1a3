"""The files of a calibration directory (``calibration.path``): which are read, in what order,
and whether the images among them open. Used at parse time (the DAG's inputs, early checks) and
by the prepare_calibration step."""

from __future__ import annotations

from pathlib import Path

from edgeconv.errors import CalibrationError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
ARRAY_SUFFIXES = {".npy", ".raw"}


def list_calibration_files(directory: Path, max_images: int) -> list[Path]:
    if not directory.exists():
        raise CalibrationError(f"calibration.path: {directory} does not exist; point it at a directory of images")
    if not directory.is_dir():
        raise CalibrationError(f"calibration.path: {directory} is not a directory; point it at a directory of images")
    try:
        entries = sorted(p for p in directory.iterdir() if p.is_file())
    except PermissionError:
        raise CalibrationError(f"calibration.path: cannot read directory {directory} (permission denied)") from None
    files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES | ARRAY_SUFFIXES]
    if not files:
        raise CalibrationError(
            f"calibration.path: {directory} holds no calibration files "
            f"({', '.join(sorted(IMAGE_SUFFIXES | ARRAY_SUFFIXES))}); add some or use `calibration: random`"
        )
    return files if max_images < 0 else files[:max_images]


def check_image_headers(files: list[Path]) -> None:
    """Open each image's header (cheap) so a broken file is reported before any job runs."""
    from PIL import Image, UnidentifiedImageError

    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(path):
                pass
        except (UnidentifiedImageError, OSError) as exc:
            raise CalibrationError(f"calibration file {path}: not a readable image ({exc})") from None
