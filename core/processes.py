"""External programs in a process group of their own, stopped as a whole.

Vivado, Yosys, Verilator (make, g++) and v++ start children of their own. Each is started
in a new session (``start_new_session=True``), so its pid is also its process group's id,
and a timeout or an interrupt stops the whole group, children included.

Every group started through :func:`popen_in_group` is also registered, so that dfx's
death stops it too, however dfx dies:

* SIGTERM, SIGINT, SIGHUP: :func:`install_signal_handlers` (``dfx`` calls it) turns them
  into :class:`Terminated` (a ``KeyboardInterrupt``), stops every registered group at once
  and refuses to start new programs from then on (a worker thread cannot start one
  after dfx decided to stop);
* SIGKILL (nothing runs in dfx any more), two mechanisms:
  - ``PR_SET_PDEATHSIG`` (Linux), armed in the child before it runs the program: the
    kernel sends the *direct* child SIGKILL when the thread of dfx that started it ends.
    It is not inherited, so it does not reach make's compilers or Yosys' ``abc``;
  - a reaper: one small process per dfx process holding the read end of a pipe whose
    write end only dfx has. When dfx is gone the pipe reads end-of-file and the reaper
    kills every group dfx registered and did not release, grandchildren included
    (unless one left the group with a session of its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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
    release(proc)


def run_in_group(cmd: Sequence[str], *, timeout_s: float | None, **popen_kwargs
                 ) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(cmd, capture_output=True, text=True, timeout=...)``, but the
    program runs in its own process group, and a timeout or an interrupt stops the whole
    group before :class:`subprocess.TimeoutExpired` (or the interrupt) propagates."""
    proc = popen_in_group(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          **popen_kwargs)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except BaseException:
        stop_group(proc)
        raise
    release(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# -- dfx's death stops its groups -------------------------------------------------------

#: The signals :func:`install_signal_handlers` turns into :class:`Terminated`.
STOP_SIGNALS: tuple[str, ...] = ("SIGTERM", "SIGINT", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """dfx was told to stop by a signal. A ``KeyboardInterrupt``, so that every cleanup
    written for Ctrl-C (stopping a process group, dropping a build's staging folder) runs
    for SIGTERM and SIGHUP too."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"terminated by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        """The shell's convention for a death by signal: 128 + the signal's number."""
        return 128 + self.signum


# Re-entrant: the signal handler may run in the main thread while that thread holds it.
_LOCK = threading.RLock()
_LIVE: dict[int, subprocess.Popen] = {}  # pid (= process group id) -> its Popen
_stopping: int | None = None  # the signal number once dfx is stopping
_reaper: subprocess.Popen | None = None
_reaper_fd: int | None = None  # dfx's write end of the reaper's pipe
_reaper_pid_owner: int | None = None  # the process the reaper watches (not a fork of it)

# The reaper's program: read the pipe to its end (dfx's death closes it), then stop what
# is still registered. It ignores the terminal's SIGINT and SIGHUP: dfx handles those and
# the reaper must outlive dfx to do its work.
_REAPER = """\
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
groups = set()
for line in sys.stdin.buffer.read().decode().split():
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for sig in (signal.SIGTERM, signal.SIGKILL):
    for group in groups:
        try:
            os.killpg(group, sig)
        except OSError:
            pass
    if sig == signal.SIGTERM and groups:
        time.sleep(1.0)
"""


def _tell_reaper(text: str) -> None:
    """Send a ``+pid`` / ``-pid`` line to the reaper (started on first use; POSIX only).
    Called with ``_LOCK`` held."""
    global _reaper, _reaper_fd, _reaper_pid_owner
    if not hasattr(os, "killpg"):
        return
    if _reaper_pid_owner != os.getpid():  # first use, or a fork of dfx: a reaper of its own
        read_fd, write_fd = os.pipe()  # both ends non-inheritable: no child holds them open
        try:
            _reaper = subprocess.Popen([sys.executable, "-S", "-c", _REAPER], stdin=read_fd,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            os.close(write_fd)
            _reaper_fd = None
        else:
            _reaper_fd = write_fd
        finally:
            os.close(read_fd)
        _reaper_pid_owner = os.getpid()
    if _reaper_fd is not None:
        try:
            os.write(_reaper_fd, text.encode())
        except OSError:
            pass


_PRCTL: list = []  # [libc's prctl, or None where there is none], looked up once


def _arm_parent_death_signal(parent: int):
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent ends
    (Linux ``prctl(PR_SET_PDEATHSIG)``); ``None`` where that does not exist."""
    if not _PRCTL:
        prctl = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                prctl = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                prctl = None
        _PRCTL.append(prctl)
    prctl = _PRCTL[0]
    if prctl is None:
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def arm() -> None:  # runs in the child between fork and exec: nothing but syscalls
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sigkill)

    return arm


def popen_in_group(cmd: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """:class:`subprocess.Popen` in a new session (its own process group), registered so
    that dfx's death stops the whole group (see the module's text). Call :func:`release`
    once the process is reaped (:func:`wait_group`, :func:`stop_group` and
    :func:`run_in_group` do).

    Raises :class:`Terminated` instead of starting anything once dfx is stopping."""
    popen_kwargs.setdefault("preexec_fn", _arm_parent_death_signal(os.getpid()))
    with _LOCK:
        if _stopping is not None:
            raise Terminated(_stopping)
        proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
        _LIVE[proc.pid] = proc
        _tell_reaper(f"+{proc.pid}\n")
    return proc


def release(proc: subprocess.Popen) -> None:
    """Forget a reaped process: its pid may be reused, so it must not be signalled again."""
    with _LOCK:
        if _LIVE.pop(proc.pid, None) is not None:
            _tell_reaper(f"-{proc.pid}\n")


def wait_group(proc: subprocess.Popen, timeout_s: float | None = None) -> int:
    """``proc.wait(timeout_s)``, then :func:`release`; on a timeout or an interrupt the
    group is stopped first and the exception propagates."""
    try:
        code = proc.wait(timeout=timeout_s)
    except BaseException:
        stop_group(proc)
        raise
    release(proc)
    return code


def live_groups() -> list[int]:
    """The process groups started through :func:`popen_in_group` and not yet released."""
    with _LOCK:
        return [pid for pid, proc in _LIVE.items() if proc.returncode is None]


def stopping() -> int | None:
    """The signal dfx is stopping for, or ``None``."""
    return _stopping


def stop_all(sig: int | None = None, grace_s: float = 2.0) -> None:
    """Stop every registered group: SIGTERM, up to ``grace_s`` for them to exit, then
    SIGKILL. From then on :func:`popen_in_group` starts nothing (``sig``: the signal dfx
    stops for, reported by :class:`Terminated`). Processes are not reaped here: the
    threads that started them do that."""
    global _stopping
    with _LOCK:
        if _stopping is None:
            _stopping = int(sig if sig is not None else signal.SIGTERM)
        procs = [p for p in _LIVE.values() if p.returncode is None]
    for proc in procs:
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not all(has_exited(p) for p in procs):
        time.sleep(0.05)
    for proc in procs:
        if proc.returncode is None:  # exited but unreaped still holds the group's id
            signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))


def _on_signal(signum: int, frame) -> None:
    first = _stopping is None
    with _LOCK:
        procs = [p for p in _LIVE.values() if p.returncode is None]
    # At once, before unwinding: no thread may start a program from here on, and the
    # running groups get SIGTERM now (the cleanup that unwinds kills what is left).
    _mark_stopping(signum)
    for proc in procs:
        signal_group(proc, signal.SIGTERM if first else signal.SIGKILL)
    if first:  # a second signal while stopping does not interrupt the cleanup
        raise Terminated(signum)


def _mark_stopping(signum: int) -> None:
    global _stopping
    if _stopping is None:
        _stopping = int(signum)


def install_signal_handlers() -> dict[int, object]:
    """Turn SIGTERM, SIGINT and SIGHUP into :class:`Terminated` in the main thread (see
    the module's text). Returns the previous handlers, for :func:`restore_signal_handlers`;
    nothing is installed off the main thread."""
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        if signal.getsignal(sig) == signal.SIG_IGN:
            continue  # ignored when dfx started (nohup, a background job): keep it so
        previous[sig] = signal.signal(sig, _on_signal)
    return previous


def restore_signal_handlers(previous: dict[int, object]) -> None:
    """Undo :func:`install_signal_handlers` (and forget that dfx was stopping)."""
    global _stopping
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    _stopping = None


# -- temporary folders of dead processes --------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def pid_temp_prefix(prefix: str) -> str:
    """``prefix`` with this process's pid (``dfx-fifo-1234-``), for a temporary folder that
    :func:`sweep_dead_temp` may remove once this process is gone."""
    return f"{prefix}{os.getpid()}-"


def sweep_dead_temp(prefix: str, root: str | os.PathLike | None = None) -> list[str]:
    """Remove the folders ``<root>/<prefix><pid>-*`` (``root``: the temporary folder) that
    this user owns and whose process ``pid`` no longer exists: what a killed dfx left.
    Folders of running processes, of other users and names without a pid are kept.
    Returns the paths removed."""
    import re
    import shutil
    import stat as stat_module
    import tempfile

    root = os.fspath(root if root is not None else tempfile.gettempdir())
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[^/]*\Z")
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat_module.S_ISDIR(info.st_mode) or \
                (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed
