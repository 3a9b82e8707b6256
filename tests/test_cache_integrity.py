"""Cache integrity: damaged entries, blobs and leftovers (real builds, real files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import model_dir, read_json
from dfx.cache import ArtifactCache, make_key
from dfx.cli import main

TFC = model_dir("tfc-w1a1") / "model.onnx"
DEAD_PID = 2**22 + 1  # above Linux's largest pid_max: never a live process


def run(out: Path, *extra, model=TFC, quiet=True) -> int:
    args = ["run", "--plugins", "default", str(model), "-o", str(out), *map(str, extra)]
    return main(args + (["-q"] if quiet else []))


def entries_of(cache_root: Path) -> dict[str, Path]:
    """{step: entry folder} of a cache holding one build."""
    found = {}
    for manifest in cache_root.glob("entries/*/*/manifest.json"):
        found[json.loads(manifest.read_text())["step"]] = manifest.parent
    return found


def same_size_edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a JSON file, keeping its size (whitespace adjusted)."""
    data = path.read_text()
    assert old in data
    edited = data.replace(old, new, 1)
    while len(edited) > len(data):
        assert ": " in edited
        edited = edited.replace(": ", ":", 1)
    edited += " " * (len(data) - len(edited))
    assert len(edited) == len(data) and edited != data
    path.write_text(edited)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Damage one bit, as a disk would: same size, and a next run is a new process
    (which forgets the blobs this test process hashed already)."""
    import dfx.cache

    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # bit rot keeps the mtime
    dfx.cache._VERIFIED_BLOBS.clear()


def test_damaged_file_same_size_is_dropped_and_rebuilt(tmp_path, private_cache, capsys):
    assert run(tmp_path / "a") == 0
    good = (tmp_path / "a" / "report" / "estimate_layer_cycles.json").read_text()
    entry = entries_of(private_cache)["step_generate_estimate_reports"]
    damaged = entry / "files" / "report" / "estimate_layer_cycles.json"
    cycles = json.loads(good)
    layer = next(iter(cycles))
    same_size_edit(damaged, f'"{layer}": {cycles[layer]}', f'"{layer}": {cycles[layer] + 1}')
    capsys.readouterr()

    assert run(tmp_path / "b", quiet=False) == 0
    out = capsys.readouterr().out
    assert "cache entry of step_generate_estimate_reports damaged" in out
    assert "report/estimate_layer_cycles.json does not match its sha256" in out
    assert "[10/10] step_generate_estimate_reports (" in out and "(cached)" not in \
        out.split("[10/10]")[1].splitlines()[0]  # it ran again
    assert (tmp_path / "b" / "report" / "estimate_layer_cycles.json").read_text() == good
    log = (tmp_path / "b" / "build_dataflow.log").read_text()
    assert "is damaged: files/report/estimate_layer_cycles.json" in log
    assert "dropping cache entry" in log
    # The rebuilt entry is sound: the next run takes every step from the cache.
    capsys.readouterr()
    assert run(tmp_path / "c", quiet=False) == 0
    assert capsys.readouterr().out.count("(cached)") == 10


def test_damaged_verify_verdict_is_not_replayed(tmp_path, private_cache):
    d = model_dir("tfc-w1a1")
    wrong = np.load(d / "expected_output.npy").copy()
    wrong[0, 0] += 2
    np.save(tmp_path / "wrong.npy", wrong)
    args = ["--verify-steps", "hw_python", "--verify-input-npy", d / "input.npy",
            "--verify-expected-output-npy", tmp_path / "wrong.npy"]
    assert run(tmp_path / "a", *args) == 0
    assert read_json(tmp_path / "a" / "report" / "verify_results.json")["hw_python"][
        "verdict"] == "FAIL"
    verdict = entries_of(private_cache)["step_convert_to_hw"] / "files" / \
        "verification_output" / "hw_python.json"
    same_size_edit(verdict, '"verdict": "FAIL"', '"verdict": "SUCCESS"')

    assert run(tmp_path / "b", *args) == 0
    assert read_json(tmp_path / "b" / "report" / "verify_results.json")["hw_python"][
        "verdict"] == "FAIL"
    assert "verification_output/hw_python.json does not match its sha256" in \
        (tmp_path / "b" / "build_dataflow.log").read_text()


def big_model(path: Path, size: int = 256) -> Path:
    from modelgen import Layer, make_mlp

    make_mlp(size, [Layer(size, weight_bits=4, act_bits=4)], input_dt="UINT4").save(str(path))
    return path


def test_large_initializers_are_stored_once(tmp_path, private_cache):
    model = big_model(tmp_path / "m.onnx")
    assert run(tmp_path / "a", model=model) == 0
    weights = 256 * 256 * 4  # float32 initializer
    entries = entries_of(private_cache)
    blobs = list((private_cache / "blobs").glob("*/*"))
    assert blobs and all(b.stat().st_size >= 64 * 1024 for b in blobs)
    assert len(blobs) < len(entries)  # steps that keep the weights share them
    for step, entry in entries.items():
        manifest = json.loads((entry / "manifest.json").read_text())
        assert manifest["blobs"], step
        assert (entry / "model.onnx").stat().st_size < weights / 4, step
    # What the build folder gets is a normal self-contained model, as a plain save makes.
    from dfx.graph import load_model

    for saved in [tmp_path / "a" / "final_model.onnx",
                  *(tmp_path / "a" / "intermediate_models").glob("*.onnx")]:
        loaded = load_model(saved)
        assert loaded.model.SerializeToString() == saved.read_bytes()
        assert max(t.ByteSize() for t in loaded.graph.initializer) >= weights


def test_a_damaged_blob_is_detected_and_rebuilt(tmp_path, private_cache):
    model = big_model(tmp_path / "m.onnx")
    assert run(tmp_path / "a", model=model) == 0
    final = (tmp_path / "a" / "final_model.onnx").read_bytes()
    for blob in (private_cache / "blobs").glob("*/*"):
        flip_byte(blob)
    assert run(tmp_path / "b", model=model) == 0
    assert (tmp_path / "b" / "final_model.onnx").read_bytes() == final
    log = (tmp_path / "b" / "build_dataflow.log").read_text()
    assert "is damaged: blob " in log and "does not match its sha256" in log
    assert "dropping damaged blob" in log
    # The damaged blobs went with the entries: the rebuilt ones are sound.
    assert ArtifactCache(private_cache).verify_all()["dropped"] == []
    assert run(tmp_path / "c", model=model, quiet=False) == 0


def test_damaged_model_of_an_earlier_step_is_rebuilt_when_a_later_step_needs_it(
        tmp_path, private_cache):
    """The folding step misses (new target), so it loads the model of the step before,
    whose entry is damaged: that step runs again, then the build goes on."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"save_intermediate_models": False}))
    assert run(tmp_path / "a", "--config", cfg, "--target-fps", "1000") == 0
    # the model the first step that misses (the folding) reads: FINN's step before it
    flip_byte(entries_of(private_cache)["step_specialize_layers"] / "model.onnx")
    assert run(tmp_path / "b", "--config", cfg, "--target-fps", "100000") == 0
    assert run(tmp_path / "ref", "--config", cfg, "--target-fps", "100000", "--no-cache") == 0
    assert (tmp_path / "b" / "final_model.onnx").read_bytes() == \
        (tmp_path / "ref" / "final_model.onnx").read_bytes()
    log = (tmp_path / "b" / "build_dataflow.log").read_text()
    assert "cache entry of step 'step_specialize_layers'" in log and "model.onnx does not match" \
        in log
    assert "step step_specialize_layers: ran" in log


def test_save_model_round_trip(tmp_path):
    """Entry models come back byte for byte, large payloads spliced in from blobs."""
    from dfx.graph import load_model

    model = load_model(big_model(tmp_path / "m.onnx", 128))
    original = model.model.SerializeToString()
    cache = ArtifactCache(tmp_path / "c")
    with cache.claim(make_key("m")) as claim:
        claim.save_model(model)
        entry = claim.commit("s")
    assert model.model.SerializeToString() == original  # the caller's model is untouched
    assert entry.blobs and (tmp_path / "c" / "entries").exists()
    found = cache.lookup(entry.key)
    assert found.model_bytes() == original
    assert found.read_model().SerializeToString() == original
    found.write_model(tmp_path / "out.onnx")
    assert (tmp_path / "out.onnx").read_bytes() == original
    assert found.verify()
    # The same model again: its blob is shared, not stored twice.
    with cache.claim(make_key("m2")) as claim:
        claim.save_model(model)
        claim.commit("s2")
    assert len(list((tmp_path / "c" / "blobs").glob("*/*"))) == len(entry.blobs)
    # A blob this process hashed already is hashed again once its file changed.
    from dfx.cache import DamagedEntryError

    blob = found.blob_path(entry.blobs[0]["sha256"])
    data = bytearray(blob.read_bytes())
    data[7] ^= 0x10
    mtime = blob.stat().st_mtime_ns
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(mtime + 10**9, mtime + 10**9))
    with pytest.raises(DamagedEntryError, match="does not match its sha256"):
        found.write_model(tmp_path / "again.onnx")
    assert not (tmp_path / "again.onnx").exists()
    # A missing blob makes the entry absent (rebuilt), never half served.
    for ref in entry.blobs:
        os.unlink(found.blob_path(ref["sha256"]))
    assert cache.lookup(entry.key) is None


def test_cache_verify_reports_and_drops_what_is_damaged(tmp_path, private_cache, capsys):
    assert run(tmp_path / "a") == 0
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(private_cache)]) == 0
    out = capsys.readouterr().out
    assert "sound: 10 entries" in out and "all sound, nothing dropped" in out
    entry = entries_of(private_cache)["step_streamline"]
    flip_byte(entry / "model.onnx")
    assert main(["cache", "verify", "--cache-dir", str(private_cache)]) == 1
    out = capsys.readouterr().out
    assert f"dropped {entry}: entry (step step_streamline): model.onnx does not match its " \
           f"sha256" in out
    assert "sound: 9 entries" in out and "1 damaged items dropped" in out
    assert not entry.exists()
    assert main(["cache", "verify", "--cache-dir", str(private_cache)]) == 0
    assert "all sound" in capsys.readouterr().out


def test_leftovers_of_dead_processes_are_swept_live_ones_kept(tmp_path, private_cache,
                                                              monkeypatch, capsys):
    from dfx.plugins.rtlsim import simulators_root

    monkeypatch.setenv("DFX_SIM_CACHE_DIR", str(tmp_path / "sims"))
    sims = simulators_root()
    cache = ArtifactCache(private_cache)
    key = "cd" * 12
    dead = [cache.staging_root / f"{DEAD_PID}-0123abcd", sims / f"{key}.{DEAD_PID}-ab12"]
    live = [cache.staging_root / f"{os.getpid()}-0123abcd", sims / f"{key}.{os.getpid()}-ab12"]
    for folder in dead + live:
        folder.mkdir(parents=True)
        (folder / "half-written").write_bytes(b"x" * 100)
    assert main(["cache", "info"]) == 0
    assert "leftovers of dead processes: 1 cache staging folders, 1 simulator work folders" \
        in capsys.readouterr().out
    assert run(tmp_path / "a") == 0  # the next run sweeps them
    assert not any(p.exists() for p in dead)
    assert all(p.is_dir() for p in live)
    for folder in dead:  # and so does `dfx cache clear`
        folder.mkdir(parents=True)
    assert main(["cache", "clear"]) == 0
    assert not any(p.exists() for p in dead)
    assert all(p.is_dir() for p in live)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_simulator_problem_detects_a_damaged_binary(tmp_path, damage):
    """simulator_problem() on a hand-made simulator folder (the real compile is in
    test_rtlsim.py)."""
    import hashlib

    from dfx.plugins.rtlsim import simulator_problem

    final = tmp_path / ("ef" * 12)
    final.mkdir()
    data = os.urandom(5000)
    (final / "Vdfx_top").write_bytes(data)
    (final / "build.json").write_text(json.dumps(
        {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}))
    assert simulator_problem(final) is None
    if damage == "truncate":
        (final / "Vdfx_top").write_bytes(data[:100])
        assert "has 100 bytes, build.json says 5000" in simulator_problem(final)
    else:
        flip_byte(final / "Vdfx_top")
        os.utime(final / "Vdfx_top", ns=(1, 1))  # other mtime: checked again
        assert "does not match the sha256" in simulator_problem(final)


def test_fsync_only_when_asked(tmp_path, monkeypatch):
    """Entries are fsynced only with DFX_CACHE_FSYNC=1; either way the entry is served whole."""
    import os

    from dfx import cache as cache_mod
    from dfx.cache import ArtifactCache

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(cache_mod.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    for setting, expect_sync in (("", False), ("1", True)):
        monkeypatch.setenv("DFX_CACHE_FSYNC", setting)
        synced.clear()
        cache = ArtifactCache(tmp_path / f"cache{setting or 'off'}")
        with cache.claim("ab" * 32) as claim:
            (claim.files_dir / "report.json").write_text('{"a": 1}')
            claim.commit("step_x")
        assert bool(synced) == expect_sync, setting
        entry = cache.lookup("ab" * 32)
        out = tmp_path / f"report{setting or 'off'}.json"
        entry.copy_file("files/report.json", out)
        assert out.read_text() == '{"a": 1}'
