"""External programs in a process group of their own, stopped as a whole.

Vivado, Yosys, Verilator (make, g++) and v++ start children of their own. Each is started
in a new session (``start_new_session=True``), so its pid is also its process group's id,
and a timeout or an interrupt stops the whole group, children included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence


def has_exited(proc: subprocess.Popen) -> bool:
    """Whether the process has exited, without reaping it.

    An exited but unreaped process keeps its pid, which is also the id of its process
    group: until :meth:`~subprocess.Popen.wait` the group can be signalled without the
    risk of hitting an unrelated process that reused the number.
    """
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, proc.pid, flags) is not None
        except ChildProcessError:
            return True
    return proc.poll() is not None


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group ``proc`` leads (to ``proc`` alone off POSIX)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, sig)  # the session leader's pid is the group's id
        except (ProcessLookupError, PermissionError):
            pass
    elif proc.returncode is None:
        proc.kill()


def stop_group(proc: subprocess.Popen, grace_s: float = 0.0) -> None:
    """SIGTERM the group, give it ``grace_s`` to exit, then SIGKILL whatever is left of
    the group (children included) and reap ``proc``. ``grace_s`` 0: SIGKILL at once."""
    if grace_s > 0:
        signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while not has_exited(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
    signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    proc.wait()


def run_in_group(cmd: Sequence[str], *, timeout_s: float | None, **popen_kwargs
                 ) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(cmd, capture_output=True, text=True, timeout=...)``, but the
    program runs in its own process group, and a timeout or an interrupt stops the whole
    group before :class:`subprocess.TimeoutExpired` (or the interrupt) propagates."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen_kwargs)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except BaseException:
        stop_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
