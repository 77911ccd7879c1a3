"""Which lock an environment was installed from, so every record can say "same environment".

``make`` installs each Python environment from a lock with hashes (``envs/locks/*.txt``) and
then runs ``python -m edgeconv.lockinfo write LOCK [--prefix ENV]``, which leaves
``ENV/edgeconv-lock.json``: the lock's path and sha256. Step records and ``buildinfo.json`` carry
it; an environment installed some other way is recorded as ``{"lock": null}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

MARKER = "edgeconv-lock.json"


def lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def write(lock: Path, prefix: Path) -> dict[str, Any]:
    info = {"lock": lock.as_posix(), "sha256": lock_digest(lock)}
    (prefix / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    return info


@lru_cache(maxsize=None)
def environment(prefix: str = sys.prefix) -> dict[str, Any]:
    """The lock of the environment at ``prefix`` (default: the running one) and its Python."""
    marker = Path(prefix) / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        info = {"lock": None, "note": "not installed from a lock (make setup installs from envs/locks/)"}
    if prefix == sys.prefix:
        info["python"] = platform.python_version()
    return info


def tool_environment(executable: str) -> dict[str, Any] | None:
    """The lock of the environment a tool lives in (``ENV/bin/tool``), when it has one."""
    prefix = Path(executable).parent.parent
    return environment(str(prefix)) if (prefix / MARKER).is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeconv.lockinfo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="record the lock an environment was installed from")
    w.add_argument("lock", type=Path)
    w.add_argument("--prefix", type=Path, default=Path(sys.prefix), help="the environment (default: this one)")
    args = parser.parse_args(argv)
    info = write(args.lock, args.prefix)
    print(f"{args.prefix}: installed from {info['lock']} (sha256 {info['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
