"""The build status tells the truth (issue 8, section 6): per requested output, produced or
only prepared, what is missing and which script makes it; ``--require-outputs`` fails a
build that could not produce one; the scripts' headers name the right script and order.

There is no Vivado here: a bitfile build writes and dry-runs its scripts and makes no .bit.
"""

from __future__ import annotations

import pytest
from test_synth_steps import FAST, TFC, no_vivado  # noqa: F401 - no_vivado is a fixture

from conftest import read_json
from dfx.cli import main
from dfx.pipeline import output_status
from dfx.steps import Step

BITFILE_ARGS = ["--board", "ZCU104", *FAST, "--generate-outputs", "estimate_reports,bitfile"]


def _run(out, *extra) -> int:
    return main(["run", "--plugins", "default", str(TFC), "-o", str(out), *extra])


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_bitfile_without_vivado_is_prepared_not_produced(tmp_path, no_vivado, capsys):  # noqa: F811
    out = tmp_path / "b"
    assert _run(out, *BITFILE_ARGS) == 0
    printed = capsys.readouterr().out
    status = read_json(out / "build_status.json")
    assert status["status"] == "incomplete"
    bitfile = status["outputs"]["bitfile"]
    assert bitfile["status"] == "prepared" and bitfile["why"] == "Vivado not found"
    assert bitfile["missing"] == ["bitfile/finn-accel.bit", "bitfile/finn-accel.hwh"]
    for missing in bitfile["missing"]:
        assert not (out / missing).exists()
    # the way to make it names the scripts that are there, in the order they must run
    assert bitfile["scripts"] == ["package_ip.tcl", "zynq_shell.tcl"]
    make = bitfile["make"]
    assert make.index("package_ip.tcl") < make.index("zynq_shell.tcl")
    for script in bitfile["scripts"]:
        assert (out / "bitfile" / script).is_file()
    assert status["outputs"]["estimate_reports"]["status"] == "produced"
    assert (out / "report" / "estimate_layer_cycles.json").is_file()
    # the last summary line says the same
    last = _last_line(printed)
    assert last.startswith("outputs: 1 of 2 produced")
    assert "bitfile prepared (Vivado not found; missing bitfile/finn-accel.bit" in last
    assert "estimate_reports produced" in last

    # a fully cached rerun says exactly the same (the steps' reports come from the cache)
    assert _run(out, *BITFILE_ARGS) == 0
    again = capsys.readouterr().out
    assert "(15/15 steps from the cache)" in again
    assert read_json(out / "build_status.json")["outputs"] == status["outputs"]
    assert _last_line(again) == last


def test_require_outputs_fails_a_build_without_its_bitfile(tmp_path, no_vivado, capsys):  # noqa: F811
    out = tmp_path / "b"
    code = _run(out, *BITFILE_ARGS, "--require-outputs")
    err = capsys.readouterr().err
    assert code == 9, err
    assert "require_all_outputs: 1 requested output(s) not produced" in err
    assert "bitfile prepared" in err and "missing bitfile/finn-accel.bit" in err
    assert "Traceback" not in err
    # the build itself is kept: its scripts are what the user runs next
    status = read_json(out / "build_status.json")
    assert status["status"] == "incomplete"
    assert (out / "bitfile" / "zynq_shell.tcl").is_file()


def test_estimate_build_is_complete_and_require_outputs_passes(tmp_path, capsys):
    out = tmp_path / "b"
    assert _run(out, *FAST, "--require-outputs") == 0
    status = read_json(out / "build_status.json")
    assert status["status"] == "complete"
    assert status["outputs"] == {"estimate_reports": {
        "status": "produced", "steps": ["step_generate_estimate_reports"]}}
    assert _last_line(capsys.readouterr().out) == \
        "outputs: 1 of 1 produced: estimate_reports produced"


def test_a_build_stopped_early_does_not_claim_its_outputs(tmp_path, capsys):
    out = tmp_path / "b"
    assert _run(out, *FAST, "--stop-step", "step_convert_to_hw") == 0
    entry = read_json(out / "build_status.json")["outputs"]["estimate_reports"]
    assert entry == {"status": "not produced",
                     "why": "step_generate_estimate_reports did not run in this build"}
    assert not (out / "report" / "estimate_layer_cycles.json").exists()
    capsys.readouterr()
    assert _run(out, *FAST, "--stop-step", "step_convert_to_hw", "--require-outputs") == 9
    assert "estimate_reports not produced" in capsys.readouterr().err


def test_output_status_takes_the_worst_report_and_merges_what_is_missing():
    steps = [Step("a", lambda m, c: m, outputs={"x"}), Step("b", lambda m, c: m,
                                                            outputs={"x", "y"})]
    reports = [("a", {"x": {"status": "prepared", "missing": ["x.bit"], "make": "run a.tcl"}}),
               ("b", {"x": {"status": "produced", "files": ["x.rpt"]}})]
    status = output_status(["x", "y"], steps, reports)
    assert status["x"] == {"status": "prepared", "missing": ["x.bit"], "make": "run a.tcl",
                           "files": ["x.rpt"]}
    assert status["y"] == {"status": "produced", "steps": ["b"]}
    assert output_status(["y"], steps, reports[:1])["y"]["status"] == "not produced"


def test_report_output_rejects_an_unknown_status():
    from dfx.steps import StepContext

    ctx = StepContext("s", None, None, None, None, None)
    with pytest.raises(ValueError, match="'done' is not produced, prepared or not produced"):
        ctx.report_output("bitfile", "done")


def test_script_headers_name_the_script_and_the_order(tmp_path, no_vivado):  # noqa: F811
    out = tmp_path / "b"
    assert _run(out, *BITFILE_ARGS) == 0
    package = (out / "bitfile" / "package_ip.tcl").read_text().splitlines()
    assert package[0].startswith("# package_ip.tcl: package the stitched dfx accelerator")
    assert "Run: vivado -mode batch -source package_ip.tcl" in package[3]
    assert "stitched_ip.tcl" not in "\n".join(package[:6])
    shell = "\n".join((out / "bitfile" / "zynq_shell.tcl").read_text().splitlines()[:10])
    assert "Run order: it needs the packaged IP, so run package_ip.tcl first" in shell
    assert "source package_ip.tcl; source zynq_shell.tcl" in shell


@pytest.mark.slow
def test_deployment_package_of_a_bitfile_build_without_vivado(tmp_path, no_vivado, capsys):  # noqa: F811
    """A bitfile build with the driver and package but no Vivado: MISSING.md and the
    summary both say the package lacks the bitstream and which scripts, in which order,
    make it; the package is only prepared (it runs on the simulated accelerator)."""
    out = tmp_path / "b"
    args = ["--board", "Pynq-Z1", *FAST, "--generate-outputs",
            "estimate_reports,bitfile,pynq_driver,deployment_package"]
    assert _run(out, *args) == 0
    last = _last_line(capsys.readouterr().out)
    status = read_json(out / "build_status.json")
    package = status["outputs"]["deployment_package"]
    assert package["status"] == "prepared"
    assert package["missing"] == ["deploy/bitfile/finn-accel.bit", "deploy/bitfile/finn-accel.hwh"]
    assert "Vivado did not run" in package["why"]
    make = package["make"]
    assert make.index("package_ip.tcl") < make.index("zynq_shell.tcl") < make.index("MISSING.md")
    assert "deployment_package prepared" in last and "deploy/bitfile/finn-accel.bit" in last
    assert "package_ip.tcl" in last
    missing = (out / "deploy" / "MISSING.md").read_text()
    assert "bitfile/finn-accel.bit" in missing and "Vivado did not run" in missing
    assert missing.index("package_ip.tcl") < missing.index("zynq_shell.tcl")
    assert (out / "deploy" / "deploy.zip").is_file()
