"""``registry.record(context)``: an execution that ran elsewhere, recorded as a finished span."""

from __future__ import annotations

from typing import Any

from otel_exec import semconv
from otel_exec.execution import MISSING
from otel_exec.spans import get_tracer, record_finished

_SCOPE = "otel_exec.registry"


def record_context(context: Any) -> int:
    """Make ``context`` a span ending now, under the current span, and return its span id.

    ``context`` needs a ``name`` and may have ``result``, ``exception``, ``args``, ``kwargs``
    and ``duration`` (seconds), as falyx's ``ExecutionContext`` has.
    """
    execution = record_finished(
        get_tracer(_SCOPE), str(getattr(context, "name", context)),
        kind=semconv.KIND_RECORD, framework=semconv.FRAMEWORK_PYTHON,
        duration=getattr(context, "duration", None), result=getattr(context, "result", None),
        exception=getattr(context, "exception", None), args=getattr(context, "args", MISSING),
        kwargs=getattr(context, "kwargs", MISSING))
    span_id: int = execution.span.get_span_context().span_id
    return span_id
