"""What registering a tool's process group costs: starting ``true`` N times with plain
``subprocess.Popen(start_new_session=True)`` and with :func:`dfx.processes.popen_in_group`
(parent-death signal armed in a ``preexec_fn``, so a fork instead of vfork; one line to the
reaper). Prints milliseconds per start.

    python benchmarks/bench_process_start.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import time


def _per_start_ms(start, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        start().wait()
    return (time.perf_counter() - began) / n * 1000.0


def main(n: int = 200) -> None:
    from dfx.processes import popen_in_group, release

    def registered():
        proc = popen_in_group(["true"])
        proc.wait()
        release(proc)
        return proc

    popen_in_group(["true"]).wait()  # the reaper starts on first use: not in the figures
    plain = _per_start_ms(lambda: subprocess.Popen(["true"], start_new_session=True), n)
    group = _per_start_ms(registered, n)
    print(f"starts: {n}")
    print(f"plain Popen(start_new_session=True): {plain:.2f} ms per start")
    print(f"popen_in_group (pdeathsig + reaper): {group:.2f} ms per start")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
