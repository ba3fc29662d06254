"""Instrument `routilux`_: every job a trace, every routine execution a span.

```python
import otel_exec
otel_exec.instrument("routilux")
worker, job = runtime.post("pipeline", "source", "trigger", {"count": 3})
...
otel_exec.job_state(job.job_id).status          # completed / failed / cancelled, from the spans
otel_exec.tracker(job.job_id).get_flow_performance()
```

routilux 1.1 (``Runtime.post``) and 0.10 / 0.11 (``Flow.execute`` → ``JobState``) are both
supported; the wrap points of the installed version are chosen at instrument time.

Span model (both lines)::

    job <flow>                 Runtime.post / Flow.execute ... the job really ends (below)
    ├─ routine <id>            one per logic run, whichever pool or event-loop thread ran it;
    │                          linked to the routine whose emission activated it
    └─ routine <id> ...        emissions are ``routilux.event.emit`` events on the emitter

routilux never ends a job reliably by itself (1.1 never does: ``JobContext`` stays ``running``
until the application calls ``Runtime.complete_job``; 0.11 only inside
``JobState.wait_for_completion``). The job span therefore counts the job's tasks in flight
(every task made for it, until it has run) and ends when none is left and none appears for
``quiet_period`` seconds (``instrument(quiet_period=0.05)``; one shared thread watches every
job), with status *failed* if a routine failed without a CONTINUE or SKIP strategy, else
*completed*. An explicit ``complete_job`` / ``JobContext.complete``, ``wait_for_completion`` or
a ``cancel`` ends it at once with that status; pause and resume are span events. A job still
open when the program shuts down (``otel_exec.shutdown()``, interpreter exit, ``uninstrument``)
ends *paused* if it was paused, else *unfinished*.

The trace context crosses routilux's thread pool and event-loop hand-offs on the task objects
themselves (captured when a task is made, in the emitting routine's span). Across HTTP, a
job posted through routilux's server is a child of the caller's span (W3C ``traceparent``).

.. _routilux: https://pypi.org/project/routilux/
"""

from __future__ import annotations

import atexit
import importlib.util
from typing import TYPE_CHECKING, Any

import wrapt

from otel_exec._wiring import run_before_shutdown
from otel_exec.instrumentation._instrumentor import ExecInstrumentor
from otel_exec.instrumentation._patching import UnsupportedFramework, WrapPoint
from otel_exec.instrumentation.routilux import _flow, _runtime, _server
from otel_exec.instrumentation.routilux._flow import PATCHES_011
from otel_exec.instrumentation.routilux._jobs import (
    DEFAULT_QUIET_PERIOD,
    SCOPE,
    end_open_jobs,
    options,
)
from otel_exec.instrumentation.routilux._runtime import PATCHES, unwrap_logic

if TYPE_CHECKING:
    from collections.abc import Callable

_instruments = ("routilux >= 0.10, < 1.2",)
_exit_hooks: list[bool] = []


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package does not exist in this version
        return False


def _patches_for_installed_version() -> tuple[WrapPoint, ...]:
    """routilux 1.x (``routilux.core``) or the 0.10 / 0.11 line (``routilux.flow``), with
    what their wrappers call imported."""
    if _has("routilux.core.runtime"):
        return _with_imports(_runtime.import_routilux, PATCHES)
    if _has("routilux.flow.flow"):
        return _with_imports(_flow.import_routilux, PATCHES_011)
    if not _has("routilux"):
        raise ModuleNotFoundError("routilux is not installed", name="routilux")
    raise UnsupportedFramework("otel_exec cannot instrument this routilux (left "
                               "uninstrumented): neither routilux.core (1.x) nor routilux.flow "
                               "(0.10 / 0.11)")


def _with_imports(import_names: Callable[[], None], patches: tuple[WrapPoint, ...],
                  ) -> tuple[WrapPoint, ...]:
    """``patches``, once ``import_names`` has imported what their wrappers call."""
    try:
        import_names()
    except ImportError as exc:
        raise UnsupportedFramework(f"otel_exec cannot instrument this routilux (left "
                                   f"uninstrumented): {exc}") from exc
    return patches


class RoutiluxInstrumentor(ExecInstrumentor):
    """``BaseInstrumentor`` for routilux 1.x (``Runtime.post`` jobs) and 0.10 / 0.11
    (``Flow.execute`` jobs); the wrap points are chosen by the version installed.

    ``instrument(tracer_provider=..., quiet_period=0.05)``: where spans go, and how long a job
    must have nothing in flight before its span ends.
    """

    scope = SCOPE
    framework = "routilux"
    module = "routilux"
    instruments = _instruments

    def patches(self, **options_: Any) -> tuple[WrapPoint, ...]:
        options["quiet_period"] = float(options_.get("quiet_period", DEFAULT_QUIET_PERIOD))
        if not _exit_hooks:
            run_before_shutdown(end_open_jobs)
            atexit.register(end_open_jobs, "exit")
            wrapt.register_post_import_hook(_server.add_middleware, _server.SERVER_MODULE)
            _exit_hooks.append(True)
        _server.active[0] = True
        return _patches_for_installed_version()

    def _uninstrument(self, **kwargs: Any) -> None:
        super()._uninstrument(**kwargs)
        _server.active[0] = False
        unwrap_logic()
        end_open_jobs("uninstrument")


__all__ = ["DEFAULT_QUIET_PERIOD", "PATCHES", "PATCHES_011", "RoutiluxInstrumentor",
           "end_open_jobs"]
