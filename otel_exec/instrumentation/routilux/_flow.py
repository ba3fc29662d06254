"""routilux 0.10 / 0.11 (the older API): ``Flow.execute`` → ``JobState``, handlers called by
slots on the caller's thread (entry) and the flow's thread pool (downstream)."""

from __future__ import annotations

import sys
from typing import Any

from otel_exec import semconv
from otel_exec.instrumentation._patching import Patch, Replace, WrapPoint
from otel_exec.instrumentation._wrappers import argument, around, before, binding, observe
from otel_exec.instrumentation.routilux._jobs import (
    CALL,
    DELIVERY,
    STATUSES,
    TASK,
    Marker,
    Posting,
    RoutineCall,
    bind_job,
    delivered,
    finish_routine,
    job_control,
    job_of,
    posted,
    start_routine,
    task_made,
    text,
)


def _start_execute(flow: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Posting:
    return Posting(str(getattr(flow, "flow_id", "flow")),
                   argument(args, kwargs, 0, "entry_routine_id"),
                   argument(args, kwargs, 1, "entry_params"), entry_inline=True)


_routilux: dict[str, Any] = {}
"""What the wrappers read of routilux 0.10 / 0.11, imported once by ``import_routilux``."""


def import_routilux() -> None:
    """Import what the wrappers read (at instrument time: a release without it is not
    instrumented)."""
    from routilux.routine import _current_job_state

    _routilux["current_job_state"] = _current_job_state


def _job_state_made(job_state: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                    outcome: Any) -> None:
    bind_job(job_state, str(job_state.job_id), None)


def _task_made(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
    job = job_of(task.job_state) or job_of(_routilux["current_job_state"].get(None))
    connection = task.connection
    event = (getattr(connection, "_source_event_name", None)
             or getattr(getattr(connection, "source_event", None), "name", ""))
    setattr(task, TASK, task_made(job, str(event)))


def _task_marker(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Marker | None:
    """``execute_task(task, flow)``: the marker its task was made with."""
    return getattr(argument(args, kwargs, 0, "task"), TASK, None)


def _start_handler(slot: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   ) -> RoutineCall | None:
    """A slot calls its routine's handler inside a job: the routine span (entry: call_handler on
    the caller's thread; downstream: receive on the flow's pool)."""
    routine = getattr(slot, "routine", None)
    if routine is None:
        return None
    marker = DELIVERY.get()
    job = ((marker[0] if marker is not None else None) or job_of(kwargs.get("job_state"))
           or job_of(_routilux["current_job_state"].get(None)))
    if job is None:
        return None  # a slot used outside any job (a unit test, a micro-benchmark): no span
    flow = kwargs.get("flow") or getattr(routine, "_current_flow", None)
    routine_id = str((flow._get_routine_id(routine) if flow is not None else None)
                     or type(routine).__name__)
    return start_routine(routine, routine_id, flow, job, {semconv.ROUTILUX_SLOT: str(slot.name)},
                         (argument(args, kwargs, 0, "data"),))


_ERROR_RECORDS = frozenset({"error", "error_continued", "validation_failed"})


def _execution_recorded(job_state: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                        outcome: Any) -> None:
    """routilux 0.11 swallows handler errors, recording them from inside its ``except``: the
    live exception is the routine's."""
    call = CALL.get()
    if (call is not None and call.error is None
            and argument(args, kwargs, 1, "event_name") in _ERROR_RECORDS):
        call.error = sys.exc_info()[1] or RuntimeError(str(argument(args, kwargs, 1,
                                                                    "event_name")))


def _emitting(event: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    emitter = CALL.get()
    if emitter is not None:
        data = {k: v for k, v in kwargs.items() if k not in ("flow", "job_state")}
        emitter.execution.add_event(semconv.ROUTILUX_EMIT_EVENT, {
            semconv.ROUTILUX_EVENT: str(event.name),
            semconv.ROUTILUX_TARGET_SLOTS: len(getattr(event, "connected_slots", ())),
            semconv.EXEC_ARGS: text(data)})


def _waited(flow: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
    """0.11 settles a job's status inside ``JobState.wait_for_completion``: end with it."""
    job_state = argument(args, kwargs, 1, "job_state")
    job = job_of(job_state)
    status = STATUSES.get(str(getattr(job_state, "status", "")))
    if job is not None and outcome and status is not None:
        job.end(status, "wait_for_completion")


def _flow_control(event_name: str) -> Any:
    """``Flow.pause/resume/cancel(job_state, reason)``: an event on that job's span."""

    def hook(flow: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
        job = job_of(argument(args, kwargs, 0, "job_state"))
        if job is not None:
            job_control(job, event_name, argument(args, kwargs, 1, "reason", ""))

    return observe(hook, always=True)


_wrap_handler = around(_start_handler, finish_routine)

PATCHES_011: tuple[WrapPoint, ...] = (
    Patch("routilux.flow.flow", "Flow.execute", around(_start_execute, posted),
          params=("entry_routine_id", "entry_params")),
    Patch("routilux.job_state", "JobState.__init__", observe(_job_state_made)),
    Patch("routilux.job_state", "JobState.record_execution", observe(_execution_recorded),
          params=("routine_id", "event_name")),
    Patch("routilux.job_state", "JobState.wait_for_completion", observe(_waited, always=True),
          params=("flow", "job_state"), optional=True),
    Patch("routilux.flow.task", "SlotActivationTask.__post_init__", observe(_task_made)),
    Replace("routilux.flow.event_loop", "execute_task",
          binding(DELIVERY, _task_marker, delivered, always=True), params=("task",)),
    Patch("routilux.slot", "Slot.call_handler", _wrap_handler, params=("data",)),
    Patch("routilux.slot", "Slot.receive", _wrap_handler, params=("data",)),
    Patch("routilux.event", "Event.emit", before(_emitting), optional=True),
    Patch("routilux.flow.flow", "Flow.pause", _flow_control(semconv.ROUTILUX_PAUSED_EVENT),
          params=("job_state",), optional=True),
    Patch("routilux.flow.flow", "Flow.resume", _flow_control(semconv.ROUTILUX_RESUMED_EVENT),
          params=("job_state",), optional=True),
    Patch("routilux.flow.flow", "Flow.cancel", _flow_control(semconv.ROUTILUX_CANCELLED_EVENT),
          params=("job_state",), optional=True),
)
