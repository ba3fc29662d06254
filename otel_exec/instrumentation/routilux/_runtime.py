"""routilux 1.x: ``Runtime.post`` jobs, routines run by ``_check_routine_activation`` on the
worker pool or the worker's event-loop thread.

A routine's logic is either set with ``set_logic()`` (an instance attribute, ``_logic``) or a
``logic()`` method of its class (the subclass style routilux falls back to). The first is
wrapped on the instance, the second once on the class that defines it; both wrappers make a
span only while routilux activates that routine (``ACTIVATING``), so a clone that copies a
wrapped ``_logic`` and a direct call of ``logic()`` outside a job behave as before.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from typing import TYPE_CHECKING, Any

import wrapt

from otel_exec import semconv
from otel_exec._context import current, instrumentation_enabled
from otel_exec.execution import MISSING
from otel_exec.instrumentation._patching import Patch, Replace, WrapPoint
from otel_exec.instrumentation._wrappers import (
    argument,
    around,
    binding,
    contained,
    failed,
    leave,
    observe,
    replacing,
)
from otel_exec.instrumentation.routilux._jobs import (
    ACTIVATING,
    CALL,
    DELIVERY,
    META,
    STATUSES,
    TASK,
    Job,
    Marker,
    Posting,
    RoutineCall,
    bind_job,
    delivered,
    finish_routine,
    job_control,
    job_of,
    jobs,
    posted,
    start_routine,
    task_made,
    text,
)
from otel_exec.semconv import ExecStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_routilux: dict[str, Any] = {}
"""The routilux 1.x functions the wrappers call, imported once by ``import_routilux`` (not
by an import statement in each call)."""


def import_routilux() -> None:
    """Import what the wrappers call (at instrument time: a release without it is not
    instrumented)."""
    from routilux.core.context import get_current_execution_context, get_current_job
    from routilux.core.registry import FlowRegistry

    _routilux.update(get_current_job=get_current_job, FlowRegistry=FlowRegistry,
                     get_current_execution_context=get_current_execution_context)


_wrapped_routines: weakref.WeakSet[Any] = weakref.WeakSet()
_wrapped_classes: set[type] = set()
_wrap_lock = threading.Lock()


def _start_post(runtime: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Posting:
    return Posting(str(argument(args, kwargs, 0, "flow_name")),
                   argument(args, kwargs, 1, "routine_name"), argument(args, kwargs, 3, "data"),
                   entry_inline=False)


def _job_started(job_context: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 outcome: Any) -> None:
    """Bind the job span to the JobContext before ``post`` enqueues the first task."""
    bind_job(job_context, str(job_context.job_id), str(job_context.worker_id))


def _job_completed(job_context: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   outcome: Any) -> None:
    job = job_of(job_context)
    if job is not None:
        status = str(getattr(job_context.status, "value", job_context.status))
        error = job_context.error
        job.end(STATUSES.get(status, ExecStatus.COMPLETED), "complete_job",
                None if error is None else str(error))


def _task_made(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
    """A task is made (in the emitting thread): remember its job and its emitter."""
    job = job_of(task.job_context)
    if job is None:
        job = job_of(_routilux["get_current_job"]())
    event = getattr(task, "event", None)
    marker = task_made(job, str(getattr(event, "name", "")))
    event_data = getattr(task, "event_data", None)
    if isinstance(event_data, dict) and isinstance(event_data.get("metadata"), dict):
        event_data["metadata"][META] = marker  # handle_event_emit never sees the task
        emitter = CALL.get()
        if emitter is not None:
            _emission(emitter, task)
    else:
        setattr(task, TASK, marker)


def _emission(emitter: RoutineCall, task: Any) -> None:
    event = task.event
    emitter.execution.add_event(semconv.ROUTILUX_EMIT_EVENT, {
        semconv.ROUTILUX_EVENT: str(event.name),
        semconv.ROUTILUX_TARGET_SLOTS: len(getattr(event, "connected_slots", ())),
        semconv.EXEC_ARGS: text(task.event_data.get("data"))})


def _task_marker(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Marker | None:
    """``WorkerExecutor._execute_task(self, task)``: the marker its task was made with."""
    return getattr(argument(args, kwargs, 1, "task"), TASK, None)


def _event_marker(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Marker | None:
    """``Runtime.handle_event_emit(self, event, event_data, ...)``: the marker its event data
    carries (taken out: routilux hands the data on to the slots)."""
    event_data = argument(args, kwargs, 2, "event_data")
    metadata = event_data.get("metadata") if isinstance(event_data, dict) else None
    return metadata.pop(META, None) if isinstance(metadata, dict) else None


class _Activation:
    """A routine routilux is activating (``Runtime._check_routine_activation``). When its
    logic fails, routilux logs the failure after the logic has returned: the failed call
    stays current (so that line is kept with it) and ends when the activation does."""

    __slots__ = ("failed", "routine")

    def __init__(self, routine: Any) -> None:
        self.routine = routine
        self.failed: tuple[RoutineCall, BaseException, Any] | None = None


def _activating(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Activation | None:
    """``Runtime._check_routine_activation(self, routine, ...)``: the routine, its logic
    wrapped (once), whose span that logic makes wherever it is defined."""
    routine = argument(args, kwargs, 1, "routine")
    if routine is None:
        return None
    _wrap_logic_of(routine)
    return _Activation(routine)


def _activated(activation: _Activation | None) -> None:
    """The activation is over: end the call whose logic failed in it."""
    if activation is not None and activation.failed is not None:
        call, error, before = activation.failed
        activation.failed = None
        leave(call, before)
        finish_routine(call, error, MISSING)


def _wrap_logic_of(routine: Any) -> None:
    """Wrap (once) the logic routilux will run for this routine."""
    logic = getattr(routine, "_logic", None)
    if isinstance(logic, wrapt.FunctionWrapper):
        return
    with _wrap_lock:
        logic = getattr(routine, "_logic", None)
        if logic is not None:
            if not isinstance(logic, wrapt.FunctionWrapper):
                routine._logic = wrapt.FunctionWrapper(logic, _wrap_logic)
                _wrapped_routines.add(routine)
            return
        owner = next((cls for cls in type(routine).__mro__ if "logic" in vars(cls)), None)
        if (owner is not None and owner not in _wrapped_classes
                and inspect.isfunction(vars(owner)["logic"])):
            wrapt.wrap_function_wrapper(owner, "logic", _wrap_logic)
            _wrapped_classes.add(owner)


def _start_logic(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 ) -> RoutineCall | None:
    activation = ACTIVATING.get()
    if activation is None:
        return None
    routine = activation.routine
    marker = DELIVERY.get()
    job: Job | None = marker[0] if marker is not None else None
    if job is None:
        job = job_of(_routilux["get_current_job"]())
    routine_id, flow = _routine_id(routine, kwargs.get("worker_state"))
    return start_routine(routine, routine_id, flow, job, {}, args,
                         {k: v for k, v in kwargs.items() if k != "worker_state"})


def _routine_id(routine: Any, worker_state: Any) -> tuple[str, Any]:
    """The routine's id in its flow, and the flow: from the execution context routilux sets,
    else (a routine its event loop runs) as found the last time in its worker's flow, else
    looked up there (a scan of the flow's routines) and remembered for the next time."""
    context = _routilux["get_current_execution_context"]()
    flow = getattr(context, "flow", None)
    routine_id = getattr(context, "routine_id", None)
    if flow is None or not routine_id or flow.routines.get(routine_id) is not routine:
        flow_id = getattr(worker_state, "flow_id", "")
        try:
            found = _found_ids.get(routine)
        except TypeError:  # a routine that cannot be a weak key (unhashable, slotted)
            found = None
        flow = found[1]() if found is not None and found[0] == flow_id else None
        if flow is not None and flow.routines.get(found[2]) is routine:  # type: ignore[index]
            routine_id = found[2]  # type: ignore[index]
        else:
            flow = _routilux["FlowRegistry"].get_instance().get(flow_id)
            routine_id = flow._get_routine_id(routine) if flow is not None else None
            if routine_id is not None:
                with contextlib.suppress(TypeError):  # no weak reference to one of them
                    _found_ids[routine] = (flow_id, weakref.ref(flow), routine_id)
    return str(routine_id or getattr(routine, "name", None) or type(routine).__name__), flow


_found_ids: weakref.WeakKeyDictionary[Any, tuple[str, weakref.ref[Any], str]] = (
    weakref.WeakKeyDictionary())
"""Where each routine run outside routilux's execution context was last found: its worker's
flow id, that flow, the routine's id in it."""


def _wrap_logic(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    """A routine's logic in its span; a failure's span stays current until the activation
    ends (``_Activation``)."""
    if not instrumentation_enabled():
        return wrapped(*args, **kwargs)
    activation = ACTIVATING.get()  # read before the call's scope hides it
    try:  # each piece of ours contained as ``contained`` does, without its call
        call = _start_logic(instance, args, kwargs)
    except Exception:
        failed(_start_logic)
        call = None
    if call is None:
        return wrapped(*args, **kwargs)
    before = current()
    try:
        call.activate()
    except Exception:
        failed(call.activate)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        if activation is not None and isinstance(exc, Exception):
            activation.failed = (call, exc, before)
        else:
            leave(call, before)
            contained(finish_routine, call, exc, MISSING)
        raise
    leave(call, before)
    try:
        finish_routine(call, None, result)
    except Exception:
        failed(finish_routine)
    return result


def unwrap_logic() -> None:
    """Put back every routine's ``_logic`` and every class's ``logic`` that was wrapped."""
    with _wrap_lock:
        for routine in list(_wrapped_routines):
            logic = getattr(routine, "_logic", None)
            if isinstance(logic, wrapt.FunctionWrapper):
                routine._logic = logic.__wrapped__
        _wrapped_routines.clear()
        for owner in _wrapped_classes:
            logic = vars(owner).get("logic")
            if isinstance(logic, wrapt.FunctionWrapper):
                setattr(owner, "logic", logic.__wrapped__)  # noqa: B010
        _wrapped_classes.clear()


def _worker_jobs(executor: Any) -> Iterator[Job]:
    worker_id = str(getattr(getattr(executor, "worker_state", None), "worker_id", ""))
    return (job for job in list(jobs.values()) if job.worker_id == worker_id)


def _worker_control(event_name: str) -> Any:
    """``WorkerExecutor.pause/resume/cancel``: an event on every job of that worker."""

    def hook(executor: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             outcome: Any) -> None:
        reason = argument(args, kwargs, 0, "reason", "")
        for job in _worker_jobs(executor):
            job_control(job, event_name, reason)

    return observe(hook, always=True)


_CORE = "routilux.core"

PATCHES: tuple[WrapPoint, ...] = (
    Patch(f"{_CORE}.runtime", "Runtime.post", around(_start_post, posted),
          params=("flow_name", "routine_name", "slot_name", "data")),
    Patch(f"{_CORE}.context", "JobContext.start", observe(_job_started)),
    Patch(f"{_CORE}.context", "JobContext.complete", observe(_job_completed, always=True)),
    Replace(f"{_CORE}.task", "SlotActivationTask.__post_init__",
          replacing(_task_made, after=True)),
    Replace(f"{_CORE}.task", "EventRoutingTask.__post_init__",
          replacing(_task_made, after=True)),
    Replace(f"{_CORE}.executor", "WorkerExecutor._execute_task",
          binding(DELIVERY, _task_marker, delivered, always=True), params=("task",)),
    Replace(f"{_CORE}.runtime", "Runtime.handle_event_emit",
          binding(DELIVERY, _event_marker, delivered, always=True),
          params=("event", "event_data")),
    Replace(f"{_CORE}.runtime", "Runtime._check_routine_activation",
          binding(ACTIVATING, _activating, _activated), params=("routine", "worker_state")),
    Patch(f"{_CORE}.executor", "WorkerExecutor.pause",
          _worker_control(semconv.ROUTILUX_PAUSED_EVENT), optional=True),
    Patch(f"{_CORE}.executor", "WorkerExecutor.resume",
          _worker_control(semconv.ROUTILUX_RESUMED_EVENT), optional=True),
    Patch(f"{_CORE}.executor", "WorkerExecutor.cancel",
          _worker_control(semconv.ROUTILUX_CANCELLED_EVENT), optional=True),
)
