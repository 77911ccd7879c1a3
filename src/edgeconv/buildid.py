"""What made a step's output besides its inputs and settings: the edgeconv code and the lock of
the environment it runs in. Every step's parameters carry it (``edgeconv``), so a step reruns when
either changes, and Snakemake's between-workflow cache (``--cache``), which hashes parameters,
never hands out an output made by other code or another environment. The vendor toolchain of a
step is in its parameters too (``toolchain``: runtime, image and image id, tool environments).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from edgeconv import __version__
from edgeconv.lockinfo import environment

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def source_digest() -> str:
    """sha256 over the package's Python sources (names and bytes), in a fixed order."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=None)
def build_id() -> str:
    """``<version>+src.<code digest>.lock.<lock digest>`` (``lock.none`` when not installed from a lock)."""
    lock = environment().get("sha256")
    return f"{__version__}+src.{source_digest()[:12]}.lock.{lock[:12] if lock else 'none'}"
