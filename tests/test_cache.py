"""Tests of dfx.cache: real files, real locks, real processes (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dfx.cache import (
    CACHE_FORMAT_VERSION,
    ArtifactCache,
    CacheEntry,
    make_key,
)
from dfx.errors import CacheError


def build(
    cache: ArtifactCache,
    key: str,
    files: dict[str, bytes],
    model: bytes | None = None,
    step: str = "step_a",
    meta: dict | None = None,
) -> CacheEntry:
    with cache.claim(key, timeout=10) as claim:
        assert claim.entry is None
        if model is not None:
            claim.model_path.write_bytes(model)
        for rel, data in files.items():
            path = claim.files_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return claim.commit(step, meta or {})


def staging_dirs(cache: ArtifactCache) -> list[Path]:
    return sorted(cache.staging_root.iterdir())


def run_script(tmp_path: Path, source: str, *args: str, **kw) -> subprocess.Popen:
    script = tmp_path / f"script_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True, **kw
    )


# --------------------------------------------------------------------------- keys


def test_make_key_is_canonical():
    k = make_key("step", {"b": 1, "a": [1, 2.5, None, True]}, Path("/x/y"))
    assert len(k) == 64 and int(k, 16) >= 0
    assert k == make_key("step", {"a": [1, 2.5, None, True], "b": 1}, "/x/y")
    assert k == make_key("step", {"a": (1, 2.5, None, True), "b": 1}, "/x/y")
    assert k != make_key("step", {"a": [1, 2.5, None, False], "b": 1}, "/x/y")
    assert make_key("a", "b") != make_key("ab")
    assert make_key(1) != make_key("1") != make_key(1.0)
    with pytest.raises(TypeError):
        make_key({1: "x"})
    with pytest.raises(TypeError):
        make_key({1, 2})
    with pytest.raises(ValueError):
        make_key(float("nan"))


def test_invalid_key_rejected(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    for bad in ("", "a", "../etc", "ABCD", "ab\n", "GLOBAL"):
        with pytest.raises(ValueError):
            cache.lookup(bad)


# --------------------------------------------------------------------------- commit / lookup


def test_commit_then_lookup(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    key = make_key("one")
    assert cache.lookup(key) is None
    files = {"report.json": b'{"luts": 12}', "sub/dir/data.bin": bytes(range(256)) * 10}
    entry = build(cache, key, files, model=b"ONNX", step="step_hls", meta={"seconds": 1.5})

    found = cache.lookup(key)
    assert found is not None
    assert found.path == entry.path == cache.root / "entries" / key[:2] / key
    assert found.content_hash == entry.content_hash
    assert len(found.content_hash) == 64
    assert found.step == "step_hls" and found.meta == {"seconds": 1.5}
    assert isinstance(found.manifest["created"], float)
    assert found.model_path.read_bytes() == b"ONNX"
    assert (found.files_dir / "report.json").read_bytes() == files["report.json"]
    assert (found.files_dir / "sub/dir/data.bin").read_bytes() == files["sub/dir/data.bin"]
    assert sorted(found.files) == ["files/report.json", "files/sub/dir/data.bin", "model.onnx"]
    assert found.size == 4 + sum(len(v) for v in files.values())
    assert found.verify()
    manifest = json.loads((found.path / "manifest.json").read_text())
    assert manifest["key"] == key and manifest["content_hash"] == found.content_hash
    assert staging_dirs(cache) == []

    # the same content under another key (another cache even) has the same hash
    other = ArtifactCache(tmp_path / "c2")
    same = build(
        other,
        make_key("two"),
        dict(reversed(list(files.items()))),
        model=b"ONNX",
        step="other",
        meta={"x": 1},
    )
    assert same.content_hash == found.content_hash
    # any difference in bytes, names or the model changes it
    changed = [
        build(cache, make_key("3"), {**files, "report.json": b'{"luts": 13}'}, model=b"ONNX"),
        build(
            cache,
            make_key("4"),
            {"renamed.json": files["report.json"], "sub/dir/data.bin": files["sub/dir/data.bin"]},
            model=b"ONNX",
        ),
        build(cache, make_key("5"), files, model=None),
    ]
    hashes = {found.content_hash} | {e.content_hash for e in changed}
    assert len(hashes) == 4

    # a second claim sees the entry and need not build
    with cache.claim(key) as claim:
        assert claim.entry is not None and claim.entry.content_hash == found.content_hash


def test_entry_without_model(tmp_path):
    cache = ArtifactCache(tmp_path)
    entry = build(cache, make_key("m"), {"a.txt": b"a"})
    assert entry.model_path is None
    assert cache.lookup(entry.key).model_path is None


def test_commit_rejects_symlinks_and_stray_files(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    key = make_key("links")
    with cache.claim(key) as claim:
        (claim.files_dir / "real.txt").write_text("x")
        os.symlink(claim.files_dir / "real.txt", claim.files_dir / "link.txt")
        with pytest.raises(CacheError, match="symlink"):
            claim.commit("s", {})
    with cache.claim(key) as claim:
        (claim.staging_dir / "stray.txt").write_text("x")
        with pytest.raises(CacheError, match="stray.txt"):
            claim.commit("s", {})
    assert cache.lookup(key) is None
    assert staging_dirs(cache) == []


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_claim_leaves_nothing(tmp_path, exc):
    cache = ArtifactCache(tmp_path / "c")
    key = make_key("boom")
    with pytest.raises(exc), cache.claim(key) as claim:
        (claim.files_dir / "half.bin").write_bytes(b"x" * 1000)
        assert claim.staging_dir.is_dir()
        raise exc("interrupted")
    assert cache.lookup(key) is None
    assert not cache.entry_path(key).exists()
    assert staging_dirs(cache) == []
    # the lock was released: a new claim gets it at once
    with cache.claim(key, timeout=0.5) as claim:
        assert claim.entry is None


def test_exit_without_commit_discards_staging(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    with cache.claim(make_key("x")) as claim:
        (claim.files_dir / "f").write_text("x")
    assert staging_dirs(cache) == []
    with pytest.raises(RuntimeError):
        _ = claim.staging_dir


def test_lock_timeout_raises_cache_error(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    key = make_key("busy")
    with cache.claim(key):
        t0 = time.monotonic()
        other = ArtifactCache(tmp_path / "c")
        with pytest.raises(CacheError, match="timed out"), other.claim(key, timeout=0.2):
            pass
        assert time.monotonic() - t0 < 5


# --------------------------------------------------------------------------- corruption and races


def test_corrupt_entries_are_ignored_and_removed(tmp_path, caplog):
    cache = ArtifactCache(tmp_path / "c")
    k1, k2, k3 = make_key(1), make_key(2), make_key(3)
    e1 = build(cache, k1, {"a": b"aaa"})
    e2 = build(cache, k2, {"a": b"aaa"}, model=b"m")
    e3 = build(cache, k3, {"a": b"aaa"})
    (e1.path / "manifest.json").write_text("{not json")
    (e2.path / "model.onnx").unlink()
    (e3.path / "files" / "a").write_bytes(b"a")  # truncated

    assert cache.info()["corrupt"] == 3
    with caplog.at_level("WARNING", logger="dfx.cache"):
        for key in (k1, k2, k3):
            assert cache.lookup(key) is None
    assert "corrupt" in caplog.text
    for e in (e1, e2, e3):
        assert not e.path.exists()
    # and the key can be built again
    assert build(cache, k2, {"a": b"new"}).path.is_dir()
    assert cache.lookup(k2) is not None


def test_folder_without_manifest_is_not_an_entry(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    key = make_key("nomanifest")
    path = cache.entry_path(key)
    (path / "files").mkdir(parents=True)
    (path / "model.onnx").write_bytes(b"m")
    with cache.claim(key) as claim:
        assert claim.entry is None
        assert not path.exists()
        claim.model_path.write_bytes(b"m2")
        claim.commit("s", {})
    assert cache.lookup(key).model_path.read_bytes() == b"m2"


def test_commit_when_entry_appeared_meanwhile_keeps_existing(tmp_path):
    """Lock files deleted under a running build: the second committer keeps the first entry."""
    cache_a, cache_b = ArtifactCache(tmp_path / "c"), ArtifactCache(tmp_path / "c")
    key = make_key("race")
    with cache_a.claim(key) as claim_a:
        (claim_a.files_dir / "who").write_text("a")
        staging_a = claim_a.staging_dir
        cache_a.lock_path(key).unlink()  # someone deletes the lock file
        with cache_b.claim(key, timeout=1) as claim_b:  # ... so b gets a lock too
            assert claim_b.entry is None
            (claim_b.files_dir / "who").write_text("b")
            entry_b = claim_b.commit("s", {})
        entry_a = claim_a.commit("s", {})
    assert entry_a.path == entry_b.path
    assert entry_a.content_hash == entry_b.content_hash
    assert (entry_a.files_dir / "who").read_text() == "b"
    assert not staging_a.exists()
    assert staging_dirs(cache_a) == []


def test_clear_during_a_build_then_commit(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    old = build(cache, make_key("old"), {"f": b"1"})
    key = make_key("inflight")
    with cache.claim(key) as claim:
        (claim.files_dir / "f").write_text("x")
        assert ArtifactCache(tmp_path / "c").clear() == 1  # another process clears
        assert not old.path.exists()
        entry = claim.commit("s", {})
    assert cache.lookup(key).content_hash == entry.content_hash
    assert cache.info()["entries"] == 1


# --------------------------------------------------------------------------- processes

KILLED_WRITER = """
import sys, time
from dfx.cache import ArtifactCache
root, key = sys.argv[1:3]
cache = ArtifactCache(root)
with cache.claim(key, timeout=10) as claim:
    claim.model_path.write_bytes(b"m" * 100_000)
    for i in range(2000):
        (claim.files_dir / f"part{i:04d}.bin").write_bytes(bytes([i % 256]) * 50_000)
        if i == 20:
            print("WRITING", claim.staging_dir, flush=True)
        time.sleep(0.005)
    claim.commit("never", {})
print("DONE", flush=True)
"""


def test_process_killed_while_writing(tmp_path):
    root = tmp_path / "c"
    key = make_key("killed")
    cache = ArtifactCache(root)
    proc = run_script(tmp_path, KILLED_WRITER, str(root), key)
    try:
        line = proc.stdout.readline()
        assert line.startswith("WRITING "), line
        staging = Path(line.split(" ", 1)[1].strip())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert staging.is_dir() and staging.parent == cache.staging_root
    assert len(list((staging / "files").iterdir())) >= 20

    assert cache.lookup(key) is None
    assert not cache.entry_path(key).exists()
    info = cache.info()
    assert info["entries"] == 0 and info["stale_staging"] == 1
    assert info["stale_staging_paths"] == [str(staging)]

    # the kernel released the dead process's lock: a new claim builds at once
    with cache.claim(key, timeout=2) as claim:
        assert claim.entry is None
        claim.model_path.write_bytes(b"fresh")
        entry = claim.commit("rebuilt", {})
    assert cache.lookup(key).content_hash == entry.content_hash

    assert cache.cleanup_stale_staging() == 0  # too recent for the default age
    assert staging.is_dir()
    assert cache.cleanup_stale_staging(0) == 1
    assert not staging.exists()
    assert staging_dirs(cache) == []
    assert cache.info()["stale_staging"] == 0


CONCURRENT_BUILDER = """
import os, sys, time
from pathlib import Path
from dfx.cache import ArtifactCache
root, key, go, out = sys.argv[1:5]
cache = ArtifactCache(root)
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
with cache.claim(key, timeout=30) as claim:
    if claim.entry is None:
        time.sleep(0.3)  # a slow build: the other process must wait for it
        claim.model_path.write_bytes(b"model bytes")
        (claim.files_dir / "report.txt").write_text("built by the winner")
        entry = claim.commit("step_x", {"pid": os.getpid()})
        what = "built"
    else:
        entry = claim.entry
        what = "reused"
Path(out).write_text(f"{what} {entry.content_hash} {entry.meta['pid']}")
"""


def test_two_processes_claim_the_same_key(tmp_path):
    root = tmp_path / "c"
    ArtifactCache(root)
    key = make_key("contended")
    go = tmp_path / "go"
    outs = [tmp_path / f"out{i}" for i in range(2)]
    procs = [
        run_script(tmp_path, CONCURRENT_BUILDER, str(root), key, str(go), str(o)) for o in outs
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "READY"
        go.touch()
        for p in procs:
            assert p.wait(timeout=30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = [o.read_text().split() for o in outs]
    assert sorted(r[0] for r in results) == ["built", "reused"]
    assert results[0][1] == results[1][1]  # same content hash
    assert results[0][2] == results[1][2]  # both see the winner's entry
    cache = ArtifactCache(root)
    assert cache.lookup(key).content_hash == results[0][1]
    assert cache.info()["entries"] == 1
    assert staging_dirs(cache) == []


# --------------------------------------------------------------------------- info / clear


def test_info_and_clear(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    empty = cache.info()
    assert empty["entries"] == 0 and empty["bytes"] == 0 and empty["oldest"] is None
    assert empty["root"] == str(cache.root)

    sizes = {"step_a": 0, "step_b": 0}
    for i in range(5):
        step = "step_a" if i < 3 else "step_b"
        files = {f"f{i}.bin": b"x" * (100 * i + 1), "nested/g.txt": b"y" * i}
        model = b"M" * 7 if i % 2 else None
        build(cache, make_key("e", i), files, model=model, step=step)
        sizes[step] += sum(len(v) for v in files.values()) + (len(model) if model else 0)

    info = cache.info()
    assert info["entries"] == 5
    assert info["bytes"] == sum(sizes.values())
    assert info["steps"] == {
        "step_a": {"entries": 3, "bytes": sizes["step_a"]},
        "step_b": {"entries": 2, "bytes": sizes["step_b"]},
    }
    assert info["oldest"] <= info["newest"]
    assert info["corrupt"] == 0 and info["staging"] == 0 and info["stale_staging"] == 0

    assert cache.clear() == 5
    after = cache.info()
    assert after["entries"] == 0 and after["bytes"] == 0 and after["steps"] == {}
    assert all(cache.lookup(make_key("e", i)) is None for i in range(5))
    assert list(cache.entries_dir.iterdir()) == []
    assert [p.name for p in cache.locks_dir.iterdir()] == ["GLOBAL.lock"]
    assert cache.clear() == 0
    # still usable
    build(cache, make_key("e", 0), {"a": b"1"})
    assert cache.info()["entries"] == 1


# --------------------------------------------------------------------------- roots


def test_cache_dir_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("DFX_CACHE_DIR", str(tmp_path / "from_env"))
    cache = ArtifactCache()
    assert cache.root == tmp_path / "from_env"
    assert (cache.root / "VERSION").read_text().strip() == str(CACHE_FORMAT_VERSION)
    build(cache, make_key("env"), {"a": b"1"})
    assert (tmp_path / "from_env" / "entries").is_dir()
    assert ArtifactCache(tmp_path / "explicit").root == tmp_path / "explicit"


def test_other_version_raises_and_clear_resets(tmp_path):
    root = tmp_path / "c"
    build(ArtifactCache(root), make_key("v"), {"a": b"1"})
    (root / "VERSION").write_text("999\n")
    with pytest.raises(CacheError, match="dfx cache clear"):
        ArtifactCache(root)
    lenient = ArtifactCache(root, check_version=False)
    with pytest.raises(CacheError):
        lenient.lookup(make_key("v"))
    assert lenient.clear() == 1
    cache = ArtifactCache(root)
    assert cache.lookup(make_key("v")) is None
    assert cache.info()["entries"] == 0


def test_an_earlier_format_is_reset_on_open(tmp_path):
    root = tmp_path / "c"
    build(ArtifactCache(root), make_key("v"), {"a": b"1"})
    (root / "VERSION").write_text(f"{CACHE_FORMAT_VERSION - 1}\n")
    cache = ArtifactCache(root)  # an upgrade of dfx must not stop the user's next build
    assert (root / "VERSION").read_text().strip() == str(CACHE_FORMAT_VERSION)
    assert cache.lookup(make_key("v")) is None
    assert cache.info()["entries"] == 0


def test_non_cache_directory_is_refused(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(CacheError, match="not a dfx cache"):
        ArtifactCache(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


DISABLED = """
from dfx.cache import ArtifactCache, make_key
cache = ArtifactCache("/nonexistent/should/not/be/used", enabled=False)
with cache.claim(make_key("k")) as claim:
    claim.model_path.write_bytes(b"m")
    claim.commit("s", {})
assert cache.lookup(make_key("k")).model_path.read_bytes() == b"m"
print(cache.root, flush=True)
"""


def test_disabled_cache_is_private_and_removed_at_exit(tmp_path):
    cache = ArtifactCache(tmp_path / "unused", enabled=False)
    assert not (tmp_path / "unused").exists()
    other = ArtifactCache(enabled=False)
    assert cache.root != other.root
    entry = build(cache, make_key("d"), {"a": b"1"}, model=b"m")
    assert cache.lookup(entry.key) is not None and other.lookup(entry.key) is None

    proc = run_script(tmp_path, DISABLED)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    root = Path(out.strip())
    assert root.name.startswith("dfx-cache-")
    assert not root.exists()


def test_threads_claiming_the_same_key_build_once(tmp_path):
    import threading

    cache = ArtifactCache(tmp_path / "c")
    key = make_key("threads")
    built, hashes = [], []

    def worker():
        with cache.claim(key, timeout=10) as claim:
            if claim.entry is None:
                time.sleep(0.05)
                (claim.files_dir / "f").write_text("x")
                claim.commit("s", {})
                built.append(1)
            hashes.append(claim.entry.content_hash)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(built) == 1 and len(hashes) == 4 and len(set(hashes)) == 1


def test_import_is_light():
    # dfx.cache itself must not pull in platformdirs (it is imported lazily)
    code = (
        "import sys, dfx; before = 'platformdirs' in sys.modules; import dfx.cache; "
        "print(before or 'platformdirs' not in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_cache_commands_find_the_simulators_where_rtlsim_keeps_them(tmp_path, monkeypatch,
                                                                   capsys):
    """`dfx cache info|clear` look where dfx.plugins.rtlsim puts compiled simulators
    ($DFX_SIM_CACHE_DIR here), whatever --cache-dir says."""
    from dfx.cli import main
    from dfx.plugins.rtlsim import simulators_root

    monkeypatch.setenv("DFX_SIM_CACHE_DIR", str(tmp_path / "sims"))
    root = simulators_root()
    assert root == tmp_path / "sims" / "simulators"
    key = "ab" * 12
    (root / key).mkdir()
    (root / key / "Vdfx_top").write_bytes(b"\0" * 1000)
    live = root / f"{key}.{os.getpid()}-1234abcd"  # a compile of a live process
    live.mkdir()
    (live / "Vdfx_top").write_bytes(b"\0" * 10)  # finished, not yet renamed: not counted
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "c")]) == 0
    assert f"compiled simulators: 1, 0.0 MB in {root}" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "and 1 compiled simulators" in capsys.readouterr().out
    assert not (root / key).exists()
    assert live.is_dir()  # a live process's folder is never touched
