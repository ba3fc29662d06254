"""The live console: each finished root execution printed as a compact tree while the program
runs, like Logfire's console (``configure(console=True)`` or ``OTEL_EXEC_CONSOLE=1``).

It listens to the in-process store, so it costs nothing when off; each tree is printed to
standard error in one write, so it never splits a line of the program's own (Rich) output. A
root that runs longer than ``STARTED_AFTER`` seconds is said as it runs (one line), so a
long-running command shows before it ends. ``OTEL_EXEC_CONSOLE=1`` starts it with the first
span the store sees, with or without ``configure()``.
``OTEL_TRACES_EXPORTER=console`` keeps the SDK's meaning (the raw spans as JSON).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from rich.console import Console

from otel_exec import render

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore

_logger = logging.getLogger(__name__)

STARTED_AFTER = 1.0
"""Seconds a root execution runs before the console says that it is running."""


class LiveConsole:
    """Prints the tree of every trace whose root execution finishes in ``store``, and one line
    for a root still running after ``started_after`` seconds."""

    def __init__(self, store: ExecutionStore, console: Console | None = None, *,
                 started_after: float = STARTED_AFTER) -> None:
        self.store = store
        self.console = console or Console(stderr=True)
        self.started_after = started_after
        self._announced: set[str] = set()
        self._closed = threading.Event()
        self._unsubscribe: Callable[[], None] | None = store.subscribe(self._finished)
        threading.Thread(target=self._watch, name="otel_exec-console", daemon=True).start()

    def _finished(self, execution: Execution) -> None:
        if execution.parent_span_id is not None:
            return
        self._announced.discard(execution.span_id)
        members = self.store.by_trace(execution.trace_id)
        self.console.print(render.execution_tree(members, title=f"▶ {execution.name}"))

    def _watch(self) -> None:
        """Say each root that has run for ``started_after`` seconds, once, while it runs."""
        while not self._closed.wait(self.started_after / 2):
            try:
                now = time.time()
                for execution in self.store.running():
                    if (execution.parent_span_id is None
                            and execution.span_id not in self._announced
                            and now - execution.start_time >= self.started_after):
                        self._announced.add(execution.span_id)
                        line = render.literal(f"▶ {execution.name}", "bold").append(
                            f"  running since {execution.start_datetime:%H:%M:%S}", style="dim")
                        self.console.print(line, soft_wrap=True)
            except Exception:
                _logger.exception("otel_exec: the live console could not look at running "
                                  "executions")

    def close(self) -> None:
        """Stop printing."""
        self._closed.set()
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
