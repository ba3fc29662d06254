"""Instrument `falyx`_: every Action, chain, group, process action and Command as a span.

```python
import otel_exec
otel_exec.instrument("falyx")            # or: opentelemetry-instrument python cli.py
otel_exec.instrument("falyx", propagate_to_processes=True)   # trace context into ProcessAction
...
otel_exec.summary()                      # what falyx's `history` command shows
otel_exec.registry.get_all()             # same names, statuses and order as falyx's registry
```

How: the span's life comes from the async ``__call__`` of ``BaseAction``, ``BaseIOAction`` and
``Command`` (so nesting follows execution across chains, concurrent groups and tasks); its verdict
comes from ``ExecutionRegistry.record``, which falyx calls last inside that ``__call__``. The span
therefore carries falyx's own name, status, index, combined args, result and exception, even
where they differ from what ``__call__`` raised (flow signals, a retry that recovered with None,
a chain stopped by ``BreakChainSignal``). A run falyx never records (a declined confirmation) is
kept and flagged ``exec.recorded=false``. Retry attempts are span events (attempt 0 is the call
that failed and triggered them), rollback is a child span (neither takes a registry index).

.. _falyx: https://pypi.org/project/falyx/
"""

from __future__ import annotations

import logging
import re
import weakref
from contextvars import ContextVar
from functools import partial
from types import MethodType
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context as context_api
from opentelemetry.propagate import extract, inject

from otel_exec import semconv
from otel_exec._context import instrumentation_enabled
from otel_exec._sdk.pydantic_private import kept_privately, private_reader
from otel_exec.execution import MISSING
from otel_exec.instrumentation._instrumentor import ExecInstrumentor
from otel_exec.instrumentation._patching import Patch, Replace, WrapPoint, check
from otel_exec.instrumentation._wrappers import (
    SELF,
    ContextScope,
    argument,
    around_async,
    contained,
    replacing,
)
from otel_exec.semconv import ExecStatus
from otel_exec.spans import (
    ExecutionSpan,
    exception_attributes,
    get_tracer,
    record_finished,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_instruments = ("falyx >= 0.1.80, < 0.3",)
_SCOPE = "otel_exec.falyx"
_logger = logging.getLogger(__name__)


_ACTIVE: ContextVar[_Call | None] = ContextVar("otel_exec_falyx_call", default=None)


class _Call(ContextScope):
    """One traced falyx ``__call__``: its span, current while it runs, and what falyx said."""

    __slots__ = ("args", "attempts", "context", "execution", "instance", "kwargs", "name",
                 "recovered")
    bindings = ((_ACTIVE, SELF),)

    def __init__(self, instance: object, execution: ExecutionSpan, name: str,
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.instance = instance
        self.execution = execution
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.context: Any = None
        self.attempts = 0
        self.recovered = False


_falyx: dict[str, Any] = {}
_kinds: dict[type, tuple[str, dict[str, str]]] = {}


_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    """``BaseIOAction`` → ``base_io_action``, ``HTTPAction`` → ``http_action``."""
    return _WORD_START.sub("_", name).lower()


def _kind(instance: object) -> tuple[str, dict[str, str]]:
    """``exec.kind`` (the nearest falyx class, snake_case) and constant attributes, per class:
    ``falyx.type`` names a user subclass (a falyx class is already said by the kind)."""
    cls = type(instance)
    known = _kinds.get(cls)
    if known is None:
        base = next((k for k in cls.__mro__ if k.__module__.startswith("falyx.")), cls)
        constant = {} if base is cls else {semconv.FALYX_TYPE: cls.__qualname__}
        known = _kinds[cls] = (_snake(base.__name__), constant)
    return known


def _start_call(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    active = _ACTIVE.get()
    if active is not None and active.instance is instance:
        return None  # super().__call__ inside a traced __call__
    kind, constant = _kinds.get(type(instance)) or _kind(instance)
    try:  # a look at the hooks without a call: most actions have no ON_ERROR hook
        table = instance.hooks._hooks
        errors = type(table) is not dict or table.get(_falyx["ON_ERROR"])
    except Exception:
        errors = True  # hooks of another shape: _count_retries says what is wrong with them
    if errors:
        contained(_count_retries, instance)
    attributes: dict[str, Any] = dict(constant)
    if kind == "command":
        attributes[semconv.FALYX_COMMAND_KEY] = str(instance.key)
        attributes[semconv.FALYX_COMMAND_DESCRIPTION] = str(instance.description)
        if instance.aliases:
            attributes[semconv.FALYX_COMMAND_ALIASES] = [str(a) for a in instance.aliases]
        if instance.tags:
            attributes[semconv.FALYX_COMMAND_TAGS] = [str(t) for t in instance.tags]
    policy = getattr(instance, "retry_policy", None)
    if policy is not None and policy.enabled:
        attributes[semconv.FALYX_RETRY_MAX] = int(policy.max_retries)
    if getattr(instance, "ignore_in_history", False):
        attributes[semconv.EXEC_IGNORE_IN_HISTORY] = True
    name = str(getattr(instance, "name", None) or getattr(instance, "description", ""))
    execution = ExecutionSpan(get_tracer(_SCOPE), name, kind=kind,
                              framework=semconv.FRAMEWORK_FALYX, attributes=attributes)
    return _Call(instance, execution, name, args, kwargs)


def _finish_call(call: _Call, raised: BaseException | None, returned: Any) -> None:
    """End a call's span with falyx's verdict (or, if falyx recorded nothing, what happened)."""
    execution = call.execution
    attributes: dict[str, Any] = {}
    if call.attempts:
        attributes[semconv.FALYX_RETRY_ATTEMPTS] = call.attempts
        attributes[semconv.FALYX_RETRY_RECOVERED] = call.recovered
    context = call.context
    if context is None:  # falyx did not record this run
        attributes[semconv.EXEC_RECORDED] = False
        status = ExecStatus.CANCELLED if _is_flow_signal(raised) else None
        execution.finish(None if returned is MISSING else returned, exception=raised,
                         status=status, attributes=attributes, args=call.args,
                         kwargs=call.kwargs)
        return
    failure = _exception_of(context)
    attributes[semconv.FALYX_INDEX] = context.index if context.index is not None else -1
    errors = (context.extra or {}).get("errors")
    if errors:
        attributes[semconv.FALYX_GROUP_FAILED] = [str(name) for name, _ in errors]
    if raised is not None and failure is None:
        execution.add_event(semconv.FALYX_ESCAPED_EVENT, exception_attributes(raised))
    name = str(context.name)
    execution.finish(context.result, exception=failure,
                     status=None if failure is None else ExecStatus.FAILED,
                     attributes=attributes, name=None if name == call.name else name,
                     args=context.args, kwargs=context.kwargs)


def _exception_of(context: Any) -> BaseException | None:
    """``context.exception`` (read from pydantic's private dict where the start-up probe
    found it there)."""
    read = _falyx["read_exception"]
    if read is not None:
        failure: BaseException | None = read(context)
        return failure
    return context.exception  # type: ignore[no-any-return]


def _is_flow_signal(exc: BaseException | None) -> bool:
    signal = _falyx.get("FlowSignal")
    return exc is not None and signal is not None and isinstance(exc, signal)


def _recorded(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
              outcome: Any) -> None:
    """falyx recorded a run (after its own registry did): the verdict of the traced call
    (even where instrumentation was suppressed inside it), else a span of its own."""
    context = args[0] if args else kwargs["context"]  # argument(), without its call
    active = _ACTIVE.get()
    if active is not None and active.instance is context.action:
        active.context = context
    elif instrumentation_enabled():  # recorded outside a traced __call__: keep it
        record_finished(get_tracer(_SCOPE), str(context.name),
                        kind=_kind(context.action)[0] if context.action else "record",
                        framework=semconv.FRAMEWORK_FALYX, duration=context.duration,
                        result=context.result, exception=context.exception,
                        args=context.args, kwargs=context.kwargs,
                        attributes={semconv.FALYX_INDEX: context.index})


def _count_retries(instance: Any) -> None:
    """Make the ON_ERROR hooks of a retrying action count its retry attempts: its hook
    manager gets a ``trigger`` of its own (``_counting_trigger``). Only the hook managers
    that hold a ``RetryHandler`` pay for it; the class and every other action are untouched."""
    if not _falyx["count_retries"]:
        return
    hooks: Any = getattr(instance, "hooks", None)
    if _retries(hooks) and "trigger" not in vars(hooks):
        hooks.trigger = MethodType(_counting_trigger, hooks)
        _counting.add(hooks)


def _retries(hooks: Any) -> bool:
    """Whether a hook manager's ON_ERROR hooks include a ``RetryHandler``'s."""
    errors = getattr(hooks, "_hooks", _NO_HOOKS).get(_falyx["ON_ERROR"])
    if not errors:
        return False
    handler = _falyx["RetryHandler"]
    return any(isinstance(getattr(hook, "__self__", None), handler) for hook in errors)


_NO_HOOKS: dict[Any, Any] = {}
_counting: weakref.WeakSet[Any] = weakref.WeakSet()


def _stop_counting_retries() -> None:
    for hooks in list(_counting):
        if getattr(vars(hooks).get("trigger"), "__func__", None) is _counting_trigger:
            del hooks.trigger
    _counting.clear()


async def _counting_trigger(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``HookManager.trigger`` of a hook manager with a RetryHandler: during its ON_ERROR
    hooks, the handler calls a counting stand-in for the action (falyx's retries call
    ``target.action`` directly)."""
    trigger = type(self).trigger
    hook_type = args[0] if args else kwargs.get("hook_type")
    if hook_type is not _falyx["ON_ERROR"]:
        return await trigger(self, *args, **kwargs)
    call = contained(_retried_call, self, args, kwargs)
    if call is None:
        return await trigger(self, *args, **kwargs)
    return await _trigger_counting_retries(partial(trigger, self), args, kwargs, call)


def _retried_call(hooks: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    """The traced call whose failure is about to be retried (None for any other trigger); its
    failure becomes attempt 0."""
    if not instrumentation_enabled():
        return None
    context = argument(args, kwargs, 1, "context")
    active = _ACTIVE.get()
    if context is None or active is None or active.instance is not context.action:
        return None
    if not _retries(hooks):
        return None
    if context.exception is not None:
        active.execution.add_event(semconv.FALYX_RETRY_EVENT, {
            semconv.FALYX_RETRY_ATTEMPT: 0, semconv.FALYX_RETRY_OUTCOME: "failed",
            **exception_attributes(context.exception)})
    return active


async def _trigger_counting_retries(wrapped: Callable[..., Awaitable[Any]],
                                    args: tuple[Any, ...], kwargs: dict[str, Any],
                                    call: _Call) -> Any:
    context = argument(args, kwargs, 1, "context")
    action = context.action
    context.action = _RetryCounter(action, call)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        context.action = action


class _RetryCounter(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The action as a RetryHandler sees it: ``.action`` counts attempts as span events."""

    def __init__(self, action: Any, call: _Call) -> None:
        super().__init__(action)
        self._self_call = call

    @property
    def action(self) -> Callable[..., Awaitable[Any]]:
        return partial(_attempt, self._self_call, self.__wrapped__)


async def _attempt(call: _Call, action: Any, *args: Any, **kwargs: Any) -> Any:
    """One retry, as a span of its own under the action's (kind ``retry``): only the action's
    own exception may leave it (falyx counts any exception as a failed attempt)."""
    execution = contained(_attempt_span, call, action)
    if execution is not None:
        contained(execution.activate)
    try:
        result = await action.action(*args, **kwargs)
    except BaseException as exc:
        if execution is not None:
            contained(_ended, execution, exc, MISSING)
        if isinstance(exc, Exception):  # cancelled: falyx's bookkeeping is not ours
            contained(_attempt_ended, call, action, exc)
        raise
    if execution is not None:
        contained(_ended, execution, None, result)
    contained(_attempt_ended, call, action, None)
    return result


def _ended(execution: ExecutionSpan, exception: BaseException | None, result: Any) -> None:
    """Leave a span's context and end it with what the work did."""
    execution.deactivate()
    if exception is None:
        execution.finish(result)
    else:
        execution.finish(exception=exception)


def _attempt_span(call: _Call, action: Any) -> ExecutionSpan:
    number = call.attempts + 1
    return ExecutionSpan(get_tracer(_SCOPE), f"{action.name} retry {number}",
                         kind=semconv.KIND_RETRY, framework=semconv.FRAMEWORK_FALYX,
                         attributes={semconv.FALYX_RETRY_ATTEMPT: number,
                                     semconv.EXEC_RECORDED: False})


def _attempt_ended(call: _Call, action: Any, error: Exception | None) -> None:
    call.attempts += 1
    policy = action.retry_policy
    event: dict[str, Any] = {
        semconv.FALYX_RETRY_ATTEMPT: call.attempts,
        semconv.FALYX_RETRY_DELAY: float(policy.delay * policy.backoff ** (call.attempts - 1))}
    if error is None:
        call.recovered = True
        event[semconv.FALYX_RETRY_OUTCOME] = "succeeded"
    else:
        event[semconv.FALYX_RETRY_OUTCOME] = "failed"
        event.update(exception_attributes(error))
    call.execution.add_event(semconv.FALYX_RETRY_EVENT, event)


class _Rollback(ContextScope):
    """A chain's rollback (its span current while falyx runs the handlers), counting the
    handlers that ran and failed."""

    __slots__ = ("execution", "failed", "ran")

    def __init__(self, execution: ExecutionSpan) -> None:
        self.execution = execution
        self.ran = self.failed = 0


def _start_rollback(instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> _Rollback | None:
    """A span for a chain's rollback, when an action on its stack has a handler to run."""
    stack = argument(args, kwargs, 0, "rollback_stack", ())
    if not any(getattr(action, "rollback", None) for action, *_ in stack):
        return None  # falyx runs nothing: no rollback happened
    return _Rollback(ExecutionSpan(get_tracer(_SCOPE), f"rollback {instance.name}",
                                   kind=semconv.KIND_ROLLBACK,
                                   framework=semconv.FRAMEWORK_FALYX,
                                   attributes={semconv.EXEC_RECORDED: False}))


def _reporting_stack(rollback: _Rollback, args: tuple[Any, ...], kwargs: dict[str, Any],
                     ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The stack falyx's ``_rollback`` walks, each action standing in with a handler whose
    run is a span under the rollback (the actions and the context's own list untouched)."""
    stack = argument(args, kwargs, 0, "rollback_stack", ())
    stand_ins = [(_HandlerReporting(action, rollback), *rest) for action, *rest in stack]
    if args:
        return (stand_ins, *args[1:]), kwargs
    return args, {**kwargs, "rollback_stack": stand_ins}


class _HandlerReporting(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An action on a rollback stack whose ``rollback`` handler, when falyx runs it, is a
    span (kind ``rollback``, named after the action) under the chain's rollback."""

    def __init__(self, action: Any, rollback: _Rollback) -> None:
        super().__init__(action)
        self._self_rollback = rollback

    @property
    def rollback(self) -> Any:
        handler = self.__wrapped__.rollback
        if not handler:
            return handler
        action, rollback = self.__wrapped__, self._self_rollback

        async def run(*args: Any, **kwargs: Any) -> Any:
            return await _run_handler(action, rollback, handler, args, kwargs)

        return run


async def _run_handler(action: Any, rollback: _Rollback, handler: Callable[..., Any],
                       args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Await one rollback handler as falyx would, in a span of its own."""
    execution = contained(_handler_span, action, args, kwargs)
    if execution is None:
        return await handler(*args, **kwargs)
    rollback.ran += 1
    contained(execution.activate)
    try:
        result = await handler(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, Exception):
            rollback.failed += 1
        contained(_ended, execution, exc, MISSING)
        raise
    contained(_ended, execution, None, result)
    return result


def _handler_span(action: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ExecutionSpan:
    return ExecutionSpan(get_tracer(_SCOPE), f"rollback {action.name}",
                         kind=semconv.KIND_ROLLBACK, framework=semconv.FRAMEWORK_FALYX,
                         attributes={semconv.EXEC_RECORDED: False}, args=args, kwargs=kwargs)


def _end_rollback(rollback: _Rollback, exception: BaseException | None, result: Any) -> None:
    """The rollback's verdict: how many handlers ran and failed; failed if any did."""
    attributes = {semconv.FALYX_ROLLBACK_COUNT: rollback.ran,
                  semconv.FALYX_ROLLBACK_FAILED: rollback.failed}
    if exception is None and rollback.failed:
        rollback.execution.finish(
            status=ExecStatus.FAILED, attributes=attributes,
            description=f"{rollback.failed} of {rollback.ran} rollback handler(s) failed")
    else:
        rollback.execution.finish(exception=exception, attributes=attributes)


def _wrap_submit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    """Carry the trace context into a falyx ProcessAction / ProcessPoolAction worker."""
    carrier = contained(_process_carrier, args) if args else None
    if carrier is None:
        return wrapped(*args, **kwargs)
    return wrapped(partial(run_with_trace_context, carrier, args[0]), *args[1:], **kwargs)


def _process_carrier(args: tuple[Any, ...]) -> dict[str, str] | None:
    active = _ACTIVE.get()
    if (active is None or not instrumentation_enabled()
            or not isinstance(active.instance, _falyx["process_actions"])):
        return None
    carrier: dict[str, str] = {}
    inject(carrier)
    active.execution.set_attributes({semconv.FALYX_PROCESS_PROPAGATED: True})
    return carrier


def run_with_trace_context(carrier: dict[str, str], func: Callable[..., Any], *args: Any,
                           **kwargs: Any) -> Any:
    """Run ``func`` in a worker process under the caller's trace context; flush spans after."""
    token = context_api.attach(extract(carrier))
    try:
        return func(*args, **kwargs)
    finally:
        context_api.detach(token)
        from opentelemetry import trace

        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush is not None:
            contained(flush, 5_000)


_wrap_call = around_async(_start_call, _finish_call)

#: Both directions are driven by these tables.
PATCHES: tuple[WrapPoint, ...] = (
    Replace("falyx.action.base_action", "BaseAction.__call__", _wrap_call),
    Replace("falyx.action.io_action", "BaseIOAction.__call__", _wrap_call),
    Replace("falyx.command", "Command.__call__", _wrap_call),
    Replace("falyx.execution_registry", "ExecutionRegistry.record",
          replacing(_recorded, after=True, always=True), params=("context",)),
    Replace("falyx.action.chained_action", "ChainedAction._rollback",
          around_async(_start_rollback, _end_rollback, _reporting_stack),
          params=("rollback_stack",),
          optional=True),
)
_TRIGGER = Patch("falyx.hook_manager", "HookManager.trigger", _counting_trigger,
                 params=("hook_type", "context"))
"""Not applied: the method ``_counting_trigger`` stands in for on a retrying action's hook
manager, checked as a patch target would be."""
PROCESS_PATCHES: tuple[WrapPoint, ...] = (
    Patch("concurrent.futures.process", "ProcessPoolExecutor.submit", _wrap_submit,
          params=("fn",)),
)


class FalyxInstrumentor(ExecInstrumentor):
    """``BaseInstrumentor`` for falyx; ``instrument(propagate_to_processes=True)`` also carries
    the trace context into ProcessAction / ProcessPoolAction workers."""

    scope = _SCOPE
    framework = "falyx"
    module = "falyx"
    numbers_own = True
    instruments = _instruments

    def patches(self, **options: Any) -> tuple[WrapPoint, ...]:
        from falyx.action.process_action import ProcessAction
        from falyx.action.process_pool_action import ProcessPoolAction
        from falyx.context import ExecutionContext
        from falyx.hook_manager import HookType
        from falyx.retry import RetryHandler
        from falyx.signals import FlowSignal

        unreadable = check(_TRIGGER)  # counting calls it with the arguments as they came
        if unreadable is not None:
            _logger.warning("otel_exec: falyx retry attempts are not counted: %s", unreadable)
        _falyx.update(ON_ERROR=HookType.ON_ERROR, RetryHandler=RetryHandler,
                      FlowSignal=FlowSignal, process_actions=(ProcessAction, ProcessPoolAction),
                      count_retries=unreadable is None,
                      read_exception=private_reader("exception") if kept_privately(
                          lambda: ExecutionContext(name="probe", action=None), "exception")
                      else None)
        return (*PATCHES, *PROCESS_PATCHES) if options.get("propagate_to_processes") else PATCHES

    def _uninstrument(self, **kwargs: Any) -> None:
        super()._uninstrument(**kwargs)
        _stop_counting_retries()
