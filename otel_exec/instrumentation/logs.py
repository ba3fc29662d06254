"""Log records that explain an execution, kept with it.

A ``logging`` record emitted while one of otel_exec's spans is current (a falyx "Retry
attempt…", routilux's "Error in routine logic…", the user's own ``logger.warning`` inside an
action) becomes a ``log`` event on that span: its level, logger and message, bounded and
scrubbed like every recorded text, at the record's time. So it travels with the execution to
the store, trace files, ``otel-exec tree``, the viewer and the backend. With OTLP logs on
(``configure(logs=...)``), the same record, scrubbed, is also exported as an OTLP log record
carrying the span's trace and span ids.

Bounded per execution (``MAX_RECORDS``, ``MAX_BYTES``; what is left out is counted in
``exec.logs.dropped``). Records outside any execution, and otel_exec's own, are not taken.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api

from otel_exec import semconv
from otel_exec.spans import add_event, exception_type
from otel_exec.values import policy

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_LEVEL = logging.WARNING
"""The least severe record kept unless ``configure(logs=...)`` asks for another."""
MAX_RECORDS = 32
"""Log records kept per execution."""
MAX_BYTES = 16 * 1024
"""Characters of log messages kept per execution."""

_SCOPE_PREFIX = "otel_exec"
_BUDGET = "_otel_exec_logs"
"""Where a span keeps what its log records used: [records, characters, dropped]."""
_lock = threading.Lock()


class ExecutionLogCapture:
    """Puts each record emitted under one of otel_exec's spans on that span (a ``log``
    event), and hands it, scrubbed, to ``exporting`` (the SDK's OTLP logs handler) when set.

    It is a step of the log record factory, not a handler: the program's handlers, and
    ``logging``'s last-resort output when it has none, see every record as before. Never
    raises, never takes otel_exec's own records.
    """

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self.level = level
        self.exporting: logging.Handler | None = None
        self.previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        levelno, name = record.levelno, record.name
        if (type(levelno) is int and levelno >= self.level and type(name) is str
                and not name.startswith(_SCOPE_PREFIX)):  # makeLogRecord makes (None, None)
            self.take(record)
        return record

    def take(self, record: logging.LogRecord) -> None:
        try:
            span: Any = trace_api.get_current_span()
            if not span.is_recording():
                return
            scope = getattr(span, "instrumentation_scope", None)
            if scope is None or not str(scope.name).startswith(_SCOPE_PREFIX):
                return
            message = policy().message(record.getMessage())
            _keep(span, record, message)
            exporting = self.exporting
            if exporting is not None:
                exporting.handle(_scrubbed(record, message))
        except Exception:  # a record we cannot take is the program's, not an error of it
            return


def _keep(span: Any, record: logging.LogRecord, message: str) -> None:
    """A ``log`` event on ``span``, within its budget (else counted as dropped)."""
    with _lock:
        budget = getattr(span, _BUDGET, None)
        if budget is None:
            budget = [0, 0, 0]
            setattr(span, _BUDGET, budget)
        if budget[0] >= MAX_RECORDS or budget[1] + len(message) > MAX_BYTES:
            budget[2] += 1
            dropped = budget[2]
        else:
            budget[0] += 1
            budget[1] += len(message)
            dropped = 0
    if dropped:
        span.set_attribute(semconv.EXEC_LOGS_DROPPED, dropped)
        return
    attributes = {semconv.LOG_SEVERITY: record.levelname, semconv.LOG_LOGGER: record.name,
                  semconv.LOG_MESSAGE: message}
    if record.exc_info and record.exc_info[1] is not None:
        attributes[semconv.EXCEPTION_TYPE] = exception_type(record.exc_info[1])
    add_event(span, semconv.LOG_EVENT, attributes)  # now: within the record's microseconds


def _scrubbed(record: logging.LogRecord, message: str) -> logging.LogRecord:
    """A copy of ``record`` whose message is the scrubbed text and that carries no
    traceback (its text is not scrubbed)."""
    clone = copy.copy(record)
    clone.msg, clone.args = message, None
    clone.exc_info = clone.exc_text = clone.stack_info = None
    return clone


_capture: ExecutionLogCapture | None = None


def install(level: int | None = None) -> ExecutionLogCapture:
    """Keep log records with their executions (once per process; ``level`` changes the
    least severe record kept)."""
    global _capture
    with _lock:
        if _capture is None:
            _capture = ExecutionLogCapture(DEFAULT_LEVEL if level is None else level)
            logging.setLogRecordFactory(_capture)
        elif level is not None:
            _capture.level = level
        return _capture


def uninstall() -> None:
    """Stop keeping log records (``configure(logs=False)``, ``OTEL_EXEC_LOGS=off``)."""
    global _capture
    with _lock:
        if _capture is not None:
            if logging.getLogRecordFactory() is _capture:
                logging.setLogRecordFactory(_capture.previous)
            else:  # another factory came after ours and calls it: let it pass records on
                _capture.level = logging.CRITICAL + 1
            _capture = None
