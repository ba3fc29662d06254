"""otel-exec: executions of falyx, dataknobs-fsm, routilux and plain Python as OpenTelemetry spans.

```python
import otel_exec

otel_exec.configure(service_name="billing-cli")   # in-memory store; OTLP when an endpoint is set

@otel_exec.traced
async def fetch(n): ...

otel_exec.summary()                                # falyx-style history table
otel_exec.registry.get_by_name("fetch")
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

from otel_exec import persist, render
from otel_exec._store import ExecutionSpanProcessor, ExecutionStore
from otel_exec.config import configure, flush, shutdown, store
from otel_exec.execution import Execution
from otel_exec.instrumentation import instrument, uninstrument
from otel_exec.instrumentation.decorator import traced
from otel_exec.semconv import ExecStatus
from otel_exec.views.history import ExecutionHistory, HistoryView
from otel_exec.views.registry import ExecutionRegistry
from otel_exec.views.tracker import ExecutionTracker, JobState, JobView

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"

registry = ExecutionRegistry(store)
"""falyx-compatible registry of the default store."""

history = HistoryView(store)
"""dataknobs-fsm ``ExecutionHistory`` of an FSM run: ``history()``, ``history.histories()``."""

tracker = JobView(store, ExecutionTracker.from_spans)
"""routilux ``ExecutionTracker`` of a job (the latest when no job id is given)."""

job_state = JobView(store, JobState.from_spans)
"""routilux ``JobState`` of a job (the latest when no job id is given)."""


def summary(*args: Any, **kwargs: Any) -> None:
    """Print the execution history: ``otel_exec.registry.summary(...)``, falyx's arguments."""
    registry.summary(*args, **kwargs)


def save(path: str | Path) -> int:
    """Write the default store's finished executions to ``path`` as OTLP JSON lines.

    Returns:
        How many executions were written.
    """
    from opentelemetry import trace as trace_api

    resource = getattr(trace_api.get_tracer_provider(), "resource", None)
    return persist.save(path, store().executions(),
                        dict(resource.attributes) if resource is not None else None)


def load(path: str | Path) -> ExecutionStore:
    """A new store filled from an OTLP JSON lines file (ours or an OpenTelemetry Collector's).

    Raises:
        persist.TraceFileError: The file is missing, empty, truncated or not OTLP traces.
    """
    return persist.load(path)


def tree(trace_id: str | None = None, *, console: Console | None = None) -> None:
    """Print the execution tree of every trace in the default store (or of one trace)."""
    (console or Console()).print(*render.trace_trees(store(), trace_id))


__all__ = [
    "ExecStatus",
    "Execution",
    "ExecutionHistory",
    "ExecutionRegistry",
    "ExecutionSpanProcessor",
    "ExecutionStore",
    "ExecutionTracker",
    "JobState",
    "__version__",
    "configure",
    "flush",
    "history",
    "instrument",
    "job_state",
    "load",
    "registry",
    "save",
    "shutdown",
    "store",
    "summary",
    "traced",
    "tracker",
    "tree",
    "uninstrument",
]
