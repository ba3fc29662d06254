"""routilux 0.10 / 0.11 (the seeds' API): ``Flow.execute`` → ``JobState``, handlers called by
slots on the caller's thread (entry) and the flow's thread pool (downstream)."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Link

from otel_exec import semconv
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec.instrumentation._patching import Patch

from otel_exec.instrumentation.routilux._jobs import (
    _DELIVERY,
    _ROUTINE,
    _STATUSES,
    _TASK,
    _deliver,
    _job_of,
    _strategy_status,
    _text,
    _tracer,
    bind_job,
    job_control,
    run_job,
)


class _Call:
    """One routine handler call of routilux 0.11 and the error routilux recorded for it."""

    __slots__ = ("error", "execution")

    def __init__(self, execution: ExecutionSpan) -> None:
        self.execution = execution
        self.error: BaseException | None = None


_CALL: ContextVar[_Call | None] = ContextVar("otel_exec_routilux_call", default=None)


def _wrap_execute_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    return run_job(wrapped, args, kwargs, flow=str(getattr(instance, "flow_id", "flow")),
                   entry=args[0] if args else kwargs.get("entry_routine_id"),
                   data=args[1] if len(args) > 1 else kwargs.get("entry_params"),
                   entry_inline=True)


def _wrap_job_state_init(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    bind_job(instance, str(instance.job_id), None)
    return outcome


def _wrap_task_init_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    if not is_instrumentation_enabled():
        return outcome
    from routilux.routine import _current_job_state

    job = _job_of(instance.job_state) or _job_of(_current_job_state.get(None))
    emitter = _ROUTINE.get()
    link = None
    if emitter is not None:
        connection = instance.connection
        event = (getattr(connection, "_source_event_name", None)
                 or getattr(getattr(connection, "source_event", None), "name", ""))
        link = Link(emitter.span.get_span_context(), {semconv.ROUTILUX_EVENT: str(event)})
    setattr(instance, _TASK, (job, link))
    if job is not None:
        job.task_made()
    return outcome


def _wrap_execute_task_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Any:
    task = args[0] if args else kwargs.get("task")
    return _deliver(getattr(task, _TASK, None), partial(wrapped, *args, **kwargs))


def _wrap_handler_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
    """A slot calls its routine's handler: the routine span (entry: call_handler on the caller's
    thread; downstream: receive on the flow's pool)."""
    routine = getattr(instance, "routine", None)
    if routine is None or not is_instrumentation_enabled() or _CALL.get() is not None:
        return wrapped(*args, **kwargs)
    from routilux.routine import _current_job_state

    marker = _DELIVERY.get()
    job, emitter = marker if marker is not None else (None, None)
    job = job or _job_of(kwargs.get("job_state")) or _job_of(_current_job_state.get(None))
    flow = kwargs.get("flow") or getattr(routine, "_current_flow", None)
    routine_id = str((flow._get_routine_id(routine) if flow is not None else None)
                     or type(routine).__name__)
    attributes: dict[str, Any] = {semconv.ROUTILUX_ROUTINE_ID: routine_id,
                                  semconv.ROUTILUX_SLOT: str(instance.name)}
    if job is not None:
        attributes[semconv.ROUTILUX_JOB_ID] = job.job_id
    if flow is not None:
        attributes[semconv.ROUTILUX_FLOW] = str(flow.flow_id)
    data = args[0] if args else kwargs.get("data")
    execution = ExecutionSpan(
        _tracer(), f"routine {routine_id}", kind=semconv.KIND_ROUTINE,
        framework=semconv.FRAMEWORK_ROUTILUX, attributes=attributes,
        links=[emitter] if emitter is not None else None,
        parent=job.execution.context if job is not None else None, args=(data,))
    call = _Call(execution)
    call_token, routine_token = _CALL.set(call), _ROUTINE.set(execution)
    execution.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.error = exc
        raise
    finally:
        execution.deactivate()
        _ROUTINE.reset(routine_token)
        _CALL.reset(call_token)
        if call.error is None:
            execution.finish()
        else:
            status = _strategy_status(flow, routine, routine_id, execution)
            if status is ExecStatus.FAILED and job is not None:
                job.failed = True
            execution.finish(exception=call.error, status=status)
    return result


_ERROR_RECORDS = frozenset({"error", "error_continued", "validation_failed"})


def _wrap_record_execution(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Any:
    """routilux 0.11 swallows handler errors, recording them from inside its ``except``: the
    live exception is the routine's."""
    outcome = wrapped(*args, **kwargs)
    event_name = args[1] if len(args) > 1 else kwargs.get("event_name")
    call = _CALL.get()
    if call is not None and event_name in _ERROR_RECORDS and call.error is None:
        call.error = sys.exc_info()[1] or RuntimeError(str(event_name))
    return outcome


def _wrap_emit_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    emitter = _ROUTINE.get()
    if emitter is not None and is_instrumentation_enabled():
        data = {k: v for k, v in kwargs.items() if k not in ("flow", "job_state")}
        emitter.add_event(semconv.ROUTILUX_EMIT_EVENT, {
            semconv.ROUTILUX_EVENT: str(instance.name),
            semconv.ROUTILUX_TARGET_SLOTS: len(getattr(instance, "connected_slots", ())),
            semconv.EXEC_ARGS: _text(data)})
    return wrapped(*args, **kwargs)


def _wrap_wait_011(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """0.11 settles a job's status inside ``JobState.wait_for_completion``: end with it."""
    outcome = wrapped(*args, **kwargs)
    job_state = args[1] if len(args) > 1 else kwargs.get("job_state")
    job = _job_of(job_state)
    status = _STATUSES.get(str(getattr(job_state, "status", "")))
    if job is not None and outcome and status is not None:
        job.end(status, "wait_for_completion")
    return outcome


def _wrap_flow_control_011(event_name: str, wrapped: Callable[..., Any], instance: Any,
                           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    job_state = args[0] if args else kwargs.get("job_state")
    job = _job_of(job_state)
    if job is not None:
        job_control(job, event_name, args[1] if len(args) > 1 else kwargs.get("reason", ""))
    return outcome


PATCHES_011: tuple[Patch, ...] = (
    ("routilux.flow.flow", "Flow.execute", _wrap_execute_011),
    ("routilux.job_state", "JobState.__init__", _wrap_job_state_init),
    ("routilux.job_state", "JobState.record_execution", _wrap_record_execution),
    ("routilux.job_state", "JobState.wait_for_completion", _wrap_wait_011),
    ("routilux.flow.task", "SlotActivationTask.__post_init__", _wrap_task_init_011),
    ("routilux.flow.event_loop", "execute_task", _wrap_execute_task_011),
    ("routilux.slot", "Slot.call_handler", _wrap_handler_011),
    ("routilux.slot", "Slot.receive", _wrap_handler_011),
    ("routilux.event", "Event.emit", _wrap_emit_011),
    ("routilux.flow.flow", "Flow.pause",
     partial(_wrap_flow_control_011, semconv.ROUTILUX_PAUSED_EVENT)),
    ("routilux.flow.flow", "Flow.resume",
     partial(_wrap_flow_control_011, semconv.ROUTILUX_RESUMED_EVENT)),
    ("routilux.flow.flow", "Flow.cancel",
     partial(_wrap_flow_control_011, semconv.ROUTILUX_CANCELLED_EVENT)),
)


