"""The sweep's progress: points done, running and failed, and the best point so far.

On a terminal a rich live panel is redrawn four times a second; elsewhere (CI, pipes)
each finished point is one line. Both take the events of :mod:`dfx.sweep.execute`
(``cluster``, ``start``, ``done``) from any thread.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from dfx.sweep.point import RESOURCES


def _number(value) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


class SweepState:
    """What the display shows: counts, running points, the best point so far.

    The best point is the fastest (estimated fps) finished point whose estimated
    resources fit its board (points without a board always count).
    """

    def __init__(self, labels: dict[int, str], board_resources: dict[int, dict | None]):
        self.labels = labels
        self.board_resources = board_resources
        self.total = len(labels)
        self.done = 0
        self.failed = 0
        self.running: dict[int, tuple[str, float]] = {}
        self.starts: dict[int, int] = {}
        self.best: dict | None = None
        self.where = ""
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def on_start(self, point: int, worker: str) -> None:
        with self.lock:
            self.starts[point] = self.starts.get(point, 0) + 1
            self.running[point] = (worker or "?", time.monotonic())

    def on_done(self, row: dict) -> None:
        with self.lock:
            self.done += 1
            self.running.pop(row.get("point"), None)
            if row.get("status") not in ("ok", "incomplete"):
                self.failed += 1
                return
            fps = row.get("estimated_fps")
            if fps is None or not self._fits(row):
                return
            if self.best is None or fps > self.best["estimated_fps"]:
                self.best = row

    def _fits(self, row: dict) -> bool:
        resources = self.board_resources.get(row.get("point"))
        if not resources:
            return True
        for kind in RESOURCES:
            used = row.get(kind)
            if used is not None and used > (resources.get(kind) or 0):
                return False
        return True

    def best_text(self) -> str:
        best = self.best
        if best is None:
            return "none yet"
        return (f"point {best['point']} ({self.labels.get(best['point'], '')}): "
                f"{_number(best['estimated_fps'])} fps, LUT {_number(best.get('LUT'))}, "
                f"BRAM_18K {_number(best.get('BRAM_18K'))}, DSP {_number(best.get('DSP'))}")


def row_text(row: dict, label: str) -> str:
    """A finished point in one line."""
    status = row.get("status")
    head = f"point {row.get('point')} ({label})" if label else f"point {row.get('point')}"
    if status in ("ok", "incomplete"):
        text = (f"{head}: {status}, {_number(row.get('estimated_fps'))} fps, LUT "
                f"{_number(row.get('LUT'))}, BRAM_18K {_number(row.get('BRAM_18K'))}, DSP "
                f"{_number(row.get('DSP'))}")
        if row.get("LUT_synth") is not None:
            text += f"; {row.get('synth_tool')} LUT {_number(row.get('LUT_synth'))}"
    else:
        error = str(row.get("error") or "")
        text = f"{head}: failed: {error if len(error) < 300 else error[:297] + '...'}"
    seconds = row.get("build_seconds")
    where = row.get("worker")
    tail = ", ".join(x for x in (f"{seconds:.2f} s" if seconds is not None else "",
                                 str(where) if where else "") if x)
    return f"{text} ({tail})" if tail else text


class PlainSweepProgress:
    """One line per finished point (CI logs, pipes)."""

    def __init__(self, state: SweepState, stream: TextIO | None = None):
        self.state = state
        self.stream = stream or sys.stdout

    def event(self, kind: str, data: dict) -> None:
        state = self.state
        if kind == "cluster":
            state.where = data.get("where", "")
            print(f"sweep: {state.total} points on {state.where}", file=self.stream,
                  flush=True)
        elif kind == "start":
            state.on_start(data.get("point"), data.get("worker"))
        elif kind == "done":
            state.on_done(data)
            label = state.labels.get(data.get("point"), "")
            print(f"[{state.done}/{state.total}] {row_text(data, label)}", file=self.stream,
                  flush=True)

    def close(self) -> None:
        state = self.state
        print(f"sweep: {state.done - state.failed} of {state.total} points built, "
              f"{state.failed} failed; best so far: {state.best_text()}", file=self.stream,
              flush=True)


class RichSweepProgress(PlainSweepProgress):
    """A live panel: a bar of points done, counts, the best point, the running points."""

    def __init__(self, state: SweepState):
        from rich.console import Console
        from rich.live import Live

        super().__init__(state)
        self.console = Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         transient=False, get_renderable=self._render)
        self.live.start()

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        state = self.state
        with state.lock:
            running = sorted(state.running.items())
            done, failed, total = state.done, state.failed, state.total
            best = state.best_text()
        elapsed = time.monotonic() - state.started
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", style="bold")
        grid.add_column()
        grid.add_row("sweep", Text(f"{total} points on {state.where or '...'}"))
        grid.add_row("done", ProgressBar(total=max(total, 1), completed=done, width=40))
        grid.add_row("", f"{done}/{total} done, [cyan]{len(running)} running[/cyan], "
                         f"[red]{failed} failed[/red], {elapsed:,.0f} s")
        grid.add_row("best", Text(best))
        now = time.monotonic()
        for point, (worker, since) in running[:8]:
            grid.add_row("running", Text(f"point {point} ({state.labels.get(point, '')}) on "
                                         f"{worker}, {now - since:.0f} s"))
        if len(running) > 8:
            grid.add_row("", f"... and {len(running) - 8} more")
        return grid

    def event(self, kind: str, data: dict) -> None:
        state = self.state
        if kind == "cluster":
            state.where = data.get("where", "")
        elif kind == "start":
            state.on_start(data.get("point"), data.get("worker"))
        elif kind == "done":
            state.on_done(data)
            if data.get("status") not in ("ok", "incomplete"):
                from rich.text import Text

                label = state.labels.get(data.get("point"), "")
                self.console.print(Text(row_text(data, label), style="red"))

    def close(self) -> None:
        self.live.update(self._render())
        self.live.stop()
        super().close()


class SilentSweepProgress(PlainSweepProgress):
    def event(self, kind: str, data: dict) -> None:
        if kind == "start":
            self.state.on_start(data.get("point"), data.get("worker"))
        elif kind == "done":
            self.state.on_done(data)

    def close(self) -> None:
        pass


def make_sweep_progress(state: SweepState, quiet: bool = False):
    if quiet:
        return SilentSweepProgress(state)
    if sys.stdout.isatty():
        return RichSweepProgress(state)
    return PlainSweepProgress(state)
