"""What both routilux lines share: the job span and its in-flight count, the context handed
from the emitting thread to the executing one, and the verdict of a routine's error strategy."""

from __future__ import annotations

import logging
import threading
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from otel_exec import semconv
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, get_tracer

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.trace import Link, Tracer

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




def run_job(wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *,
            flow: str, entry: Any, data: Any, entry_inline: bool) -> Any:
    """Run the call that starts a job (1.x ``Runtime.post``, 0.11 ``Flow.execute``) under a new
    job span; ``bind_job`` attaches the span to the job object the call creates.

    ``entry_inline``: the entry routine runs inside this call (0.11), so the call itself is one
    of the job's tasks in flight; otherwise (1.x) a failing call means no job was started.
    """
    execution = ExecutionSpan(_tracer(), f"job {flow}", kind=semconv.KIND_JOB,
                              framework=semconv.FRAMEWORK_ROUTILUX,
                              attributes={semconv.ROUTILUX_FLOW: flow,
                                          semconv.ROUTILUX_ENTRY: str(entry)},
                              args=(data,))
    posting: dict[str, Any] = {"execution": execution, "job": None, "flow": flow,
                               "entry_inline": entry_inline}
    token = _POSTING.set(posting)
    execution.activate()
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        job = posting["job"]
        if job is not None and entry_inline:
            job.failed = True
        else:
            if job is not None:
                _jobs.pop(job.job_id, None)
                job.ended = True
            execution.finish(exception=exc)
        raise
    finally:
        execution.deactivate()
        _POSTING.reset(token)
        if entry_inline and posting["job"] is not None:
            posting["job"].task_done()


def bind_job(job_object: Any, job_id: str, worker_id: str | None) -> None:
    """Attach the job span being started to the framework's job object (JobContext, JobState)."""
    posting = _POSTING.get()
    if posting is None or posting["job"] is not None:
        return
    execution: ExecutionSpan = posting["execution"]
    job = _Job(execution, job_id, worker_id or posting["flow"])
    attributes = {semconv.ROUTILUX_JOB_ID: job_id}
    if worker_id is not None:
        attributes[semconv.ROUTILUX_WORKER_ID] = worker_id
    execution.set_attributes(attributes)
    setattr(job_object, _JOB, job)
    posting["job"] = job
    _jobs[job_id] = job
    if posting["entry_inline"]:
        job.task_made()


def job_control(job: _Job, event_name: str, reason: Any) -> None:
    """A pause, resume or cancel of the job: an event on its span; a cancel also ends it."""
    job.execution.add_event(event_name, {semconv.ROUTILUX_REASON: str(reason or "")})
    if event_name == semconv.ROUTILUX_CANCELLED_EVENT:
        job.end(ExecStatus.CANCELLED, "cancel", str(reason) if reason else None)
