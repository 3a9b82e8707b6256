"""Plugins: the example plugin installed through its entry point, plugins loaded by
module path, plugin errors, step replacement, and plugin fingerprints in cache keys.

Every test drives the real CLI in a fresh process (``python -m dfx ...``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from example_packages import install_editable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN_DIR = ROOT / "examples" / "dfx-example-plugin"
MODEL = ROOT / "examples" / "models" / "cybsec-mlp-w2a2" / "model.onnx"
# (MW, MH) of the four MVAUs of cybsec-mlp-w2a2
CYBSEC_DIMS = [(600, 64), (64, 64), (64, 64), (64, 1)]
INT2_RANGE = (-2, 1)
DEFAULT_STEPS = ["step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def dfx(*args, tmp_path: Path, pythonpath: Path | None = None, cache: Path | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m dfx ARGS`` with DFX_CACHE_DIR under ``tmp_path`` (or ``cache``)."""
    env = dict(os.environ)
    env["DFX_CACHE_DIR"] = str(cache or tmp_path / "cache")
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(pythonpath)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run([sys.executable, "-m", "dfx", *map(str, args)], check=False,
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n" \
                                 f"stderr:\n{proc.stderr}"
    return proc


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def step_lines(stdout: str) -> dict[str, str]:
    """``[3/8] step_streamline (cached)`` -> {"step_streamline": "cached"}."""
    lines = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "] step_" in line:
            name, _, how = line.split("] ", 1)[1].partition(" (")
            lines[name] = how.rstrip(")")
    return lines


def listed_steps(stdout: str) -> list[str]:
    """The step names of ``dfx steps``, in order."""
    return [line.split()[1] for line in stdout.splitlines() if line.strip()[:1].isdigit()]


def write_plugin(folder: Path, name: str, source: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


# --------------------------------------------------------------------------
# the example plugin, installed through its entry point
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory) -> None:
    """``pip install -e examples/dfx-example-plugin`` into this interpreter, once per run
    (see tests/example_packages.py)."""
    install_editable(EXAMPLE_PLUGIN_DIR, "example", "dfx_example_plugin",
                     tmp_path_factory.getbasetemp().parent)


@pytest.fixture(scope="session")
def example_builds(example_plugin, tmp_path_factory) -> dict[str, Path]:
    """Builds of cybsec-mlp-w2a2 with the example plugin, each with its own cache.

    "plain": no plugin key; "uniform4": example_uniform_folding=4.
    """
    base = tmp_path_factory.mktemp("example_builds")
    builds = {}
    for name, extra in [("plain", []), ("uniform4", ["--set", "example_uniform_folding=4"])]:
        out = base / name
        ok(dfx("run", "--plugins", "default,example", MODEL, "-o", out, "--target-fps",
               "1000000", *extra, tmp_path=base, cache=base / f"cache-{name}"))
        builds[name] = out
    return builds


def test_example_plugin_listed_with_entry_point_origin(example_plugin, tmp_path):
    out = ok(dfx("plugins", "--plugins", "default,example", tmp_path=tmp_path)).stdout
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("example ")]
    assert len(header) == 1, out
    assert "(module dfx_example_plugin, version 0.1.0, " \
           "entry point of dfx-example-plugin 0.1.0)" in lines[header[0]]
    hooks = []
    for line in lines[header[0] + 1:]:
        if not line.startswith("    "):
            break
        hooks.append(line.strip())
    assert hooks == ["dfx_config_fields", "dfx_folding", "dfx_register_steps"]


def test_example_plugin_step_order(example_plugin, tmp_path):
    out = ok(dfx("steps", "--plugins", "default,example", tmp_path=tmp_path)).stdout
    names = listed_steps(out)
    at = names.index("step_generate_estimate_reports")
    assert names[at:at + 2] == ["step_generate_estimate_reports", "step_weight_histogram"]
    assert "[estimate_reports]" in next(line for line in out.splitlines()
                                        if "step_weight_histogram" in line)
    # without the plugin, the step is not there
    out = ok(dfx("steps", "--plugins", "default", tmp_path=tmp_path)).stdout
    assert "step_weight_histogram" not in listed_steps(out)


def test_example_plugin_config_keys_listed(example_plugin, tmp_path):
    out = ok(dfx("config", "--plugins", "default,example", tmp_path=tmp_path)).stdout
    assert "weight_histogram_bins" in out
    assert "example_uniform_folding" in out


def test_weight_histogram_report(example_builds):
    report = read_json(example_builds["plain"] / "report" / "weight_histogram.json")
    assert report["bins"] == 16
    layers = report["layers"]
    assert list(layers) == ["MVAU_0", "MVAU_1", "MVAU_2", "MVAU_3"]
    for (mw, mh), layer in zip(CYBSEC_DIMS, layers.values()):
        assert (layer["MW"], layer["MH"]) == (mw, mh)
        assert layer["weight_datatype"] == "INT2"
        assert layer["total"] == mw * mh
        assert layer["other"] == 0
        assert sum(layer["counts"].values()) == mw * mh
        values = [int(v) for v in layer["counts"]]
        assert values == sorted(values)
        assert all(INT2_RANGE[0] <= v <= INT2_RANGE[1] for v in values), values
        assert all(c > 0 for c in layer["counts"].values())


def test_weight_histogram_bins_limits_values(example_plugin, tmp_path):
    out = tmp_path / "build"
    ok(dfx("run", "--plugins", "default,example", MODEL, "-o", out, "-q",
           "--set", "weight_histogram_bins=1", tmp_path=tmp_path))
    report = read_json(out / "report" / "weight_histogram.json")
    assert report["bins"] == 1
    for (mw, mh), layer in zip(CYBSEC_DIMS, report["layers"].values()):
        assert len(layer["counts"]) == 1
        assert sum(layer["counts"].values()) + layer["other"] == mw * mh
    # cybsec's weights are mostly zeros: the one kept value is 0
    assert all(list(layer["counts"]) == ["0"] for layer in report["layers"].values())


def test_uniform_folding_sets_pe_and_simd(example_builds):
    hw = read_json(example_builds["uniform4"] / "final_hw_config.json")
    auto = read_json(example_builds["uniform4"] / "auto_folding_config.json")
    for i, (mw, mh) in enumerate(CYBSEC_DIMS):
        layer = hw[f"MVAU_{i}"]
        assert layer["PE"] == (4 if mh % 4 == 0 else 1), (i, layer)
        assert layer["SIMD"] == (4 if mw % 4 == 0 else 1), (i, layer)
        assert auto[f"MVAU_{i}"]["PE"] == layer["PE"]
        assert auto[f"MVAU_{i}"]["SIMD"] == layer["SIMD"]
    assert (hw["MVAU_0"]["PE"], hw["MVAU_0"]["SIMD"]) == (4, 4)
    assert (hw["MVAU_3"]["PE"], hw["MVAU_3"]["SIMD"]) == (1, 4)  # MH=1


def test_without_uniform_key_the_default_folding_runs(example_builds, tmp_path):
    plain = read_json(example_builds["plain"] / "final_hw_config.json")
    uniform = read_json(example_builds["uniform4"] / "final_hw_config.json")
    assert plain != uniform
    assert read_json(example_builds["plain"] / "auto_folding_config.json") == plain
    # the plain build folds exactly as a build without the example plugin
    out = tmp_path / "default_only"
    ok(dfx("run", "--plugins", "default", MODEL, "-o", out, "--target-fps", "1000000", "-q",
           tmp_path=tmp_path))
    assert read_json(out / "final_hw_config.json") == plain
    assert (example_builds["plain"] / "report" / "folding_summary.json").is_file()


def test_uniform_folding_key_changes_the_cache_key(example_plugin, tmp_path):
    cache = tmp_path / "shared-cache"
    plain, uniform = tmp_path / "plain", tmp_path / "uniform"
    ok(dfx("run", "--plugins", "default,example", MODEL, "-o", plain, "--target-fps", "1000000",
           tmp_path=tmp_path, cache=cache))
    proc = ok(dfx("run", "--plugins", "default,example", MODEL, "-o", uniform, "--target-fps",
                  "1000000", "--set", "example_uniform_folding=4", tmp_path=tmp_path,
                  cache=cache))
    assert step_lines(proc.stdout)["step_target_fps_parallelization"] != "cached"
    hw = read_json(uniform / "final_hw_config.json")
    assert (hw["MVAU_0"]["PE"], hw["MVAU_0"]["SIMD"]) == (4, 4)


def test_negative_uniform_folding_is_a_config_error(example_plugin, tmp_path):
    proc = dfx("run", "--plugins", "default,example", MODEL, "-o", tmp_path / "b", "-q",
               "--set", "example_uniform_folding=-1", tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "example_uniform_folding must be >= 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_plugin_key_is_rejected(example_plugin, tmp_path):
    proc = dfx("run", "--plugins", "default,example", MODEL, "-o", tmp_path / "b",
               "--set", "weight_histogram_binz=3", tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "weight_histogram_binz" in proc.stderr.replace("-", "_")
    # names the key the plugin declares (in flag or key spelling)
    assert "weight_histogram_bins" in proc.stderr.replace("-", "_")
    assert not (tmp_path / "b").exists()


def test_unknown_plugin_key_suggestion_is_usable(example_plugin, tmp_path):
    proc = dfx("run", "--plugins", "default,example", MODEL, "-o", tmp_path / "b",
               "--set", "weight_histogram_binz=3", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "did you mean --set weight_histogram_bins=3?" in proc.stderr


def test_plugin_order_on_the_command_line_does_not_matter(example_plugin, tmp_path):
    proc = ok(dfx("steps", "--plugins", "example,default", tmp_path=tmp_path))
    names = [line.split()[1] for line in proc.stdout.splitlines() if line.strip()]
    at = names.index("step_generate_estimate_reports")
    assert names[at:at + 2] == ["step_generate_estimate_reports", "step_weight_histogram"]


def test_plugin_key_without_plugin_is_rejected(example_plugin, tmp_path):
    proc = dfx("run", "--plugins", "default", MODEL, "-o", tmp_path / "b",
               "--set", "weight_histogram_bins=3", tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "weight" in proc.stderr and "histogram" in proc.stderr


# --------------------------------------------------------------------------
# plugin fingerprints in the cache key
# --------------------------------------------------------------------------


def test_adding_a_plugin_keeps_unrelated_steps_cached(example_plugin, tmp_path):
    cache = tmp_path / "cache"
    first = ok(dfx("run", "--plugins", "default", MODEL, "-o", tmp_path / "a",
                   "--target-fps", "1000000", tmp_path=tmp_path, cache=cache))
    assert all(how != "cached" for how in step_lines(first.stdout).values()), first.stdout
    second = ok(dfx("run", "--plugins", "default,example", MODEL, "-o", tmp_path / "b",
                    "--target-fps", "1000000", "--set", "example_uniform_folding=0",
                    tmp_path=tmp_path, cache=cache))
    steps = step_lines(second.stdout)
    for name in DEFAULT_STEPS:
        assert steps[name] == "cached", second.stdout
    # the example plugin implements dfx_folding: its fingerprint is in the folding key
    assert steps["step_target_fps_parallelization"] != "cached", second.stdout
    assert steps["step_weight_histogram"] != "cached", second.stdout
    # ... but it deferred to the default folding, so the result is the same
    assert read_json(tmp_path / "a" / "final_hw_config.json") == \
        read_json(tmp_path / "b" / "final_hw_config.json")
    # the same build again: everything from the cache
    third = ok(dfx("run", "--plugins", "default,example", MODEL, "-o", tmp_path / "c",
                   "--target-fps", "1000000", tmp_path=tmp_path, cache=cache))
    assert set(step_lines(third.stdout).values()) == {"cached"}, third.stdout
    assert (tmp_path / "c" / "report" / "weight_histogram.json").is_file()


# --------------------------------------------------------------------------
# plugins loaded by module path
# --------------------------------------------------------------------------


def test_plugin_by_module_path(tmp_path):
    write_plugin(tmp_path, "my_tmp_plugin", '''
        from dfx import hookimpl

        __version__ = "0.3"

        @hookimpl
        def dfx_step_finished(step_name, seconds, cached, ctx):
            pass
    ''')
    out = ok(dfx("plugins", "--plugins", "default,my_tmp_plugin", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("my_tmp_plugin "))
    assert header.endswith("(module my_tmp_plugin, version 0.3, module path)"), out
    assert lines[lines.index(header) + 1].strip() == "dfx_step_finished"


def test_plugin_in_a_package_by_dotted_path(tmp_path):
    package = tmp_path / "acme_dfx"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_plugin(package, "report_plugin", '''
        from dfx import Step, hookimpl

        def step_hello(model, cfg, ctx):
            (ctx.report_dir / "hello.txt").write_text("hello")

        @hookimpl
        def dfx_register_steps():
            return [Step("step_hello", step_hello, after="step_tidy_up",
                         description="says hello")]
    ''')
    out = ok(dfx("steps", "--plugins", "default,acme_dfx.report_plugin", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    names = listed_steps(out)
    assert names[names.index("step_tidy_up") + 1] == "step_hello"
    out = ok(dfx("plugins", "--plugins", "default,acme_dfx.report_plugin", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    assert "acme_dfx.report_plugin  (module acme_dfx.report_plugin, version 0, module path)" \
        in out
    build = tmp_path / "build"
    ok(dfx("run", "--plugins", "default,acme_dfx.report_plugin", MODEL, "-o", build, "-q",
           tmp_path=tmp_path, pythonpath=tmp_path))
    assert (build / "report" / "hello.txt").read_text() == "hello"


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plugins", "steps", "config", "run"])
def test_unknown_plugin(command, tmp_path):
    args = [command, "--plugins", "nosuchplugin"]
    if command == "run":
        args += [MODEL, "-o", tmp_path / "b"]
    proc = dfx(*args, tmp_path=tmp_path)
    assert proc.returncode != 0
    assert proc.returncode == 4  # PluginError
    assert "plugin 'nosuchplugin' not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_plugin_module_with_import_error(tmp_path):
    write_plugin(tmp_path, "broken_plugin", '''
        import this_module_does_not_exist_dfx
    ''')
    proc = dfx("plugins", "--plugins", "default,broken_plugin", tmp_path=tmp_path,
               pythonpath=tmp_path)
    assert proc.returncode == 4
    assert "plugin 'broken_plugin' failed to import" in proc.stderr
    assert "this_module_does_not_exist_dfx" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_step_after_unknown_step(tmp_path):
    write_plugin(tmp_path, "bad_anchor", '''
        from dfx import Step, hookimpl

        @hookimpl
        def dfx_register_steps():
            return [Step("step_lost", lambda model, cfg, ctx: model,
                         after="step_does_not_exist")]
    ''')
    for args in (["steps"], ["run", MODEL, "-o", tmp_path / "b"]):
        proc = dfx(*args, "--plugins", "default,bad_anchor", tmp_path=tmp_path,
                   pythonpath=tmp_path)
        assert proc.returncode == 4, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "plugin 'bad_anchor': step 'step_lost' goes after 'step_does_not_exist', " \
               "which is not a registered step" in proc.stderr


def test_same_step_name_from_two_plugins(tmp_path):
    for name in ("dup_a", "dup_b"):
        write_plugin(tmp_path, name, '''
            from dfx import Step, hookimpl

            @hookimpl
            def dfx_register_steps():
                return [Step("step_dup", lambda model, cfg, ctx: model,
                             after="step_tidy_up")]
        ''')
    proc = dfx("steps", "--plugins", "default,dup_a,dup_b", tmp_path=tmp_path,
               pythonpath=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    message = proc.stderr
    assert "'step_dup'" in message
    assert "'dup_a'" in message and "'dup_b'" in message
    assert "replaces=True" in message


def test_replacing_a_default_step_without_replaces(tmp_path):
    write_plugin(tmp_path, "clash", '''
        from dfx import Step, hookimpl

        @hookimpl
        def dfx_register_steps():
            return [Step("step_tidy_up", lambda model, cfg, ctx: model)]
    ''')
    proc = dfx("steps", "--plugins", "default,clash", tmp_path=tmp_path, pythonpath=tmp_path)
    assert proc.returncode == 4
    assert "plugin 'clash' registers step 'step_tidy_up', which 'default' registered" \
           in proc.stderr


def test_step_replacing_a_default_step(tmp_path):
    write_plugin(tmp_path, "my_reports", '''
        from dfx import Step, hookimpl

        def step_marker(model, cfg, ctx):
            (ctx.report_dir / "replaced_marker.txt").write_text("my_reports ran")
            return model

        @hookimpl
        def dfx_register_steps():
            return [Step("step_generate_estimate_reports", step_marker, replaces=True,
                         outputs={"estimate_reports"}, description="my own reports")]
    ''')
    out = ok(dfx("steps", "--plugins", "default,my_reports", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    names = listed_steps(out)
    assert names.count("step_generate_estimate_reports") == 1
    # replaced in place: still right after FINN's step_minimize_bit_width
    at = names.index("step_generate_estimate_reports")
    assert names[at - 1] == "step_minimize_bit_width"
    assert "my own reports" in out

    build = tmp_path / "build"
    proc = ok(dfx("run", "--plugins", "default,my_reports", MODEL, "-o", build,
                  "--target-fps", "1000000", tmp_path=tmp_path, pythonpath=tmp_path))
    assert "step_generate_estimate_reports" in step_lines(proc.stdout)
    assert (build / "report" / "replaced_marker.txt").read_text() == "my_reports ran"
    # the default estimate step did not run
    assert not (build / "report" / "estimate_network_performance.json").exists()
    assert not (build / "report" / "estimate_layer_resources.json").exists()
    # the steps before it are the default ones
    assert (build / "final_hw_config.json").is_file()


def test_replaced_step_in_the_middle_keeps_its_place(tmp_path):
    write_plugin(tmp_path, "my_tidy", '''
        from dfx import Step, hookimpl
        from dfx.plugins.importer import step_tidy_up

        def my_tidy(model, cfg, ctx):
            (ctx.report_dir / "my_tidy.txt").write_text("ran")
            return step_tidy_up(model, cfg, ctx)

        @hookimpl
        def dfx_register_steps():
            return [Step("step_tidy_up", my_tidy, replaces=True, description="my tidy-up")]
    ''')
    out = ok(dfx("steps", "--plugins", "default,my_tidy", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    assert listed_steps(out)[:3] == ["step_qonnx_to_finn", "step_tidy_up", "step_streamline"]
    assert "my tidy-up" in out
    build = tmp_path / "build"
    ok(dfx("run", "--plugins", "default,my_tidy", MODEL, "-o", build, "-q", tmp_path=tmp_path,
           pythonpath=tmp_path))
    assert (build / "report" / "my_tidy.txt").read_text() == "ran"
    assert (build / "report" / "estimate_network_performance.json").is_file()


# --------------------------------------------------------------------------
# when a step runs, and what `dfx steps` says about it
# --------------------------------------------------------------------------

PLACED_STEPS = '''
    from dfx import Step, hookimpl

    def step_my_report(model, cfg, ctx):
        ctx.write_report("my_report.json", {"nodes": len(model.graph.node)})
        return model

    def step_after_codegen(model, cfg, ctx):
        (ctx.report_dir / "after_codegen.txt").write_text("ran")
        return model

    @hookimpl
    def dfx_register_steps():
        # the first as the hookspec's example writes it: a place, no outputs
        return [Step("step_my_report", step_my_report, after="step_generate_estimate_reports"),
                Step("step_after_codegen", step_after_codegen, after="step_hw_codegen")]
'''


def step_status(stdout: str) -> dict[str, str]:
    """``dfx steps`` lines -> {step name: "runs: ..." or "skipped: ..."}."""
    out = {}
    for line in stdout.splitlines():
        if line.strip()[:1].isdigit():
            out[line.split()[1]] = line[line.rindex("(runs: ") if "(runs: " in line
                                        else line.rindex("(skipped: "):].strip("()")
    return out


def test_a_step_placed_after_the_estimates_runs_in_an_estimate_only_build(tmp_path):
    write_plugin(tmp_path, "placed", PLACED_STEPS)
    status = step_status(ok(dfx("steps", "--plugins", "default,placed", tmp_path=tmp_path,
                                pythonpath=tmp_path)).stdout)
    assert status["step_my_report"] == ("runs: with step_generate_estimate_reports (it names "
                                        "no outputs of its own), for estimate_reports")
    assert status["step_after_codegen"].startswith(
        "skipped: it runs with step_hw_codegen (it names no outputs of its own), needed only "
        "for bitfile, deployment_package, out_of_context_synth, pynq_driver, "
        "rtlsim_performance, stitched_ip; generate_outputs asks for estimate_reports")
    assert status["step_hw_codegen"].startswith("skipped: needed only for bitfile")
    assert status["step_tidy_up"] == "runs: every build"

    build = tmp_path / "build"
    proc = ok(dfx("run", "--plugins", "default,placed", MODEL, "-o", build, tmp_path=tmp_path,
                  pythonpath=tmp_path))
    # the build runs exactly the steps `dfx steps` said it would, in that order
    ran = list(step_lines(proc.stdout))
    assert ran == [name for name, text in status.items() if text.startswith("runs")]
    assert ran[-2:] == ["step_generate_estimate_reports", "step_my_report"]
    assert read_json(build / "report" / "my_report.json")["nodes"] > 0
    assert not (build / "report" / "after_codegen.txt").exists()


def test_dfx_steps_follows_the_configuration(tmp_path):
    write_plugin(tmp_path, "placed", PLACED_STEPS)

    def status(*args):
        return step_status(ok(dfx("steps", "--plugins", "default,placed", *args,
                                  tmp_path=tmp_path, pythonpath=tmp_path)).stdout)

    hw = status("--generate-outputs", "stitched_ip")
    assert hw["step_after_codegen"] == ("runs: with step_hw_codegen (it names no outputs of "
                                        "its own), for stitched_ip")
    assert hw["step_hw_codegen"] == "runs: for stitched_ip"
    # the estimates (and the step placed after them) are for estimate_reports only
    assert hw["step_my_report"].startswith("skipped: it runs with "
                                           "step_generate_estimate_reports")
    assert hw["step_measure_rtlsim_performance"] == (
        "skipped: needed only for rtlsim_performance; generate_outputs asks for stitched_ip")
    cut = status("--generate-outputs", "stitched_ip", "--set", "stop_step=step_hw_codegen")
    assert cut["step_after_codegen"] == "skipped: it comes after stop_step step_hw_codegen"
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"steps": ["step_qonnx_to_finn", "step_tidy_up"]}))
    listed = status("--config", config)
    assert listed["step_tidy_up"] == "runs: every build"
    assert listed["step_streamline"] == "skipped: the configuration's steps do not list it"
    # a stop_step the outputs leave out is an error saying why, for dfx run as well
    for command in (["steps"], ["run", MODEL, "-o", tmp_path / "never"]):
        proc = dfx(*command, "--set", "stop_step=step_hw_codegen", tmp_path=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert ("stop_step 'step_hw_codegen' is not a step of this build: needed only for "
                "bitfile") in proc.stderr
    # a bad key is the usual configuration error, naming it
    proc = dfx("steps", "--set", "generate_output=stitched_ip", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "unknown key 'generate_output'; did you mean --set generate_outputs" in proc.stderr


def test_a_replacement_without_outputs_runs_where_the_replaced_step_ran(tmp_path):
    write_plugin(tmp_path, "my_codegen", '''
        from dfx import Step, hookimpl

        def my_codegen(model, cfg, ctx):
            (ctx.report_dir / "my_codegen.txt").write_text("ran")
            return model

        @hookimpl
        def dfx_register_steps():
            return [Step("step_hw_codegen", my_codegen, replaces=True)]
    ''')
    out = ok(dfx("steps", "--plugins", "default,my_codegen", tmp_path=tmp_path,
                 pythonpath=tmp_path)).stdout
    line = next(line for line in out.splitlines() if " step_hw_codegen " in line)
    # it takes over the outputs of the step it replaces, so an estimate build skips it
    assert "step_hw_codegen [bitfile, deployment_package, out_of_context_synth" in line
    assert "(skipped: needed only for bitfile" in line
    build = tmp_path / "build"
    ok(dfx("run", "--plugins", "default,my_codegen", MODEL, "-o", build, "-q",
           tmp_path=tmp_path, pythonpath=tmp_path))
    assert not (build / "report" / "my_codegen.txt").exists()
