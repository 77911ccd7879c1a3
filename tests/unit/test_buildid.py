"""The build id every step's parameters carry: it changes with the code and with the lock, so a
step reruns and the output cache misses when either changes."""

from edgeconv import buildid


def test_the_build_id_names_the_code_and_the_lock(monkeypatch):
    buildid.build_id.cache_clear()
    monkeypatch.setattr(buildid, "environment", lambda: {"lock": "envs/locks/main.txt", "sha256": "ab" * 32})
    monkeypatch.setattr(buildid, "source_digest", lambda: "cd" * 32)
    first = buildid.build_id()
    assert first.endswith("+src.cdcdcdcdcdcd.lock.abababababab")
    buildid.build_id.cache_clear()
    monkeypatch.setattr(buildid, "environment", lambda: {"lock": "envs/locks/main.txt", "sha256": "ef" * 32})
    assert buildid.build_id() != first
    buildid.build_id.cache_clear()
    monkeypatch.setattr(buildid, "environment", lambda: {"lock": None})
    assert buildid.build_id().endswith(".lock.none")
    buildid.build_id.cache_clear()


def test_the_source_digest_follows_the_package_files():
    digest = buildid.source_digest()
    assert len(digest) == 64 and digest == buildid.source_digest()
