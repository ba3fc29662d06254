"""otel-exec: executions of falyx, dataknobs-fsm, routilux and plain Python as OpenTelemetry spans.

```python
import otel_exec

otel_exec.configure(service_name="billing-cli")   # in-memory store; OTLP when an endpoint is set

@otel_exec.traced
async def fetch(n): ...

otel_exec.summary()                                # falyx-style history table
otel_exec.registry.get_by_name("fetch")
```

Names are imported when first used, so ``import otel_exec`` (and the pytest plugin, which lives
in the package) costs next to nothing until something is traced or shown.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_exec import _wiring

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from otel_exec.config import configure, flush, shutdown, store
    from otel_exec.diagnostics import doctor
    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionSpanProcessor, ExecutionStore
    from otel_exec.instrumentation import instrument, uninstrument
    from otel_exec.instrumentation.block import span
    from otel_exec.instrumentation.decorator import traced
    from otel_exec.instrumentation.run_attributes import attributes
    from otel_exec.sampling import KeepFailed
    from otel_exec.semconv import ExecStatus
    from otel_exec.trace_sql import sql
    from otel_exec.views import Views
    from otel_exec.views.history import ExecutionHistory, HistoryView
    from otel_exec.views.registry import ExecutionRegistry
    from otel_exec.views.tracker import ExecutionTracker, JobState, JobView

    registry: ExecutionRegistry
    history: HistoryView
    tracker: JobView
    job_state: JobView

__version__ = "0.1.0"

_LAZY = {
    "ExecStatus": "otel_exec.semconv",
    "Execution": "otel_exec.execution",
    "ExecutionHistory": "otel_exec.views.history",
    "ExecutionRegistry": "otel_exec.views.registry",
    "ExecutionSpanProcessor": "otel_exec.execution_store",
    "ExecutionStore": "otel_exec.execution_store",
    "ExecutionTracker": "otel_exec.views.tracker",
    "KeepFailed": "otel_exec.sampling",
    "JobState": "otel_exec.views.tracker",
    "configure": "otel_exec.config",
    "doctor": "otel_exec.diagnostics",
    "flush": "otel_exec.config",
    "shutdown": "otel_exec.config",
    "store": "otel_exec.config",
    "instrument": "otel_exec.instrumentation",
    "uninstrument": "otel_exec.instrumentation",
    "traced": "otel_exec.instrumentation.decorator",
    "span": "otel_exec.instrumentation.block",
    "attributes": "otel_exec.instrumentation.run_attributes",
    "sql": "otel_exec.trace_sql",
}
_VIEWS = ("registry", "history", "tracker", "job_state")


def _route(provider: Any) -> Any:
    """The set-up layer's routing of a provider (imported when the first tracer is made)."""
    from otel_exec import config

    _wiring.route = config.route
    return config.route(provider)


_wiring.route = _route


def _default_views() -> Views:
    """The views of the default store (made once)."""
    views: Views | None = globals().get("_views")
    if views is None:
        from otel_exec import config
        from otel_exec.instrumentation.record import record_context
        from otel_exec.views import Views

        views = Views(config.store, _why_empty, record_context)
        globals()["_views"] = views
    return views


def _why_empty() -> str | None:
    from otel_exec.config import not_recording_reason
    from otel_exec.spans import unrecorded_count

    reason = not_recording_reason()
    if reason is None and unrecorded_count():
        reason = (f"{unrecorded_count()} execution(s) ended unrecorded (the tracer provider's "
                  "sampler dropped them; otel_exec.configure() installs a provider that records "
                  "every execution locally and samples only the export)")
    return reason


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _VIEWS:
        value = getattr(_default_views(), name)
    else:
        raise AttributeError(f"module 'otel_exec' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def summary(*args: Any, **kwargs: Any) -> None:
    """Print the execution history: ``otel_exec.registry.summary(...)``, falyx's arguments."""
    _default_views().registry.summary(*args, **kwargs)


def save(path: str | Path) -> int:
    """Write the default store's finished executions to ``path`` as OTLP JSON lines.

    Returns:
        How many executions were written.
    """
    from opentelemetry import trace as trace_api

    from otel_exec import config, trace_files

    resource = getattr(trace_api.get_tracer_provider(), "resource", None)
    return trace_files.save(path, config.store().executions(),
                        dict(resource.attributes) if resource is not None else None)


def load(path: str | Path) -> ExecutionStore:
    """A new store filled from an OTLP JSON lines file (ours or an OpenTelemetry Collector's).

    Raises:
        trace_files.TraceFileError: The file is missing, empty, truncated or not OTLP traces.
    """
    from otel_exec import trace_files

    return trace_files.load(path)


def view(path: str | Path = "otel-exec-trace.html", *, title: str = "otel-exec traces",
         max_spans: int | None = None) -> Path:
    """Write the default store's executions as one self-contained HTML page (waterfall,
    details, falyx / FSM / routilux tabs; nothing loaded from the network) and return its path.

    Raises:
        otel_exec.viewer.TooManySpans: More than ``max_spans`` spans are kept (None: no bound;
            the store itself is bounded).
    """
    from opentelemetry import trace as trace_api

    from otel_exec import config, semconv
    from otel_exec.viewer import write_page

    resource = getattr(trace_api.get_tracer_provider(), "resource", None)
    service = None if resource is None else resource.attributes.get(semconv.SERVICE_NAME)
    return write_page(config.store(), path, title=title,
                      service=None if service is None else str(service), max_spans=max_spans)


def tree(trace_id: str | None = None, *, console: Console | None = None) -> None:
    """Print the execution tree of every trace in the default store (or of one trace)."""
    from rich.console import Console

    from otel_exec import config, render

    (console or Console()).print(*render.trace_trees(config.store(), trace_id))


__all__ = [
    "ExecStatus",
    "Execution",
    "ExecutionHistory",
    "ExecutionRegistry",
    "ExecutionSpanProcessor",
    "ExecutionStore",
    "ExecutionTracker",
    "JobState",
    "KeepFailed",
    "__version__",
    "attributes",
    "configure",
    "doctor",
    "flush",
    "history",
    "instrument",
    "job_state",
    "load",
    "registry",
    "save",
    "shutdown",
    "span",
    "sql",
    "store",
    "summary",
    "traced",
    "tracker",
    "tree",
    "uninstrument",
    "view",
]
