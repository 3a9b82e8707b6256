# A stand-in for the `vivado` executable, for tests (there is no Vivado in CI).
# The tests write it out with a "#!" line naming the test interpreter and make it
# executable. It answers `-version` and runs `-mode batch -source <file>` sessions
# through a real Tcl interpreter (tkinter's), echoing the output to stdout and the
# -log file like Vivado does. Its behaviour comes from environment variables:
#   FAKE_VIVADO_VERSION  the release it claims to be (default 2022.2)
#   FAKE_VIVADO_MODE     tcl (default): run the session script;
#                        fail / error-exit0 / nolog: print Vivado-like errors;
#                        hang / hang-stubborn: start a grandchild and never finish;
#                        silent-hang: close stdout and stderr, then never finish;
#                        linger: exit 0 but leave a child holding the output pipe;
#                        escape: the same, the child in a session of its own;
#                        version-garbage / version-fail: a broken `-version` answer
#   FAKE_VIVADO_CALLS    a file that gets one line per invocation
# Each batch run records its arguments in fake_vivado_call.json, the scripts it
# sourced in fake_vivado_sourced.json and a grandchild's pid in grandchild.pid, all
# in its working folder.
import json
import os
import signal
import subprocess
import sys
import time

VERSION = os.environ.get("FAKE_VIVADO_VERSION", "2022.2")
MODE = os.environ.get("FAKE_VIVADO_MODE", "tcl")
VALUED = ("-mode", "-source", "-log", "-journal", "-tempDir")
FLAGS = ("-notrace", "-nolog", "-nojournal")


class Output:
    """Vivado's output: every line to stdout and to the log file."""

    def __init__(self, log_path):
        self.log = open(log_path, "w") if log_path else None

    def line(self, text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        if self.log:
            self.log.write(text + "\n")
            self.log.flush()

    def exit(self, code):
        sys.stdout.flush()
        if self.log:
            self.log.close()
        os._exit(code)


def parse(argv):
    options, tclargs, i = {}, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-tclargs":
            tclargs = argv[i + 1:]
            break
        if arg in VALUED and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 2
        elif arg in FLAGS:
            options[arg] = True
            i += 1
        else:
            print(f"ERROR: [Common 17-170] Unknown option '{arg}'")
            sys.exit(1)
    return options, tclargs


def spawn_grandchild(new_session=False):
    child = subprocess.Popen(["sleep", "60"], start_new_session=new_session)
    with open("grandchild.pid", "w") as f:
        f.write(str(child.pid))
    return child


def run_tcl(out, session, tclargs):
    import tkinter

    interp = tkinter.Tcl()
    sourced = []

    def record(path):
        sourced.append(path)
        with open("fake_vivado_sourced.json", "w") as f:
            json.dump(sourced, f)

    def puts(*args):
        words = [a for a in args if a != "-nonewline"]
        if len(words) == 2 and words[0] not in ("stdout", "stderr"):
            return interp.call("::fake_real_puts", *args)  # a file channel
        out.line(str(words[-1]))
        return ""

    interp.eval("rename puts ::fake_real_puts")
    interp.eval("rename source ::fake_real_source")
    interp.createcommand("puts", puts)
    interp.createcommand("fake_record", record)
    interp.createcommand("exit", lambda code="0": out.exit(int(code)))
    interp.eval("proc source {args} {\n"
                "    fake_record [lindex $args end]\n"
                "    uplevel 1 [list ::fake_real_source {*}$args]\n"
                "}")
    interp.setvar("argc", len(tclargs))
    interp.setvar("argv", tuple(tclargs))
    try:
        interp.call("::fake_real_source", session)
    except tkinter.TclError as exc:
        out.line(f"ERROR: [Common 17-69] Command failed: {exc}")
        out.exit(1)


def main(argv):
    if os.environ.get("FAKE_VIVADO_CALLS"):
        with open(os.environ["FAKE_VIVADO_CALLS"], "a") as f:
            f.write(" ".join(argv) + "\n")
    if "-version" in argv:
        if MODE == "version-fail":
            print("vivado: error while loading shared libraries", file=sys.stderr)
            return 127
        if MODE == "version-garbage":
            print("hello, I am not Vivado")
            return 0
        print(f"Vivado v{VERSION} (64-bit)")
        print("SW Build 0000000 on Thu Jan  1 00:00:00 UTC 1970")
        return 0
    options, tclargs = parse(argv)
    if options.get("-mode") != "batch" or "-source" not in options:
        print("ERROR: this stand-in only does -mode batch -source <file>")
        return 1
    with open("fake_vivado_call.json", "w") as f:
        json.dump({"argv": argv, "cwd": os.getcwd(), "tclargs": tclargs}, f)
    if options.get("-tempDir"):
        os.makedirs(options["-tempDir"], exist_ok=True)
    if options.get("-journal"):
        with open(options["-journal"], "w") as f:
            f.write(f"# Vivado v{VERSION} (64-bit)\nsource {options['-source']}\n")
    out = Output(None if MODE == "nolog" else options.get("-log"))
    out.line(f"****** Vivado v{VERSION} (64-bit)")
    out.line("  **** SW Build 0000000 on Thu Jan  1 00:00:00 UTC 1970")
    out.line("")
    out.line(f"source {options['-source']} -notrace")
    if MODE == "tcl":
        run_tcl(out, options["-source"], tclargs)
    elif MODE in ("fail", "error-exit0"):
        out.line("CRITICAL WARNING: [Constraints 18-1055] Clock 'ap_clk' has no period "
                 "[/build/clocks.xdc:3]")
        out.line("ERROR: [Synth 8-439] module 'mvau_0' not found [/build/top.v:12]")
        for k in range(6 if MODE == "fail" else 0):
            out.line(f"ERROR: [Synth 8-6156] failed synthesizing module 'layer_{k}'")
        out.line("INFO: [Common 17-83] Releasing license: Synthesis")
        out.exit(1 if MODE == "fail" else 0)
    elif MODE == "nolog":
        out.line("ERROR: [Common 17-345] A valid license was not found for feature "
                 "'Synthesis' and/or device 'xc7z020'")
        out.exit(1)
    elif MODE in ("hang", "hang-stubborn"):
        spawn_grandchild()
        if MODE == "hang-stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        out.line("INFO: [Synth 8-7075] Starting synthesis, this will take forever")
        time.sleep(60)
    elif MODE == "silent-hang":
        out.line("INFO: closing the output")
        os.close(1)
        os.close(2)
        time.sleep(60)
    elif MODE in ("linger", "escape"):
        # inherits stdout: the pipe stays open after we exit; "escape" leaves our group
        spawn_grandchild(new_session=MODE == "escape")
    out.line("INFO: [Common 17-206] Exiting Vivado at Thu Jan  1 00:00:01 1970...")
    out.exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
