"""How many models one cluster job holds (``cluster_batch``, profiles/slurm).

``all`` asks for one summary per batch of models; each batch is one connected part of the DAG and
so one cluster job, whose chains run side by side in one Snakemake on the node (docs/batches.md).
A number is the batch size. ``auto`` makes as many batches as the cluster runs jobs at once, so
that every slot gets one and no batch waits for another: Slurm is asked (``sinfo``) for its nodes
and their CPUs, and each node runs ``CPUs // cores`` jobs of ``cores`` CPUs (the profile's
``cores``). Batch sizes: ceil(models / slots).

A batch is named by its size and index (``size50-0000``), so that the Snakemake a cluster job runs on
the node, which parses the workflow again, reads its models from the name instead of asking Slurm a
second time.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Sequence

from edgeconv.errors import ConfigError

AUTO = "auto"
SINFO = ["sinfo", "--noheader", "--Node", "--format=%N %c"]
SINFO_TIMEOUT_S = 20
_NAME = re.compile(r"^size(\d+)-(\d{4,})$")


def slots_from_sinfo(text: str, cores: int) -> int:
    """Cluster jobs of ``cores`` CPUs the nodes listed by ``sinfo -N -o '%N %c'`` run at once (a node
    in several partitions is listed once per partition and counted once)."""
    cpus: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            cpus[parts[0]] = int(parts[1])
    return sum(max(1, n // max(1, cores)) for n in cpus.values())


def cluster_slots(cores: int) -> int:
    """Ask Slurm how many cluster jobs of ``cores`` CPUs its nodes run at once."""
    hint = "start Slurm, or give the batch size yourself: --config cluster_batch=N"
    try:
        proc = subprocess.run(SINFO, capture_output=True, text=True, timeout=SINFO_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ConfigError("cluster_batch", [f"auto asks Slurm for its nodes with `sinfo`, which is not installed here; {hint}"]) from None
    except subprocess.TimeoutExpired:
        raise ConfigError("cluster_batch", [f"auto asks Slurm for its nodes with `sinfo`, which did not answer in {SINFO_TIMEOUT_S} s; {hint}"]) from None
    slots = slots_from_sinfo(proc.stdout, cores) if proc.returncode == 0 else 0
    if not slots:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        raise ConfigError("cluster_batch", [f"auto asks Slurm for its nodes with `sinfo`, which listed none"
                                            f"{': ' + said[0] if said else ''}; {hint}"])
    return slots


def batch_size(setting: int | str, models: int, cores: int | None) -> int:
    """The number of models per batch for ``cluster_batch`` = ``setting`` (a number or ``auto``)."""
    if str(setting).strip().lower() == AUTO:
        return max(1, math.ceil(models / cluster_slots(cores or 1)))
    try:
        size = int(setting)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ConfigError("cluster_batch", [f"{setting!r} is neither a number of models (1 or more) nor auto"])
    return size


def batches(names: Sequence[str], size: int) -> dict[str, list[str]]:
    """The batches of ``size`` models, by name, in the matrix's order."""
    return {f"size{size}-{i // size:04d}": list(names[i : i + size]) for i in range(0, len(names), size)}


def batch_models(names: Sequence[str], batch: str) -> list[str]:
    """The models of a batch named by :func:`batches`."""
    match = _NAME.match(batch)
    found = batches(names, int(match.group(1))).get(batch) if match else None
    if not found:
        raise ConfigError("cluster_batch", [f"no batch {batch!r} in this matrix of {len(names)} models; "
                                            "batches are named size<N>-<index> (results/batches/)"])
    return found
