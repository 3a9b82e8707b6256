"""Board locks: one test on one board at a time, across pytest-xdist workers and runs.

Each board has a lock file ``<lock dir>/<board>.lock`` held with ``flock`` while a test
uses the board. The kernel drops the lock when the holder's process ends, however it
ends (SIGKILL included), so a dead worker never keeps a board. Beside it,
``<board>.holder.json`` says who holds it (pid, host, xdist worker, test id, since when),
so a test that waits too long fails naming the board and its holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dfx.hil.errors import BoardBusy

POLL_S = 0.05  # how often a waiting test tries the boards again


def _file_name(board: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", board)


@dataclass
class BoardLock:
    """A held lock on one board (see :func:`acquire_board`)."""

    board: str
    fd: int
    holder_path: Path
    acquired_at: float  # time.time() once the lock was held
    released_at: float | None = None

    def release(self) -> None:
        """Give the board back (the holder file goes first: a reader never sees a
        stale holder for a free board)."""
        if self.released_at is not None:
            return
        self.released_at = time.time()  # before the unlock: the next holder starts later
        try:
            self.holder_path.unlink()
        except FileNotFoundError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _try_lock(lock_dir: Path, board: str) -> int | None:
    path = lock_dir / f"{_file_name(board)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def read_holder(lock_dir: Path, board: str) -> dict | None:
    """Who holds ``board`` (the holder file), or None when nobody wrote one."""
    try:
        return json.loads((lock_dir / f"{_file_name(board)}.holder.json").read_text())
    except (OSError, ValueError):
        return None


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "a holder that has not written its holder file yet"
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    return (f"pid {holder.get('pid')} on {holder.get('host')} (worker "
            f"{holder.get('worker')}, test {holder.get('test')}, since {since})")


def acquire_board(lock_dir: str | os.PathLike, boards: Sequence[str], timeout_s: float,
                  test: str, worker: str, start_at: int = 0) -> BoardLock:
    """Lock the first of ``boards`` that is free, waiting at most ``timeout_s``.

    ``start_at`` rotates the order the boards are tried in (workers start at different
    boards, so they spread over the lab). Raises :class:`BoardBusy` naming every board
    and its holder when none became free in time.
    """
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    order = list(boards[start_at % len(boards):]) + list(boards[:start_at % len(boards)])
    deadline = time.monotonic() + timeout_s
    while True:
        for board in order:
            fd = _try_lock(lock_dir, board)
            if fd is None:
                continue
            holder_path = lock_dir / f"{_file_name(board)}.holder.json"
            info = {"board": board, "pid": os.getpid(), "host": socket.gethostname(),
                    "worker": worker, "test": test, "since": time.time()}
            tmp = holder_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(info) + "\n")
            os.replace(tmp, holder_path)  # a dead holder's stale file is replaced here
            return BoardLock(board, fd, holder_path, acquired_at=info["since"])
        if time.monotonic() >= deadline:
            held = "; ".join(f"board {b} is held by {describe_holder(read_holder(lock_dir, b))}"
                             for b in order)
            raise BoardBusy(f"no board free within {timeout_s:g} s (--dfx-lock-timeout): "
                            f"{held}")
        time.sleep(POLL_S)
