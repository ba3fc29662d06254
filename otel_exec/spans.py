"""The one way instrumentations start and finish execution spans.

``ExecutionSpan`` starts a span with the shared ``exec.*`` attributes, makes it current while the
work runs, and on ``finish`` maps the outcome to ``exec.status`` and the OTel status (table in
docs/semconv.md), records the exception event and ``error.type``, turns args/kwargs/result into
bounded, scrubbed text and hands the real objects to the in-process store. Nothing in here raises
into the caller: our own failures are logged and the user's work goes on untouched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
import types
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import Status, StatusCode

from otel_exec import _context, _wiring, semconv
from otel_exec._sdk import span_path
from otel_exec.execution import MISSING, OUTCOME_ATTRIBUTE, Outcome
from otel_exec.semconv import ExecStatus
from otel_exec.values import ValuePolicy, policy, utf8

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from types import TracebackType

    from opentelemetry.trace import Link, Span, Tracer
    from opentelemetry.util.types import AttributeValue

_logger = logging.getLogger(__name__)

_VERSION = "0.1.0"
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_tracers: dict[str, tuple[trace_api.TracerProvider, Tracer]] = {}

_CANCELLATIONS: tuple[type[BaseException], ...] = (
    asyncio.CancelledError, KeyboardInterrupt, GeneratorExit,
)


_scope_providers: dict[str, trace_api.TracerProvider] = {}
_override: trace_api.TracerProvider | None = None
_given: trace_api.TracerProvider | None = None


def use_provider(scope: str, provider: trace_api.TracerProvider | None) -> None:
    """Send ``scope``'s spans to ``provider`` (an instrumentor's ``tracer_provider=``); None
    sends them to the global provider again.

    The scopes without a provider of their own (``@traced``, ``span()``) follow the provider
    given last, so that one trace is never split between two providers (and services).
    """
    global _given
    if provider is None:
        _scope_providers.pop(scope, None)
    else:
        _scope_providers.pop(scope, None)
        _scope_providers[scope] = provider
    _given = next(reversed(_scope_providers.values()), None)


def given_provider() -> trace_api.TracerProvider | None:
    """The provider last given to an instrumentor (``tracer_provider=``), if any still is."""
    return _given


def override_provider(provider: trace_api.TracerProvider | None,
                      ) -> trace_api.TracerProvider | None:
    """Use ``provider`` instead of the global one for every scope without its own (the pytest
    fixture's private provider, so tests never set the set-once global); returns the previous
    override."""
    global _override
    previous, _override = _override, provider
    return previous


def get_tracer(scope: str) -> Tracer:
    """A tracer for ``scope``: from its instrumentor's provider, else the override, else the
    provider last given to an instrumentor, else the global provider as it is now; cached per
    provider.

    Resolved at each call, so a provider set after decoration or instrumentation still takes
    effect, at the cost of two dictionary lookups. The first time an SDK provider is seen, the
    default store's processor is attached to it (nothing global is set). While no SDK provider
    is set at all, otel_exec's spans go to a local provider that only feeds the in-process
    store (no export), so the views work before, or without, ``configure()``.
    """
    provider = (_scope_providers.get(scope) or _override or _given
                or getattr(trace_api, "_TRACER_PROVIDER", None)  # set: no call to read it
                or _unset_global())
    cached = _tracers.get(scope)
    if cached is not None and cached[0] is provider:
        return cached[1]
    used = _wiring.route(provider)  # the cache is keyed by the provider resolved
    tracer = used.get_tracer(scope, _VERSION, schema_url=_SCHEMA_URL)
    _tracers[scope] = (provider, tracer)
    return tracer


_proxy: list[trace_api.TracerProvider] = []
"""The API's stand-in provider, once the API has answered with it (no global provider set
and none named by ``OTEL_PYTHON_TRACER_PROVIDER``)."""


def _unset_global() -> trace_api.TracerProvider:
    """``trace.get_tracer_provider()`` while no global provider is set: asked once (it reads
    the environment for a provider to load, which costs more than the rest of a traced call's
    bookkeeping), then the stand-in it gave, until a global provider is set."""
    if _proxy:
        return _proxy[0]
    provider = trace_api.get_tracer_provider()
    if isinstance(provider, trace_api.ProxyTracerProvider):
        _proxy.append(provider)
    return provider


def exception_message(exc: BaseException) -> str:
    """The exception's message, bounded and scrubbed (empty when messages are not captured;
    a placeholder when its ``__str__`` raises)."""
    values = policy()
    if not values.capture_messages:
        return ""
    try:
        message = str(exc)
    except BaseException:  # a __str__ raising SystemExit or KeyboardInterrupt too
        message = f"<unprintable {type(exc).__qualname__}>"
    return values.message(message)


MAX_FRAMES = 100
"""The newest frames a recorded stack trace keeps: the work per failure is bounded, so a
failure deep in a recursion does not cost a pass over the whole stack's source lines."""
_OWN_FILES = os.path.dirname(os.path.abspath(__file__)) + os.sep
"""Where otel_exec's own modules are: their frames are not the user's story."""


def _hide_own_frames(formatted: traceback.TracebackException) -> None:
    """Drop otel_exec's frames (the wrappers between a caller and its function) from a
    formatted traceback and those chained to it; a traceback of ours alone is left whole."""
    seen: set[int] = set()
    pending = [formatted]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        theirs = [frame for frame in current.stack
                  if not (frame.filename or "").startswith(_OWN_FILES)]
        if theirs and len(theirs) < len(current.stack):
            current.stack = traceback.StackSummary.from_list(theirs)
        pending.extend(chained for chained in (current.__cause__, current.__context__,
                                               *(getattr(current, "exceptions", None) or ()))
                       if chained is not None)


def _newest(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The newest ``MAX_FRAMES`` entries of a traceback, as a traceback of their own: the
    standard library works out a code position for every entry it walks, so a failure deep
    in a recursion would cost a walk of the whole stack (the exceptions chained to it are
    walked to ``MAX_FRAMES`` entries: their oldest)."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if len(entries) <= MAX_FRAMES:
        return entries[0] if entries else None
    newest = None
    for entry in reversed(entries[-MAX_FRAMES:]):
        newest = types.TracebackType(newest, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return newest


def exception_stacktrace(exc: BaseException) -> str:
    """The formatted traceback (chained exceptions included, otel_exec's own frames left
    out), bounded and scrubbed; only the frames and the type when messages are not
    captured."""
    values = policy()
    try:
        formatted = traceback.TracebackException(type(exc), exc, _newest(exc.__traceback__),
                                                 compact=True, limit=MAX_FRAMES)
        _hide_own_frames(formatted)
        if values.capture_messages:
            text = "".join(formatted.format())
        else:  # frames only: neither the message nor source lines that may quote it
            text = "".join(["Traceback (most recent call last):\n",
                            *(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
                              for frame in formatted.stack), exception_type(exc), "\n"])
    except BaseException:
        text = f"{exception_type(exc)} (its stack trace could not be formatted)"
    return values.stacktrace(text)


def exception_attributes(exc: BaseException) -> dict[str, AttributeValue]:
    """``exception.type`` and a bounded, scrubbed ``exception.message``, for span events that
    tell of an error the execution survived (a retried attempt, a failed FSM arc attempt)."""
    return {semconv.EXCEPTION_TYPE: exception_type(exc),
            semconv.EXCEPTION_MESSAGE: exception_message(exc)}


def exception_type(exc: BaseException) -> str:
    """``error.type`` / ``exception.type`` of an exception: module-qualified unless builtin."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def status_for(exc: BaseException | None) -> ExecStatus:
    """Default status of an execution that ended with ``exc`` (None: finished normally)."""
    if exc is None:
        return ExecStatus.COMPLETED
    if isinstance(exc, _CANCELLATIONS):
        return ExecStatus.CANCELLED
    if isinstance(exc, SystemExit):
        return ExecStatus.COMPLETED if exc.code in (0, None) else ExecStatus.FAILED
    return ExecStatus.FAILED


def write_value_texts(attributes: dict[str, AttributeValue], values: ValuePolicy,
                      args: Any = MISSING, kwargs: Any = MISSING,
                      sensitive_positions: Collection[int] = ()) -> None:
    """Write ``exec.args`` / ``exec.kwargs`` into ``attributes`` as bounded text scrubbed
    under ``values`` (the policy in force); empty ones, and all of them when capture is off,
    are left out."""
    if not values.capture:
        return
    if args is not MISSING and args != ():
        if sensitive_positions and isinstance(args, tuple):
            args = tuple(REDACTED_VALUE if i in sensitive_positions else a
                         for i, a in enumerate(args))
        attributes[semconv.EXEC_ARGS] = values.text(args)
    if kwargs is not MISSING and kwargs != _NO_KWARGS:
        attributes[semconv.EXEC_KWARGS] = values.text(kwargs)


_NO_KWARGS: dict[str, Any] = {}


_COMPLETED: str = ExecStatus.COMPLETED.value
_tuple_new = tuple.__new__


class _Redacted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "'[REDACTED]'"


REDACTED_VALUE: Any = _Redacted()


class ExecutionSpan:
    """One execution's span: start it, make it current, finish it with the outcome.

    Use as a context manager around the work (exceptions are recorded and re-raised untouched)
    or call ``activate``/``deactivate`` and ``finish`` yourself when the work is split across
    resumptions (generators) or callbacks (framework hooks).
    """

    __slots__ = ("_args", "_generation", "_kwargs", "_token", "context", "finished", "span")

    def __init__(self, tracer: Tracer, name: str, *, kind: str, framework: str,
                 attributes: Mapping[str, AttributeValue] | None = None,
                 links: Sequence[Link] | None = None, args: Any = MISSING,
                 kwargs: Any = MISSING, start_time: int | None = None,
                 parent: context_api.Context | None = None) -> None:
        self._args = args
        self._kwargs = kwargs
        self._token: object | None = None
        self._generation = _process[0]
        self.finished = False
        if not name.isascii():  # a name with a lone surrogate would cost the export its batch
            name = utf8(name)
        around = _context.current() if parent is None else parent
        run = _context.run_attributes(around) if _context.run_attributes_used else None
        start_attributes: dict[str, AttributeValue] = {
            **(run or {}), semconv.EXEC_KIND: kind, semconv.EXEC_FRAMEWORK: framework,
            **(attributes or {}),
        }
        span = None
        if start_time is None:
            span = span_path.start_span(tracer, name, parent, start_attributes, links)
        self.span: Span = span if span is not None else tracer.start_span(
            name, context=parent, attributes=start_attributes, links=links,
            start_time=start_time)
        self.context = span_path.in_context(self.span, around, _context.IN_EXECUTION)

    @property
    def recording(self) -> bool:
        """Whether attributes and events set on this span go anywhere."""
        return self.span.is_recording()

    def activate(self) -> None:
        """Make this span current (until ``deactivate``) in the running context."""
        self._token = _context.attach(self.context)

    def deactivate(self) -> None:
        """Restore the context that was current before ``activate``."""
        token, self._token = self._token, None
        if token is not None:
            _context.detach(token)

    def __enter__(self) -> ExecutionSpan:
        self.activate()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.deactivate()
        if not self.finished:
            self.finish(exception=exc)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Add attributes while running (ignored once finished or when not recording)."""
        span = self.span
        if not span_path.set_attributes(span, attributes) and span.is_recording():
            span.set_attributes(attributes)

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        """Add a span event (retry attempt, pause, emission...) while running (ignored once
        finished or when not recording)."""
        add_event(self.span, name, attributes)

    def finish(self, result: Any = MISSING, *, exception: BaseException | None = None,
               status: ExecStatus | None = None,
               attributes: Mapping[str, AttributeValue] | None = None,
               end_time: int | None = None, name: str | None = None,
               args: Any = MISSING, kwargs: Any = MISSING,
               description: str | None = None) -> None:
        """End the span with this outcome. Idempotent; never raises.

        Args:
            result: The value returned (leave out when there is none to show).
            exception: The exception that ended the work, if any.
            status: The verdict when it is not the default for ``exception`` (a framework that
                records a flow signal as success, a skipped step, an error it continued past).
            attributes: Final attributes, set in the same call as the status.
            end_time: Epoch nanoseconds, for executions recorded after the fact.
            name: The final span name, when the framework settles it only at the end.
            args: The arguments as the framework finally saw them (replacing those given at
                start), e.g. with bound arguments and injected results.
            kwargs: The keyword arguments, the same way.
            description: Why it failed, when there is no exception object to say it (the
                OTel status description).
        """
        if self.finished:
            return
        self.finished = True
        if self._generation != _process[0]:  # started before a fork: the parent ends it
            return
        span = self.span
        final: dict[str, AttributeValue] = {}
        handed_off = False
        try:
            if name is not None and name != getattr(span, "name", name):
                span.update_name(utf8(name))
            texts = args is not MISSING or kwargs is not MISSING
            if texts:
                self._args, self._kwargs = args, kwargs
            if span.is_recording():
                handed_off = self._describe(span, final, result, exception, status, attributes,
                                            description, texts)
            else:
                _count_unrecorded()
        except BaseException:  # describing runs user code (__repr__, __str__)
            _logger.warning("otel_exec: could not describe span %r", self.span, exc_info=True)
        try:
            if not span_path.end_span(span, end_time, final, texts=not attributes):
                if final:
                    span.set_attributes(final)
                span.end(end_time)
        except Exception:
            _logger.warning("otel_exec: could not end span %r", self.span, exc_info=True)
        if handed_off:
            setattr(span, OUTCOME_ATTRIBUTE, None)  # released (see ``Outcome``)

    def _describe(self, span: Span, final: dict[str, AttributeValue], result: Any,
                  exception: BaseException | None, status: ExecStatus | None,
                  attributes: Mapping[str, AttributeValue] | None,
                  description: str | None, texts: bool) -> bool:
        """Fill ``final`` (the attributes the span ends with) with the verdict first (so
        whatever fails after it, the span still says failed), then the result text, the
        arguments' texts (``texts``: given to ``finish``) and ``attributes``; add the
        exception event; each text bounded and scrubbed. Whether the real objects were
        handed off on the span (to be released once it has ended)."""
        values = policy()
        message = ""
        if status is None and exception is None:  # the common case, without enum lookups
            final[semconv.EXEC_STATUS] = _COMPLETED
            failed = False
        else:
            verdict = status_for(exception) if status is None else status
            final[semconv.EXEC_STATUS] = verdict._value_
            failed = verdict in semconv.ERROR_STATUSES
            if failed and exception is not None:
                final[semconv.ERROR_TYPE] = exception_type(exception)
                message = exception_message(exception)
                name = type(exception).__name__
                span.set_status(Status(StatusCode.ERROR,
                                       f"{name}: {message}" if message else name))
            elif failed:
                span.set_status(Status(StatusCode.ERROR,
                                       values.message(description or verdict.value)))
        if result is not MISSING and values.capture:
            final[semconv.EXEC_RESULT] = values.text(result)  # never raises
        if texts:
            write_value_texts(final, values, self._args, self._kwargs)
        if attributes:
            final.update(attributes)
        if failed and exception is not None:
            self.add_event(semconv.EXCEPTION_EVENT, {
                semconv.EXCEPTION_TYPE: final[semconv.ERROR_TYPE],
                semconv.EXCEPTION_MESSAGE: message,
                semconv.EXCEPTION_STACKTRACE: exception_stacktrace(exception)})
        args, kwargs = self._args, self._kwargs
        if (result is MISSING and exception is None and args is MISSING
                and kwargs is MISSING):
            return False  # no real object: the stores keep nothing for it (a step, an arc)
        try:  # handed to the stores (a tuple, made without a call of Python's)
            setattr(span, OUTCOME_ATTRIBUTE,
                    _tuple_new(Outcome, (result, exception, args, kwargs)))
        except (AttributeError, TypeError):  # not the SDK's span: nothing stores it in-process
            return False
        return True


def add_event(span: Span, name: str, attributes: Mapping[str, AttributeValue] | None) -> None:
    """``span.add_event`` (at this moment), on the lean path where it applies; ignored when
    the span is not recording (ended, sampled out)."""
    if not span_path.add_event(span, name, attributes) and span.is_recording():
        span.add_event(name, attributes)


_unrecorded = 0

_process = [0]
"""How many forks this process descends from (counted in each child): a span a child
inherited open is its parent's to end and export, not the child's, which would export it a
second time under the same id."""


def _forked() -> None:
    _process[0] += 1


os.register_at_fork(after_in_child=_forked)


def _count_unrecorded() -> None:
    global _unrecorded
    _unrecorded += 1


def unrecorded_count() -> int:
    """How many executions ended without being recorded (sampled out, SDK disabled, no SDK
    provider): the reason an empty summary gives."""
    return _unrecorded


def record_finished(tracer: Tracer, name: str, *, kind: str, framework: str,
                    duration: float | None = None, result: Any = MISSING,
                    exception: BaseException | None = None, args: Any = MISSING,
                    kwargs: Any = MISSING, status: ExecStatus | None = None,
                    attributes: Mapping[str, AttributeValue] | None = None) -> ExecutionSpan:
    """Record an execution that already happened (ending now, lasting ``duration`` seconds)
    as a finished span under the current one."""
    end = time.time_ns()
    execution = ExecutionSpan(tracer, name, kind=kind, framework=framework, args=args,
                              kwargs=kwargs, attributes=attributes,
                              start_time=end - int((duration or 0.0) * 1e9))
    execution.finish(result, exception=exception, status=status, end_time=end)
    return execution
