"""Progress display: rich on a terminal, plain lines otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
from typing import TextIO


class PlainProgress:
    """One line per step; what CI logs and pipes get."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total = total
        self.stream = stream or sys.stdout

    def start(self, index: int, name: str) -> None:
        pass

    def update(self, message: str) -> None:
        print(f"      {message}", file=self.stream, flush=True)

    def finish(self, index: int, name: str, seconds: float, cached: bool) -> None:
        how = "cached" if cached else f"{seconds:.2f} s"
        print(f"[{index + 1}/{self.total}] {name} ({how})", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    """A live progress bar with the running step's name and its messages."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[step]}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task("build", total=total, step="", note="")
        self.progress.start()

    def start(self, index: int, name: str) -> None:
        self.progress.update(self.task, step=name, note="")

    def update(self, message: str) -> None:
        self.progress.update(self.task, note=message)

    def finish(self, index: int, name: str, seconds: float, cached: bool) -> None:
        how = "cached" if cached else f"{seconds:.2f} s"
        self.progress.console.print(f"  {name} [dim]({how})[/dim]")
        self.progress.advance(self.task)

    def close(self) -> None:
        self.progress.update(self.task, step="done", note="")
        self.progress.stop()


def make_progress(total: int, quiet: bool = False):
    """Rich progress on an interactive terminal, plain lines otherwise."""
    if quiet:
        return _Silent()
    if sys.stdout.isatty():
        return RichProgress(total)
    return PlainProgress(total)


class _Silent(PlainProgress):
    def __init__(self):
        super().__init__(0)

    def update(self, message: str) -> None:
        pass

    def finish(self, index: int, name: str, seconds: float, cached: bool) -> None:
        pass
