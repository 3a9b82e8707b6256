# A stand-in for `vivado` in the build-step tests (there is no Vivado in CI).
#
# It answers `-version`, and for `-mode batch -source SESSION` it runs the session
# through dfx's own dry run (the scripts dfx generated, with every Vivado command a
# checked stub), then plays the part of Vivado for the files the transcript says
# Vivado would write: report_utilization / report_timing_summary get copies of the
# real Vivado reports in FAKE_VIVADO_FIXTURES, ipx::package_project gets a
# component.xml, `file copy` of a .bit/.hwh gets a marked placeholder. Every file it
# writes says, or comes from a fixture that says, that it is not from this design;
# the tests check plumbing (paths, parsing, status files), not figures.
#
# FAKE_VIVADO_MODE: play (default) | error | hang | truncate (the flat utilization
# report cut in half) | missing (no timing report)
# FAKE_VIVADO_VERSION: the release it claims (default 2022.2)
import os
import shutil
import sys
import time
from pathlib import Path

VERSION = os.environ.get("FAKE_VIVADO_VERSION", "2022.2")
MODE = os.environ.get("FAKE_VIVADO_MODE", "play")
FIXTURES = Path(os.environ.get("FAKE_VIVADO_FIXTURES", "."))


def option(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def main(argv):
    if "-version" in argv:
        print(f"Vivado v{VERSION} (64-bit)\nTool Version Limit: stand-in")
        return 0
    log = open(option(argv, "-log") or "vivado.log", "w")

    def say(text):
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    say(f"****** Vivado v{VERSION} (64-bit) -- stand-in for tests")
    if MODE == "error":
        say("ERROR: [Synth 8-439] module 'no_such_module' not found")
        say("CRITICAL WARNING: [Constraints 18-5210] No constraints selected for write.")
        return 1
    if MODE == "hang":
        import subprocess

        child = subprocess.Popen(["sleep", "300"])
        Path("grandchild.pid").write_text(str(child.pid))
        time.sleep(300)
        return 0
    from dfx.tcl.dryrun import dry_run

    transcript = dry_run(Path(option(argv, "-source")).resolve())
    for call in transcript.calls():
        if call.name == "report_utilization" and call.has("-file"):
            name = ("util_hier_xczu9eg.rpt" if call.has("-hierarchical")
                    else "util_xc7z020_flat.rpt")
            target = Path(call.opt("-file"))
            target.parent.mkdir(parents=True, exist_ok=True)
            text = (FIXTURES / name).read_text()
            if MODE == "truncate" and not call.has("-hierarchical"):
                text = text[: len(text) // 2]
            target.write_text(text)
            say(f"INFO: [stand-in] wrote {target.name} from fixture {name}")
        elif call.name == "report_timing_summary" and call.has("-file"):
            if MODE == "missing":
                continue
            target = Path(call.opt("-file"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(FIXTURES / "timing_summary_met.rpt", target)
        elif call.name == "ipx::package_project":
            root = Path(call.opt("-root_dir"))
            root.mkdir(parents=True, exist_ok=True)
            (root / "component.xml").write_text("<!-- stand-in: not a packaged IP -->\n")
        elif call.name == "file" and call.args and call.args[0] == "copy":
            target = Path(call.args[-1])
            if target.suffix in (".bit", ".hwh"):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("stand-in: not a bitstream\n")
    say(f"INFO: [Common 17-206] Exiting Vivado (stand-in; {len(transcript.calls())} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
