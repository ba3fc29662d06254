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

import logging
import sys
import threading
import weakref
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Link

from otel_exec import semconv
from otel_exec.instrumentation._patching import Patch, apply, restore
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, get_tracer

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from opentelemetry.trace import Tracer

_instruments = ("routilux >= 0.10",)
_SCOPE = "otel_exec.routilux"
_JOB = "_otel_exec_job"
_TASK = "_otel_exec_task"
_META = "_otel_exec"
DEFAULT_QUIET_PERIOD = 0.05
_logger = logging.getLogger(__name__)
_options: dict[str, Any] = {"quiet_period": DEFAULT_QUIET_PERIOD}

_STATUSES = {"completed": ExecStatus.COMPLETED, "failed": ExecStatus.FAILED,
             "cancelled": ExecStatus.CANCELLED, "paused": ExecStatus.PAUSED}


def _tracer() -> Tracer:
    return get_tracer(_SCOPE, _options.get("provider"))


class _Job:
    """A job's span, its tasks in flight and the verdict of its routines."""

    __slots__ = ("__weakref__", "ended", "execution", "failed", "in_flight", "job_id", "lock",
                 "timer", "worker_id")

    def __init__(self, execution: ExecutionSpan, job_id: str, worker_id: str) -> None:
        self.execution = execution
        self.job_id = job_id
        self.worker_id = worker_id
        self.in_flight = 0
        self.failed = False
        self.ended = False
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()

    def task_made(self) -> None:
        with self.lock:
            self.in_flight += 1
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def task_done(self) -> None:
        with self.lock:
            self.in_flight -= 1
            if self.in_flight > 0 or self.ended:
                return
            self.timer = threading.Timer(_options["quiet_period"], self.settle)
            self.timer.daemon = True
            self.timer.start()

    def settle(self) -> None:
        """Nothing left in flight for the quiet period: the job is over."""
        with self.lock:
            if self.in_flight > 0:
                return
        self.end(ExecStatus.FAILED if self.failed else ExecStatus.COMPLETED, "idle")

    def end(self, status: ExecStatus, how: str, error: str | None = None) -> None:
        with self.lock:
            if self.ended:
                return
            self.ended = True
            if self.timer is not None:
                self.timer.cancel()
        _jobs.pop(self.job_id, None)
        self.execution.finish(status=status, description=error,
                              attributes={semconv.ROUTILUX_JOB_END: how})


_jobs: dict[str, _Job] = {}
_POSTING: ContextVar[dict[str, Any] | None] = ContextVar("otel_exec_routilux_post", default=None)
_DELIVERY: ContextVar[tuple[_Job | None, Link | None] | None] = ContextVar(
    "otel_exec_routilux_delivery", default=None)
_ROUTINE: ContextVar[ExecutionSpan | None] = ContextVar("otel_exec_routilux_routine",
                                                         default=None)
_wrapped_routines: weakref.WeakSet[Any] = weakref.WeakSet()
_wrap_lock = threading.Lock()


def _job_of(job_context: Any) -> _Job | None:
    return getattr(job_context, _JOB, None) if job_context is not None else None


def _wrap_post(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    flow_name = str(args[0] if args else kwargs.get("flow_name"))
    routine_name = args[1] if len(args) > 1 else kwargs.get("routine_name")
    data = args[3] if len(args) > 3 else kwargs.get("data")
    execution = ExecutionSpan(_tracer(), f"job {flow_name}", kind=semconv.KIND_JOB,
                              framework=semconv.FRAMEWORK_ROUTILUX,
                              attributes={semconv.ROUTILUX_FLOW: flow_name,
                                          semconv.ROUTILUX_ENTRY: str(routine_name)},
                              args=(data,))
    posting: dict[str, Any] = {"execution": execution, "job": None}
    token = _POSTING.set(posting)
    execution.activate()
    try:
        outcome = wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.deactivate()
        _POSTING.reset(token)
        job = posting["job"]
        if job is not None:
            _jobs.pop(job.job_id, None)
            job.ended = True
        execution.finish(exception=exc)
        raise
    execution.deactivate()
    _POSTING.reset(token)
    return outcome


def _wrap_job_start(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    """Bind the job span to the JobContext before ``post`` enqueues the first task."""
    outcome = wrapped(*args, **kwargs)
    posting = _POSTING.get()
    if posting is not None and posting["job"] is None:
        execution: ExecutionSpan = posting["execution"]
        job = _Job(execution, str(instance.job_id), str(instance.worker_id))
        execution.set_attributes({semconv.ROUTILUX_JOB_ID: job.job_id,
                                  semconv.ROUTILUX_WORKER_ID: job.worker_id})
        setattr(instance, _JOB, job)
        posting["job"] = job
        _jobs[job.job_id] = job
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


def _text(value: Any) -> str:
    from otel_exec.values import policy

    return policy().text(value)


def _deliver(marker: tuple[_Job | None, Link | None] | None,
             run: Callable[[], Any]) -> Any:
    token = _DELIVERY.set(marker)
    try:
        return run()
    finally:
        _DELIVERY.reset(token)
        job = marker[0] if marker is not None else None
        if job is not None:
            job.task_done()


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


def _strategy_status(flow: Any, routine: Any, routine_id: str,
                     execution: ExecutionSpan) -> ExecStatus:
    """The routine's verdict under its error strategy (resolved as routilux resolves it)."""
    handler = None
    try:
        if flow is not None:
            handler = flow._get_error_handler_for_routine(routine, routine_id)
    except Exception:
        _logger.debug("otel_exec: no error handler for %s", routine_id, exc_info=True)
    strategy = str(getattr(getattr(handler, "strategy", None), "value", "") or "stop")
    execution.set_attributes({semconv.ROUTILUX_STRATEGY: strategy})
    if strategy == "continue":
        return ExecStatus.ERROR_CONTINUED
    if strategy == "skip":
        return ExecStatus.SKIPPED
    if strategy == "retry":
        execution.add_event(semconv.ROUTILUX_RETRY_EVENT, {
            semconv.ROUTILUX_RETRY_COUNT: int(getattr(handler, "retry_count", 0)) + 1,
            semconv.ROUTILUX_RETRY_MAX: int(getattr(handler, "max_retries", 0))})
    return ExecStatus.FAILED


def _worker_jobs(executor: Any) -> list[_Job]:
    worker_id = str(getattr(getattr(executor, "worker_state", None), "worker_id", ""))
    return [job for job in list(_jobs.values()) if job.worker_id == worker_id]


def _wrap_pause(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    reason = args[0] if args else kwargs.get("reason", "")
    for job in _worker_jobs(instance):
        job.execution.add_event(semconv.ROUTILUX_PAUSED_EVENT,
                                {semconv.ROUTILUX_REASON: str(reason)})
    return outcome


def _wrap_resume(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    for job in _worker_jobs(instance):
        job.execution.add_event(semconv.ROUTILUX_RESUMED_EVENT)
    return outcome


def _wrap_cancel(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    reason = args[0] if args else kwargs.get("reason", "")
    for job in _worker_jobs(instance):
        job.execution.add_event(semconv.ROUTILUX_CANCELLED_EVENT,
                                {semconv.ROUTILUX_REASON: str(reason)})
        job.end(ExecStatus.CANCELLED, "cancel", str(reason) or None)
    return outcome


# routilux 0.10 / 0.11: Flow.execute -> JobState, handlers called by slots, per-Flow pool ----------
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
    flow_id = str(getattr(instance, "flow_id", "flow"))
    entry = args[0] if args else kwargs.get("entry_routine_id")
    params = args[1] if len(args) > 1 else kwargs.get("entry_params")
    execution = ExecutionSpan(_tracer(), f"job {flow_id}", kind=semconv.KIND_JOB,
                              framework=semconv.FRAMEWORK_ROUTILUX,
                              attributes={semconv.ROUTILUX_FLOW: flow_id,
                                          semconv.ROUTILUX_ENTRY: str(entry)},
                              args=(params,))
    posting: dict[str, Any] = {"execution": execution, "job": None, "flow": flow_id}
    token = _POSTING.set(posting)
    execution.activate()
    try:
        outcome = wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.deactivate()
        _POSTING.reset(token)
        job = posting["job"]
        if job is None:
            execution.finish(exception=exc)
        else:
            job.failed = True
            job.task_done()
        raise
    execution.deactivate()
    _POSTING.reset(token)
    job = posting["job"]
    if job is not None:
        job.task_done()  # the entry routine ran on the caller's thread
    return outcome


def _wrap_job_state_init(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    posting = _POSTING.get()
    if posting is not None and posting["job"] is None:
        execution: ExecutionSpan = posting["execution"]
        job = _Job(execution, str(instance.job_id), posting["flow"])
        execution.set_attributes({semconv.ROUTILUX_JOB_ID: job.job_id})
        setattr(instance, _JOB, job)
        posting["job"] = job
        _jobs[job.job_id] = job
        job.task_made()
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
        reason = args[1] if len(args) > 1 else kwargs.get("reason", "")
        job.execution.add_event(event_name, {semconv.ROUTILUX_REASON: str(reason or "")})
        if event_name == semconv.ROUTILUX_CANCELLED_EVENT:
            job.end(ExecStatus.CANCELLED, "cancel", str(reason) or None)
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


PATCHES: tuple[Patch, ...] = (
    ("routilux.core.runtime", "Runtime.post", _wrap_post),
    ("routilux.core.context", "JobContext.start", _wrap_job_start),
    ("routilux.core.context", "JobContext.complete", _wrap_job_complete),
    ("routilux.core.task", "SlotActivationTask.__post_init__", _wrap_task_init),
    ("routilux.core.task", "EventRoutingTask.__post_init__", _wrap_task_init),
    ("routilux.core.executor", "WorkerExecutor._execute_task", _wrap_execute_task),
    ("routilux.core.runtime", "Runtime.handle_event_emit", _wrap_handle_emit),
    ("routilux.core.runtime", "Runtime._check_routine_activation", _wrap_check_activation),
    ("routilux.core.executor", "WorkerExecutor.pause", _wrap_pause),
    ("routilux.core.executor", "WorkerExecutor.resume", _wrap_resume),
    ("routilux.core.executor", "WorkerExecutor.cancel", _wrap_cancel),
)


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

