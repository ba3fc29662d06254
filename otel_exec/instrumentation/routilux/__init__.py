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
``quiet_period`` seconds (``instrument(quiet_period=0.05)``), with status *failed* if a routine
failed without a CONTINUE or SKIP strategy, else *completed*. An explicit ``complete_job`` /
``JobContext.complete``, ``wait_for_completion`` or a ``cancel`` ends it at once with
that status; pause and resume are span events.

The trace context crosses routilux's thread pool and event-loop hand-offs on the task objects
themselves (captured when a task is made, in the emitting routine's span).

.. _routilux: https://pypi.org/project/routilux/
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_exec.instrumentation._patching import Patch, apply, restore
from otel_exec.instrumentation.routilux._flow import PATCHES_011
from otel_exec.instrumentation.routilux._jobs import (
    DEFAULT_QUIET_PERIOD,
    _jobs,
    _options,
    _wrap_lock,
    _wrapped_routines,
)
from otel_exec.instrumentation.routilux._runtime import PATCHES
from otel_exec.semconv import ExecStatus

if TYPE_CHECKING:
    from collections.abc import Collection

_instruments = ("routilux >= 0.10",)


def _patches_for_installed_version() -> tuple[Patch, ...]:
    """routilux 1.x (``routilux.core``) or the 0.10 / 0.11 line (``routilux.flow``)."""
    import importlib.util

    def has(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package does not exist in this version
            return False

    if has("routilux.core.runtime"):
        return PATCHES
    if has("routilux.flow.flow"):
        return PATCHES_011
    raise ModuleNotFoundError("this routilux has neither routilux.core (1.x) nor routilux.flow "
                              "(0.10 / 0.11): not a supported version")


def end_open_jobs(how: str = "shutdown") -> None:
    """End the spans of jobs still open (at uninstrument and interpreter exit)."""
    for job in list(_jobs.values()):
        job.end(ExecStatus.FAILED if job.failed else ExecStatus.COMPLETED, how)


class RoutiluxInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """``BaseInstrumentor`` for routilux 1.x (``Runtime.post`` jobs) and 0.10 / 0.11
    (``Flow.execute`` jobs); the wrap points are chosen by the version installed.

    ``instrument(tracer_provider=..., quiet_period=0.05)``: where spans go, and how long a job
    must have nothing in flight before its span ends. Configures otel_exec if needed.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from otel_exec.config import ensure_configured

        ensure_configured()
        _options["provider"] = kwargs.get("tracer_provider")
        _options["quiet_period"] = float(kwargs.get("quiet_period", DEFAULT_QUIET_PERIOD))
        self._patches = _patches_for_installed_version()
        apply(self._patches)

    def _uninstrument(self, **kwargs: Any) -> None:
        restore(getattr(self, "_patches", PATCHES))
        with _wrap_lock:
            for routine in list(_wrapped_routines):
                logic = getattr(routine, "_logic", None)
                if isinstance(logic, wrapt.FunctionWrapper):
                    routine._logic = logic.__wrapped__
            _wrapped_routines.clear()
        end_open_jobs("uninstrument")



__all__ = ["DEFAULT_QUIET_PERIOD", "PATCHES", "PATCHES_011", "RoutiluxInstrumentor",
           "end_open_jobs"]
