"""The output folder: dfx never loses a user's files (issue 7, "Data loss: -o DIR").

Every case runs the real CLI on a small generated model, except the full-disk ones,
which patch a write in-process to fail with ENOSPC.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from conftest import read_json, run_dfx

FAST = ["--target-fps", "1000000", "--mvau-wwidth-max", "36"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from modelgen import Layer, make_mlp

    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    make_mlp(8, [Layer(6, act="relu_uint"), Layer(4, act=None)]).save(str(path))
    return path


def _copy_model(model: Path, folder: Path, name: str = "model.onnx") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    dst.write_bytes(model.read_bytes())
    return dst


def _run(model, out, *extra):
    return run_dfx("run", "--plugins", "default", model, "-o", out, *FAST, *extra)


def _ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _refused(result, *needles, code=2):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _no_staging_left(*folders: Path) -> None:
    for folder in folders:
        assert not list(folder.glob(".dfx-staging-*")), list(folder.iterdir())
        assert not list(folder.glob(".*.dfx-staging-*")), list(folder.iterdir())
        assert not list(folder.glob(".*.dfx-old-*")), list(folder.iterdir())


# -- a folder that holds the user's files ---------------------------------------------------


def test_folder_holding_the_model_and_notes_is_refused(tmp_path, tiny_model):
    user = tmp_path / "userdir"
    model = _copy_model(tiny_model, user)
    (user / "notes.txt").write_text("my notes\n")
    before = _snapshot(user)
    result = _refused(_run(model, user), "is not empty and is not a dfx build folder",
                      str(user), "model.onnx", "notes.txt", "--force")
    assert _snapshot(user) == before  # nothing written, nothing removed
    assert sorted(p.name for p in user.iterdir()) == ["model.onnx", "notes.txt"]
    assert result.stdout == ""


def test_force_writes_beside_the_users_files_and_removes_none(tmp_path, tiny_model):
    user = tmp_path / "userdir"
    model = _copy_model(tiny_model, user)
    (user / "notes.txt").write_text("my notes\n")
    (user / "report").mkdir()
    (user / "report" / "mine.txt").write_text("mine\n")
    _ok(_run(model, user, "--force"))
    assert (user / "notes.txt").read_text() == "my notes\n"
    assert (user / "report" / "mine.txt").read_text() == "mine\n"
    assert model.read_bytes() == tiny_model.read_bytes()
    assert read_json(user / "build_status.json")["status"] == "complete"
    assert (user / "report" / "estimate_layer_cycles.json").is_file()
    marker = read_json(user / ".dfx-build")
    assert "notes.txt" not in marker["files"] and "model.onnx" not in marker["files"]
    assert "report/mine.txt" not in marker["files"]
    assert "report/estimate_layer_cycles.json" in marker["files"]

    # a later build that writes fewer files removes only dfx's own files it no longer writes
    _ok(_run(model, user, "--save-intermediate-models", "false"))
    assert not (user / "intermediate_models").exists()
    assert (user / "notes.txt").read_text() == "my notes\n"
    assert (user / "report" / "mine.txt").read_text() == "mine\n"
    assert model.is_file()
    _no_staging_left(user, tmp_path)


def test_force_never_overwrites_a_users_file(tmp_path, tiny_model):
    user = tmp_path / "userdir"
    model = _copy_model(tiny_model, user)
    (user / "final_hw_config.json").write_text("{\"mine\": 1}\n")
    result = _refused(_run(model, user, "--force"), "would overwrite",
                      "final_hw_config.json", "which dfx did not write")
    assert (user / "final_hw_config.json").read_text() == "{\"mine\": 1}\n"
    assert model.read_bytes() == tiny_model.read_bytes()
    assert f"the finished build is kept in {user / '.dfx-failed'}" in result.stderr
    assert (user / ".dfx-failed" / "final_hw_config.json").is_file()
    _no_staging_left(user, tmp_path)


def test_the_model_inside_a_dfx_build_folder_is_never_overwritten(tmp_path, tiny_model):
    out = tmp_path / "b"
    _ok(_run(tiny_model, out))
    # a model the earlier build wrote, built again into the same folder
    model = out / "intermediate_models" / "step_tidy_up.onnx"
    before = model.read_bytes()
    result = _refused(_run(model, out), "would overwrite intermediate_models/step_tidy_up.onnx"
                      ", the model being built")
    assert model.read_bytes() == before
    assert str(out / ".dfx-failed") in result.stderr


def test_dot_as_output_folder(tmp_path, tiny_model):
    # -o . in the folder that holds the model: refused, with no staging folder anywhere
    user = tmp_path / "here"
    model = _copy_model(tiny_model, user)
    _refused(run_dfx("run", "--plugins", "default", "model.onnx", "-o", ".", *FAST, cwd=user),
             "'.' is not empty and is not a dfx build folder", "model.onnx")
    assert sorted(p.name for p in user.iterdir()) == ["model.onnx"]
    _no_staging_left(user, tmp_path)
    # with --force it works in place: never "Device or resource busy"
    _ok(run_dfx("run", "--plugins", "default", "model.onnx", "-o", ".", *FAST, "--force",
                cwd=user))
    assert model.read_bytes() == tiny_model.read_bytes()
    assert read_json(user / "build_status.json")["status"] == "complete"
    _no_staging_left(user, tmp_path)
    # an empty current folder is used as it is, and a rebuild there needs no flag
    empty = tmp_path / "empty"
    empty.mkdir()
    _ok(run_dfx("run", "--plugins", "default", model, "-o", ".", *FAST, cwd=empty))
    _ok(run_dfx("run", "--plugins", "default", model, "-o", ".", *FAST, cwd=empty))
    assert (empty / "final_model.onnx").is_file()
    _no_staging_left(empty, tmp_path)


# -- odd output paths -----------------------------------------------------------------------


def test_a_plain_file_as_output_folder_is_refused(tmp_path, tiny_model):
    target = tmp_path / "result.txt"
    target.write_text("keep me\n")
    _refused(_run(tiny_model, target), f"output_dir {str(target)!r} is a file, not a folder")
    assert target.read_text() == "keep me\n"


def test_output_folder_under_a_file_is_refused(tmp_path, tiny_model):
    (tmp_path / "plain").write_text("x")
    _refused(_run(tiny_model, tmp_path / "plain" / "out"), "is a file, not a folder")
    assert (tmp_path / "plain").read_text() == "x"


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write: chmod 500 for a normal user; root writes
    anyway, so for root a folder of a read-only kernel file system."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    candidate = Path("/proc/sys")
    if candidate.is_dir() and not os.access(candidate, os.W_OK):
        return candidate
    pytest.skip("no folder that root cannot write here")


def test_output_folder_under_an_unwritable_folder(tmp_path, tiny_model):
    locked = _unwritable_folder(tmp_path)
    target = locked / "dfx-test-out"
    _refused(_run(tiny_model, target), f"output_dir {str(target)!r} cannot be created",
             f"{str(locked)!r} is not writable")
    assert not target.exists()


def test_a_chmod_500_folder_is_never_replaced(tmp_path, tiny_model):
    folder = tmp_path / "ro_build"
    folder.mkdir()
    folder.chmod(0o500)
    inode = folder.stat().st_ino
    try:
        result = _run(tiny_model, folder)
        if os.geteuid() == 0:  # root may write into it: the folder itself stays as it was
            _ok(result)
            assert (folder / "build_status.json").is_file()
        else:
            _refused(result, "is not writable", "mode 500")
        assert folder.stat().st_ino == inode
        assert stat.S_IMODE(folder.stat().st_mode) == 0o500
    finally:
        folder.chmod(0o755)


def test_a_symlinked_output_folder_stays_a_symlink(tmp_path, tiny_model):
    real = tmp_path / "real_build"
    real.mkdir()
    link = tmp_path / "linkdir"
    link.symlink_to(real)
    for fps in ("1000000", "500000"):  # a build, then a rebuild through the link
        _ok(run_dfx("run", "--plugins", "default", tiny_model, "-o", link, "--target-fps", fps))
        assert link.is_symlink() and os.readlink(link) == str(real)
        assert (real / "build_status.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "linkdir", "real_build"]
    _no_staging_left(real, tmp_path)


def test_a_dangling_symlink_is_refused(tmp_path, tiny_model):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "gone")
    _refused(_run(tiny_model, link), "is a symlink to", "which does not exist")
    assert link.is_symlink()


# -- failed builds keep the good one --------------------------------------------------------


def test_a_missing_model_leaves_a_good_build_alone(tmp_path, tiny_model):
    out = tmp_path / "good_build"
    _ok(_run(tiny_model, out))
    before = _snapshot(out)
    _refused(_run(tmp_path / "typo.onnx", out), "typo.onnx", "does not exist")
    assert _snapshot(out) == before


def test_a_directory_given_as_the_model(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    _refused(_run(folder, tmp_path / "b"), str(folder), "is a directory, not a model file")
    assert not (tmp_path / "b").exists()


FAILING_PLUGIN = '''
import os
from dfx import hookimpl, Step

def maybe_fail(model, cfg, ctx):
    ctx.write_report("failing_step.json", {"ran": True})
    if os.environ.get("DFX_TEST_FAIL"):
        raise ValueError("the test asked this step to fail")
    return model

@hookimpl
def dfx_register_steps():
    return [Step("step_maybe_fail", maybe_fail, cacheable=False,
                 after="step_target_fps_parallelization")]
'''


def test_a_failed_build_keeps_the_previous_good_build(tmp_path, tiny_model):
    (tmp_path / "failplugin.py").write_text(FAILING_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "good_build"
    args = ["run", "--plugins", "default,failplugin", tiny_model, "-o", out, *FAST]
    _ok(run_dfx(*args, env_extra=env))
    before = _snapshot(out)
    failed = run_dfx(*args, "--target-fps", "2000", env_extra={**env, "DFX_TEST_FAIL": "1"})
    _refused(failed, "the test asked this step to fail", code=5)
    assert f"the previous build in {out} is kept" in failed.stderr
    assert str(out / ".dfx-failed") in failed.stderr
    assert {k: v for k, v in _snapshot(out).items() if not k.startswith(".dfx-failed")} \
        == before
    report = read_json(out / ".dfx-failed" / "build_status.json")
    assert report["status"] == "failed" and report["failed_step"] == "step_maybe_fail"
    assert "asked this step to fail" in (out / ".dfx-failed" / "build_dataflow.log").read_text()
    _no_staging_left(out, tmp_path)

    # the next good build replaces the old one and removes the failure report
    _ok(run_dfx(*args, "--target-fps", "2000", env_extra=env))
    assert not (out / ".dfx-failed").exists()
    assert read_json(out / "build_status.json")["status"] == "complete"


def test_a_failed_first_build_is_published_for_inspection(tmp_path, tiny_model):
    (tmp_path / "failplugin.py").write_text(FAILING_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "DFX_TEST_FAIL": "1"}
    out = tmp_path / "b"
    result = _refused(run_dfx("run", "--plugins", "default,failplugin", tiny_model, "-o", out,
                              *FAST, env_extra=env), code=5)
    assert f"the failed build's log and build_status.json are in {out}" in result.stderr
    assert read_json(out / "build_status.json")["status"] == "failed"
    assert read_json(out / ".dfx-build")["status"] == "failed"
    # a failed build is not a good one: the next failure replaces it in place
    _refused(run_dfx("run", "--plugins", "default,failplugin", tiny_model, "-o", out, *FAST,
                     env_extra=env), code=5)
    assert not (out / ".dfx-failed").exists()
    _no_staging_left(out, tmp_path)


# -- a full disk ----------------------------------------------------------------------------


def _no_space(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_while_publishing_keeps_the_old_build(tmp_path, tiny_model, monkeypatch,
                                                          capsys):
    from dfx import pipeline
    from dfx.cli import main

    out = tmp_path / "good_build"
    assert main(["run", "--plugins", "default", str(tiny_model), "-o", str(out), "-q",
                 *FAST]) == 0
    before = _snapshot(out)
    capsys.readouterr()

    real_write_text = Path.write_text
    # Every write into the output folder fails, the failure report's too.
    def full_disk_write_text(self, *args, **kwargs):
        if str(self).startswith(str(out)):
            raise _no_space(self)
        return real_write_text(self, *args, **kwargs)

    def full_disk_copy(src, dst):
        raise _no_space(dst)

    monkeypatch.setattr(Path, "write_text", full_disk_write_text)
    monkeypatch.setattr(pipeline, "_link_or_copy", full_disk_copy)
    code = main(["run", "--plugins", "default", str(tiny_model), "-o", str(out), "-q",
                 "--target-fps", "3000"])
    err = capsys.readouterr().err
    assert code == 8, err
    assert "no space left on the device" in err and str(out) in err
    assert "Traceback" not in err and "Logging error" not in err
    monkeypatch.undo()
    assert {k: v for k, v in _snapshot(out).items() if not k.startswith(".dfx-failed")} \
        == before
    _no_staging_left(out, tmp_path)


def test_a_full_disk_inside_a_step_names_the_step_and_file(tmp_path, tiny_model, monkeypatch,
                                                           capsys):
    from dfx.cli import main
    from dfx.steps import StepContext

    def full_disk(self, name, data):
        raise _no_space(self.report_dir / name)

    monkeypatch.setattr(StepContext, "write_report", full_disk)
    code = main(["run", "--plugins", "default", str(tiny_model), "-o", str(tmp_path / "b"),
                 "-q", *FAST])
    err = capsys.readouterr().err
    assert code == 8, err
    assert "no space left on the device" in err and ".json" in err
    assert "Traceback" not in err
    status = read_json(tmp_path / "b" / "build_status.json")
    assert status["status"] == "failed" and status["failed_step"]
    assert json.loads((tmp_path / "b" / ".dfx-build").read_text())["status"] == "failed"


def test_an_interrupted_build_leaves_the_folder_as_it_was(tmp_path, tiny_model, monkeypatch,
                                                          capsys):
    from dfx import pipeline
    from dfx.cli import main

    good = tmp_path / "good"
    assert main(["run", "--plugins", "default", str(tiny_model), "-o", str(good), "-q",
                 *FAST]) == 0
    before = _snapshot(good)
    real_collect = pipeline.Build._collect
    calls = []

    def interrupted(self, entry, step, staging, **kwargs):  # Ctrl-C after a few steps
        calls.append(step.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_collect(self, entry, step, staging, **kwargs)

    monkeypatch.setattr(pipeline.Build, "_collect", interrupted)
    for out in (good, tmp_path / "new"):
        calls.clear()
        assert main(["run", "--plugins", "default", str(tiny_model), "-o", str(out), "-q",
                     "--target-fps", "5000"]) == 130
        assert "terminated by SIGINT" in capsys.readouterr().err
    assert _snapshot(good) == before
    assert not (tmp_path / "new").exists()  # the folder this build made is gone again
    _no_staging_left(good, tmp_path)
