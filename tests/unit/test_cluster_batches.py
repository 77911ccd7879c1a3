"""cluster_batch (profiles/slurm): a number of models per batch, or `auto`, one batch per cluster
job the nodes run at once, from what `sinfo` lists (a stand-in `sinfo` on PATH here)."""

import os
import stat

import pytest

from edgeconv import cluster_batches
from edgeconv.errors import ConfigError


def _sinfo(tmp_path, monkeypatch, script):
    tool = tmp_path / "sinfo"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_slots_count_each_node_once_and_each_job_of_cores_cpus():
    listed = "n1 64\nn1 64\nn2 2\nn3 3\ngarbage\n"  # n1 in two partitions
    assert cluster_batches.slots_from_sinfo(listed, cores=2) == 32 + 1 + 1
    assert cluster_batches.slots_from_sinfo(listed, cores=100) == 3  # a node runs at least one
    assert cluster_batches.slots_from_sinfo("", cores=2) == 0


def test_auto_makes_one_batch_per_slot(tmp_path, monkeypatch):
    _sinfo(tmp_path, monkeypatch, 'test "$*" = "--noheader --Node --format=%N %c" || exit 2\necho "vm 2"\necho "w1 4"\n')
    size = cluster_batches.batch_size("auto", models=50, cores=2)
    assert size == 17  # 1 + 2 slots: ceil(50 / 3)
    names = [f"m{i}" for i in range(50)]
    batches = cluster_batches.batches(names, size)
    assert list(batches) == ["size17-0000", "size17-0001", "size17-0002"]
    assert [len(v) for v in batches.values()] == [17, 17, 16]
    # The node reads its batch's models from the name alone.
    assert cluster_batches.batch_models(names, "size17-0002") == names[34:]


def test_a_number_is_the_size_and_bad_settings_name_the_key():
    assert cluster_batches.batch_size(25, models=3, cores=2) == 25
    assert cluster_batches.batch_size("4", models=3, cores=2) == 4
    for bad in (0, "x", None):
        with pytest.raises(ConfigError, match=r"^cluster_batch: .* neither a number of models"):
            cluster_batches.batch_size(bad, models=3, cores=2)
    with pytest.raises(ConfigError, match=r"^cluster_batch: no batch 'size2-0009' in this matrix of 3 models"):
        cluster_batches.batch_models(["a", "b", "c"], "size2-0009")
    with pytest.raises(ConfigError, match=r"no batch '0000'"):
        cluster_batches.batch_models(["a", "b", "c"], "0000")


@pytest.mark.parametrize("script, said", [
    ('echo "slurm_load_partitions: Unable to contact slurm controller" >&2; exit 1', "Unable to contact slurm controller"),
    ("exit 0", "listed none"),
    ("sleep 30", "did not answer in 1 s"),
])
def test_auto_without_an_answer_from_slurm_says_what_to_do(tmp_path, monkeypatch, script, said):
    _sinfo(tmp_path, monkeypatch, script)
    monkeypatch.setattr(cluster_batches, "SINFO_TIMEOUT_S", 1)
    with pytest.raises(ConfigError) as err:
        cluster_batches.batch_size("auto", models=5, cores=2)
    first = str(err.value).splitlines()[0]
    assert first.startswith("cluster_batch: auto asks Slurm for its nodes with `sinfo`") and said in first, first
    assert "--config cluster_batch=N" in first


def test_auto_without_sinfo(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="`sinfo`, which is not installed here"):
        cluster_batches.batch_size("auto", models=5, cores=2)
