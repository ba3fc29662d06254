"""routilux 1.x: ``Runtime.post`` jobs, routines run by ``_check_routine_activation`` on the
worker pool or the worker's event-loop thread."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import wrapt
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
    _META,
    _ROUTINE,
    _STATUSES,
    _TASK,
    _deliver,
    _Job,
    _job_of,
    _jobs,
    _strategy_status,
    _text,
    _tracer,
    _wrap_lock,
    _wrapped_routines,
    bind_job,
    job_control,
    run_job,
)


def _wrap_post(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    return run_job(wrapped, args, kwargs,
                   flow=str(args[0] if args else kwargs.get("flow_name")),
                   entry=args[1] if len(args) > 1 else kwargs.get("routine_name"),
                   data=args[3] if len(args) > 3 else kwargs.get("data"), entry_inline=False)


def _wrap_job_start(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    """Bind the job span to the JobContext before ``post`` enqueues the first task."""
    outcome = wrapped(*args, **kwargs)
    bind_job(instance, str(instance.job_id), str(instance.worker_id))
    return outcome


def _wrap_job_complete(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    job = _job_of(instance)
    if job is not None:
        status = str(getattr(instance.status, "value", instance.status))
        error = instance.error
        job.end(_STATUSES.get(status, ExecStatus.COMPLETED), "complete_job",
                None if error is None else str(error))
    return outcome


def _wrap_task_init(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    """A task is made (in the emitting thread): remember its job and its emitter."""
    outcome = wrapped(*args, **kwargs)
    if not is_instrumentation_enabled():
        return outcome
    job = _job_of(instance.job_context)
    if job is None:
        from routilux.core.context import get_current_job

        job = _job_of(get_current_job())
    emitter = _ROUTINE.get()
    event = getattr(instance, "event", None)
    link = None
    if emitter is not None:
        link = Link(emitter.span.get_span_context(),
                    {semconv.ROUTILUX_EVENT: str(getattr(event, "name", ""))})
    marker = (job, link)
    event_data = getattr(instance, "event_data", None)
    if isinstance(event_data, dict) and isinstance(event_data.get("metadata"), dict):
        event_data["metadata"][_META] = marker  # handle_event_emit never sees the task
        if emitter is not None:
            _emission(emitter, instance)
    else:
        setattr(instance, _TASK, marker)
    if job is not None:
        job.task_made()
    return outcome


def _emission(emitter: ExecutionSpan, task: Any) -> None:
    event = task.event
    targets = [str(getattr(getattr(slot, "routine", None), "name", None) or slot.name)
               for slot in getattr(event, "connected_slots", ())]
    data = task.event_data.get("data")
    emitter.add_event(semconv.ROUTILUX_EMIT_EVENT, {
        semconv.ROUTILUX_EVENT: str(event.name),
        semconv.ROUTILUX_TARGET_SLOTS: len(targets),
        semconv.EXEC_ARGS: _text(data)})


def _wrap_execute_task(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    task = args[0] if args else kwargs.get("task")
    return _deliver(getattr(task, _TASK, None), partial(wrapped, *args, **kwargs))


def _wrap_handle_emit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
    event_data = args[1] if len(args) > 1 else kwargs.get("event_data")
    metadata = event_data.get("metadata") if isinstance(event_data, dict) else None
    marker = metadata.pop(_META, None) if isinstance(metadata, dict) else None
    return _deliver(marker, partial(wrapped, *args, **kwargs))


def _wrap_check_activation(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Any:
    """Install (once per routine) the logic wrapper that makes the routine span."""
    routine: Any = args[0] if args else kwargs.get("routine")
    logic = getattr(routine, "_logic", None)
    if logic is not None and not isinstance(logic, wrapt.FunctionWrapper):
        with _wrap_lock:
            logic = routine._logic
            if not isinstance(logic, wrapt.FunctionWrapper):
                routine._logic = wrapt.FunctionWrapper(logic, partial(_wrap_logic, routine))
                _wrapped_routines.add(routine)
    return wrapped(*args, **kwargs)


def _routine_id(routine: Any, worker_state: Any) -> tuple[str, Any]:
    from routilux.core.context import get_current_execution_context

    context = get_current_execution_context()
    flow = getattr(context, "flow", None)
    routine_id = getattr(context, "routine_id", None)
    if flow is None or not routine_id or flow.routines.get(routine_id) is not routine:
        from routilux.core.registry import FlowRegistry

        flow = FlowRegistry.get_instance().get(getattr(worker_state, "flow_id", ""))
        routine_id = flow._get_routine_id(routine) if flow is not None else None
    return str(routine_id or getattr(routine, "name", None) or type(routine).__name__), flow


def _wrap_logic(routine: Any, wrapped: Callable[..., Any], instance: Any,
                args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    marker = _DELIVERY.get()
    job, emitter = marker if marker is not None else (None, None)
    if job is None:
        from routilux.core.context import get_current_job

        job = _job_of(get_current_job())
    routine_id, flow = _routine_id(routine, kwargs.get("worker_state"))
    attributes: dict[str, Any] = {semconv.ROUTILUX_ROUTINE_ID: routine_id}
    if job is not None:
        attributes[semconv.ROUTILUX_JOB_ID] = job.job_id
    if flow is not None:
        attributes[semconv.ROUTILUX_FLOW] = str(flow.flow_id)
    execution = ExecutionSpan(
        _tracer(), f"routine {routine_id}", kind=semconv.KIND_ROUTINE,
        framework=semconv.FRAMEWORK_ROUTILUX, attributes=attributes,
        links=[emitter] if emitter is not None else None,
        parent=job.execution.context if job is not None else None,
        args=args, kwargs={k: v for k, v in kwargs.items() if k != "worker_state"})
    token = _ROUTINE.set(execution)
    execution.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.deactivate()
        _ROUTINE.reset(token)
        status = _strategy_status(flow, routine, routine_id, execution)
        if status is ExecStatus.FAILED and job is not None:
            job.failed = True
        execution.finish(exception=exc, status=status)
        raise
    execution.deactivate()
    _ROUTINE.reset(token)
    execution.finish(result)
    return result


def _worker_jobs(executor: Any) -> list[_Job]:
    worker_id = str(getattr(getattr(executor, "worker_state", None), "worker_id", ""))
    return [job for job in list(_jobs.values()) if job.worker_id == worker_id]


def _wrap_worker_control(event_name: str, wrapped: Callable[..., Any], instance: Any,
                         args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``WorkerExecutor.pause/resume/cancel``: for every job of that worker."""
    outcome = wrapped(*args, **kwargs)
    reason = args[0] if args else kwargs.get("reason", "")
    for job in _worker_jobs(instance):
        job_control(job, event_name, reason)
    return outcome


PATCHES: tuple[Patch, ...] = (
    ("routilux.core.runtime", "Runtime.post", _wrap_post),
    ("routilux.core.context", "JobContext.start", _wrap_job_start),
    ("routilux.core.context", "JobContext.complete", _wrap_job_complete),
    ("routilux.core.task", "SlotActivationTask.__post_init__", _wrap_task_init),
    ("routilux.core.task", "EventRoutingTask.__post_init__", _wrap_task_init),
    ("routilux.core.executor", "WorkerExecutor._execute_task", _wrap_execute_task),
    ("routilux.core.runtime", "Runtime.handle_event_emit", _wrap_handle_emit),
    ("routilux.core.runtime", "Runtime._check_routine_activation", _wrap_check_activation),
    ("routilux.core.executor", "WorkerExecutor.pause",
     partial(_wrap_worker_control, semconv.ROUTILUX_PAUSED_EVENT)),
    ("routilux.core.executor", "WorkerExecutor.resume",
     partial(_wrap_worker_control, semconv.ROUTILUX_RESUMED_EVENT)),
    ("routilux.core.executor", "WorkerExecutor.cancel",
     partial(_wrap_worker_control, semconv.ROUTILUX_CANCELLED_EVENT)),
)


