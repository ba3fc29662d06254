"""The live console: each finished root execution printed as a compact tree while the program
runs, like Logfire's console (``configure(console=True)`` or ``OTEL_EXEC_CONSOLE=1``).

It listens to the in-process store, so it costs nothing when off; each tree is printed to
standard error in one write, so it never splits a line of the program's own (Rich) output.
``OTEL_TRACES_EXPORTER=console`` keeps the SDK's meaning (the raw spans as JSON).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from otel_exec import render

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec._store import ExecutionStore
    from otel_exec.execution import Execution

class LiveConsole:
    """Prints the tree of every trace whose root execution finishes in ``store``."""

    def __init__(self, store: ExecutionStore, console: Console | None = None) -> None:
        self.store = store
        self.console = console or Console(stderr=True)
        self._unsubscribe: Callable[[], None] | None = store.subscribe(self._finished)

    def _finished(self, execution: Execution) -> None:
        if execution.parent_span_id is not None:
            return
        members = self.store.by_trace(execution.trace_id)
        self.console.print(render.execution_tree(members, title=f"▶ {execution.name}"))

    def close(self) -> None:
        """Stop printing."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
