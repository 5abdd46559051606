"""The live line of ``gristmill run``: the component(s) running now and for how long.

A :class:`~gristmill.orchestrator.hooks.PipelineHooks` that keeps one line at the bottom of a
terminal, redrawn a few times a second::

    running 2/12: Trainer 41.3s, StatisticsGen 3.0s 1.25M rows

ExampleGen, StatisticsGen, Transform and BulkInferrer add the rows their Beam pipelines have
processed so far (:mod:`gristmill.components.framework.row_progress`; in-process runners).

Lines printed meanwhile (the per-component progress lines, log records) appear above it.
When the console is not a terminal (a pipe, a file, CI logs) it prints nothing at all, and
it removes itself before the run's summary is printed, so no live text lands inside it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from gristmill.components.framework import row_progress
from gristmill.orchestrator.hooks import NodeResult, PipelineHooks, RunInfo

#: Redraws per second (the elapsed times move by tenths).
REFRESH_PER_SECOND = 4


def rows_text(count: int) -> str:
    """``9,876``, ``12.3k``, ``4.56M``: a row count the width of a few characters."""
    if count < 10_000:
        return f"{count:,}"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


class LiveProgress(PipelineHooks):
    """Shows the running components with their elapsed time on a terminal.

    Args:
        console: Where to draw (the console the progress lines are printed on, so that
            they scroll above the live line).
        total: How many components the run has (shown as ``done/total``).
        enabled: Force on or off; by default on exactly when ``console`` and stdout are
            terminals (``gristmill run --json > out.json`` or ``| tee log`` draw nothing).
    """

    def __init__(self, console: Console, total: int = 0, enabled: bool | None = None):
        self.console = console
        self.total = total
        self.enabled = (console.is_terminal and not console.is_dumb_terminal
                        and sys.stdout.isatty() if enabled is None else enabled)
        self._running: dict[str, float] = {}
        self._done = 0
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._handlers: list[tuple[logging.StreamHandler, object]] = []

    def line(self, now: float | None = None) -> Text:
        """The live line as it reads at ``now`` (``time.monotonic()`` by default)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            running = sorted(self._running.items(), key=lambda item: item[1])
            done = self._done
        count = f" {done}/{self.total}" if self.total else ""
        if not running:
            idle = "finishing" if self.total and done >= self.total else \
                "waiting for the next component"
            return Text(f"running{count}: {idle}", style="dim")
        text = Text(f"running{count}: ", style="bold")
        for i, (node_id, started) in enumerate(running):
            text.append(", " if i else "")
            text.append(node_id, style="cyan")
            text.append(f" {now - started:.1f}s")
            counted = row_progress.rows(node_id)
            if counted:
                text.append(f" {rows_text(counted)} rows", style="dim")
        return text

    def __rich__(self) -> Text:
        return self.line()

    def before_pipeline_run(self, run: RunInfo) -> None:
        if not self.enabled:
            return
        terminal = sys.stderr
        self._live = Live(self, console=self.console, refresh_per_second=REFRESH_PER_SECOND,
                          transient=True, redirect_stdout=True, redirect_stderr=True)
        self._live.start()
        if sys.stderr is not terminal:
            # A log handler holding the terminal's own stream would write into the live
            # line; send its records through the live display instead (restored by stop).
            for handler in logging.getLogger().handlers:
                if type(handler) is logging.StreamHandler and handler.stream is terminal:
                    self._handlers.append((handler, handler.setStream(sys.stderr)))

    def before_node(self, run: RunInfo, result: NodeResult, context) -> None:
        with self._lock:
            self._running[result.node_id] = time.monotonic()

    def after_node(self, run: RunInfo, result: NodeResult, context) -> None:
        with self._lock:
            self._running.pop(result.node_id, None)
            self._done += 1

    def after_pipeline_run(self, run: RunInfo, status: str, results) -> None:
        self.stop()

    def stop(self) -> None:
        """Remove the live line (idempotent); called at the end of a run and on errors."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers = []
