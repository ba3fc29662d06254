"""The ``Execution`` record every view hands out: one finished or running span, as an execution.

In the process, ``result``, ``exception``, ``args`` and ``kwargs`` are the real objects (as in
falyx's ``ExecutionContext``); what leaves the process is the bounded, scrubbed text in the span's
attributes, which is also what a record loaded from a file answers with.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from otel_exec import semconv
from otel_exec.rows import UNNUMBERED, Row, in_registry, span_row
from otel_exec.semconv import ExecStatus

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link

_STATUSES = {status.value: status for status in ExecStatus}
_EMPTY: tuple[Any, ...] = ()


_CODES = {code.value: code for code in StatusCode}


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""Marks a value an instrumentation did not capture (distinct from a real ``None``)."""


class Outcome(NamedTuple):
    """The real objects of one execution, carried in-process from the wrapper to the store
    (on the live span, as ``OUTCOME_ATTRIBUTE``, until it has ended: the stores that record
    it take it in ``on_end``, then it is set to None, as the exception's traceback holds the
    frame of the wrapper holding the span, a cycle only the garbage collector would free)."""

    result: Any = MISSING
    exception: BaseException | None = None
    args: Any = MISSING
    kwargs: Any = MISSING


OUTCOME_ATTRIBUTE = "_otel_exec_outcome"
"""Where a live span carries its ``Outcome``."""


class Execution:
    """One execution as the views see it; read-only, cheap to build, small to keep."""

    __slots__ = ("_outcome", "_parent_id", "_span_id", "_status_code", "_trace_id", "attributes",
                 "end_ns", "events", "index", "links", "name", "scope", "service", "start_ns",
                 "status_description")

    def __init__(self, name: str, trace_id: int, span_id: int, parent_id: int | None,
                 start_ns: int, end_ns: int | None, attributes: Mapping[str, Any],
                 events: Sequence[Event] = _EMPTY, links: Sequence[Link] = _EMPTY,
                 status_code: StatusCode = StatusCode.UNSET, status_description: str | None = None,
                 scope: str = "", index: int | None = None, outcome: Outcome | None = None,
                 service: str | None = None) -> None:
        # Positional or keyword: a trace file's reader builds a million of these positionally.
        self.index = index
        self.name = name
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent_id = parent_id
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.attributes = attributes
        self.events = events
        self.links = links
        self._status_code = status_code
        self.status_description = status_description
        self.scope = scope
        self._outcome = outcome
        self.service = service

    @classmethod
    def from_span(cls, span: ReadableSpan) -> Execution:
        """Read a span (finished, or still running) as an execution."""
        return cls.from_row(span_row(span))

    @classmethod
    def from_row(cls, row: Row, outcome: Outcome | None = None) -> Execution:
        """The execution a store row holds (see ``span_row``), with its real objects if kept."""
        self = cls.__new__(cls)
        (self.name, self._trace_id, self._span_id, self._parent_id, self.start_ns, self.end_ns,
         flat, self.events, self.links, code, self.status_description, self.scope,
         self.service, self.index) = row
        if self.index == UNNUMBERED:
            self.index = None
        half = len(flat) // 2
        self.attributes = dict(zip(flat[:half], flat[half:], strict=True))
        self._status_code = _CODES[code]
        self._outcome = outcome
        return self

    @property
    def row(self) -> Row:
        """This execution as a store row (see ``span_row``)."""
        return (self.name, self._trace_id, self._span_id, self._parent_id, self.start_ns,
                self.end_ns, (*self.attributes, *self.attributes.values()), tuple(self.events),
                tuple(self.links),
                self._status_code.value, self.status_description, self.scope, self.service,
                self.index)

    # identity -------------------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The trace id, as 32 hex digits (what Jaeger and Tempo show)."""
        return format_trace_id(self._trace_id)

    @property
    def span_id(self) -> str:
        """The span id, as 16 hex digits."""
        return format_span_id(self._span_id)

    @property
    def parent_span_id(self) -> str | None:
        """The parent's span id, or None for a root."""
        return None if self._parent_id is None else format_span_id(self._parent_id)

    service: str | None
    """``service.name`` of the resource, for executions read from a trace file (None
    in-process, where the provider's resource says it for all of them)."""

    @property
    def kind(self) -> str:
        """``action``, ``step``, ``routine``, ``function``...; ``span`` for foreign spans."""
        return str(self.attributes.get(semconv.EXEC_KIND, semconv.KIND_SPAN))

    @property
    def framework(self) -> str:
        """``falyx``, ``dataknobs_fsm``, ``routilux``, ``python``; else the scope name."""
        return str(self.attributes.get(semconv.EXEC_FRAMEWORK, self.scope))

    @property
    def logs(self) -> list[str]:
        """The log records kept with this execution, ``LEVEL logger: message`` each."""
        return [f"{attributes.get(semconv.LOG_SEVERITY, '')} "
                f"{attributes.get(semconv.LOG_LOGGER, '')}: "
                f"{attributes.get(semconv.LOG_MESSAGE, '')}"
                for event in self.events if event.name == semconv.LOG_EVENT
                for attributes in (event.attributes or {},)]

    @property
    def in_registry(self) -> bool:
        """Whether a registry numbers this execution: made by an otel_exec instrumentation and
        recorded by its framework (not a rollback, a declined confirmation, another
        instrumentation's span)."""
        return in_registry(self.attributes)

    # verdict --------------------------------------------------------------------------------
    @property
    def status(self) -> ExecStatus:
        """The execution's status (the table in docs/semconv.md, "Status mapping")."""
        if self.end_ns is None:
            return ExecStatus.RUNNING
        value = self.attributes.get(semconv.EXEC_STATUS)
        if value is not None and (known := _STATUSES.get(str(value))) is not None:
            return known
        return ExecStatus.FAILED if self._status_code is StatusCode.ERROR else ExecStatus.COMPLETED

    @property
    def success(self) -> bool:
        """False for failed and error_continued executions, True otherwise (falyx's OK/ERROR)."""
        return self.status not in semconv.ERROR_STATUSES

    # timing ---------------------------------------------------------------------------------
    @property
    def start_time(self) -> float:
        """Start, in epoch seconds."""
        return self.start_ns / 1e9

    @property
    def end_time(self) -> float | None:
        """End, in epoch seconds; None while running."""
        return None if self.end_ns is None else self.end_ns / 1e9

    @property
    def duration(self) -> float | None:
        """Duration in seconds; None while running."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9

    @property
    def start_datetime(self) -> datetime:
        """Start as a local, timezone-aware datetime."""
        return datetime.fromtimestamp(self.start_time).astimezone()

    # values ---------------------------------------------------------------------------------
    def _real(self, name: str, attribute: str) -> Any:
        outcome = self._outcome
        if outcome is not None:
            value = getattr(outcome, name)
            if value is not MISSING:
                return value
        return self.attributes.get(attribute)

    @property
    def result(self) -> Any:
        """The real result in-process; its bounded text when loaded from a file; else None."""
        return self._real("result", semconv.EXEC_RESULT)

    @property
    def result_text(self) -> str:
        """The result's bounded, scrubbed text, made once when the execution finished: the same
        text the span exported, whatever happened to the object since (one truth for export
        and every view; a slow or raising ``__repr__`` never runs again)."""
        text = self.attributes.get(semconv.EXEC_RESULT)
        if text is not None:
            return str(text)
        outcome = self._outcome
        if outcome is not None and outcome.result is not MISSING and outcome.result is not None:
            return f"<{type(outcome.result).__qualname__}: not captured>"
        return "None"

    @property
    def args(self) -> Any:
        """The real positional arguments in-process; their bounded text otherwise."""
        return self._real("args", semconv.EXEC_ARGS)

    @property
    def kwargs(self) -> Any:
        """The real keyword arguments in-process; their bounded text otherwise."""
        return self._real("kwargs", semconv.EXEC_KWARGS)

    @property
    def exception(self) -> BaseException | None:
        """The real exception object, in the process that ran it."""
        return None if self._outcome is None else self._outcome.exception

    def _exception_event(self) -> Mapping[str, Any] | None:
        for event in reversed(self.events):
            if event.name == semconv.EXCEPTION_EVENT:
                return event.attributes or {}
        return None

    @property
    def error_type(self) -> str | None:
        """The ``error.type`` of a failed execution."""
        value = self.attributes.get(semconv.ERROR_TYPE)
        return None if value is None else str(value)

    @property
    def exception_text(self) -> str | None:
        """``Type('message')`` as recorded when the execution failed (bounded and scrubbed, the
        same in-process and loaded from a file; the exception's own ``__repr__`` never runs)."""
        event = self._exception_event()
        if event is None:
            return None
        kind = str(event.get(semconv.EXCEPTION_TYPE, "Exception")).rsplit(".", 1)[-1]
        message = str(event.get(semconv.EXCEPTION_MESSAGE, ""))
        if kind.endswith("KeyError") and len(message) > 1 and message[0] in "'\"" and (
                message[-1] == message[0]):  # a KeyError's message is its key's repr already
            return f"{kind}({message})"
        return f"{kind}({message!r})"

    @property
    def traceback(self) -> str | None:
        """The formatted traceback recorded with the exception, as falyx keeps it."""
        event = self._exception_event()
        if event is None:
            return None
        stacktrace = event.get(semconv.EXCEPTION_STACKTRACE)
        return None if stacktrace is None else str(stacktrace)

    @property
    def ignore_in_history(self) -> bool:
        """Whether falyx-style ``last_result`` lookups skip this execution."""
        return bool(self.attributes.get(semconv.EXEC_IGNORE_IN_HISTORY, False))

    @property
    def signature(self) -> str:
        """``name(args, kwargs)`` with the bounded texts of the arguments."""
        parts = []
        args = self.attributes.get(semconv.EXEC_ARGS)
        if args is not None:
            parts.append(str(args).removeprefix("(").removesuffix(")").removesuffix(","))
        kwargs = self.attributes.get(semconv.EXEC_KWARGS)
        if kwargs is not None:
            parts.append(f"**{kwargs}")
        return f"{self.name}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the exported (bounded, scrubbed) texts, never the real objects."""
        return {"index": self.index, "name": self.name, "kind": self.kind,
                "framework": self.framework, "status": self.status.value,
                "success": self.success, "start_time": self.start_time,
                "end_time": self.end_time, "duration": self.duration,
                "result": None if not self.success else self.result_text,
                "exception": self.exception_text, "error_type": self.error_type,
                "trace_id": self.trace_id, "span_id": self.span_id,
                "parent_span_id": self.parent_span_id}

    def __eq__(self, other: object) -> bool:
        """The same record: the same span, ended at the same time, with the same index (a
        store makes a new ``Execution`` each time a view reads one)."""
        if not isinstance(other, Execution):
            return NotImplemented
        return (self._span_id, self._trace_id, self.end_ns, self.index, self.name) == (
            other._span_id, other._trace_id, other.end_ns, other.index, other.name)

    def __hash__(self) -> int:
        return hash((self._span_id, self._trace_id))

    def __repr__(self) -> str:
        return (f"Execution(index={self.index!r}, name={self.name!r}, kind={self.kind!r}, "
                f"status={self.status.value!r}, duration={self.duration!r})")
