"""What both routilux lines share: the job span and its in-flight count, job-end detection on
one shared thread, the context handed from the emitting thread to the executing one, and the
routine span with the verdict of its error strategy."""

from __future__ import annotations

import logging
import os
import threading
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry.trace import Link

from otel_exec import semconv
from otel_exec.execution import MISSING
from otel_exec.instrumentation._wrappers import SELF, ContextScope, contained
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, get_tracer
from otel_exec.values import policy

SCOPE = "otel_exec.routilux"
JOB = "_otel_exec_job"
TASK = "_otel_exec_task"
META = "_otel_exec"
DEFAULT_QUIET_PERIOD = 0.05
_logger = logging.getLogger(__name__)
options: dict[str, Any] = {"quiet_period": DEFAULT_QUIET_PERIOD}

STATUSES = {"completed": ExecStatus.COMPLETED, "failed": ExecStatus.FAILED,
            "cancelled": ExecStatus.CANCELLED, "paused": ExecStatus.PAUSED}

Marker = tuple["Job | None", "Link | None"]
"""What a task carries from the thread that made it: its job, and a link to its emitter."""


class Job:
    """A job's span, its tasks in flight and the verdict of its routines."""

    __slots__ = ("__weakref__", "ended", "execution", "failure", "in_flight", "job_id", "lock",
                 "paused", "worker_id")

    def __init__(self, execution: ExecutionSpan, job_id: str, worker_id: str) -> None:
        self.execution = execution
        self.job_id = job_id
        self.worker_id = worker_id
        self.in_flight = 0
        self.failure: str | None = None
        """What failed the job first (a routine's error), once one did."""
        self.paused = False
        self.ended = False
        self.lock = threading.Lock()

    def task_made(self) -> None:
        """One more task in flight. A settle already scheduled is left to run: it finds the
        task in flight and does nothing (cheaper than cancelling it for every task)."""
        lock = self.lock
        lock.acquire()  # not ``with``: cheaper, twice per task
        try:
            self.in_flight += 1
        finally:
            lock.release()

    def task_done(self) -> None:
        lock = self.lock
        lock.acquire()
        try:
            self.in_flight -= 1
            if self.in_flight > 0 or self.ended:
                return
        finally:
            lock.release()
        _settler.schedule(self, options["quiet_period"])

    def settle(self) -> None:
        """Nothing left in flight for the quiet period: the job is over."""
        with self.lock:
            if self.in_flight > 0:
                return
        self.end(ExecStatus.FAILED if self.failure else ExecStatus.COMPLETED, "idle", self.failure)

    def end(self, status: ExecStatus, how: str, error: str | None = None) -> None:
        with self.lock:
            if self.ended:
                return
            self.ended = True
        _settler.cancel(self)
        jobs.pop(self.job_id, None)
        self.execution.finish(status=status, description=error,
                              attributes={semconv.ROUTILUX_JOB_END: how})


class _Settler:
    """Ends jobs that had nothing in flight for their quiet period: one thread for all jobs,
    started when needed and gone after a second with nothing to wait for."""

    def __init__(self) -> None:
        self._due: dict[Job, float] = {}
        self._lock = threading.Lock()  # entered directly where nobody waits: no Python calls
        self._condition = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def schedule(self, job: Job, delay: float) -> None:
        with self._condition:
            self._due[job] = time.monotonic() + delay
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="otel_exec-routilux-jobs",
                                                daemon=True)
                self._thread.start()
            self._condition.notify()

    def cancel(self, job: Job) -> None:
        with self._lock:
            self._due.pop(job, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._due:
                    self._condition.wait(1.0)
                    if not self._due:
                        self._thread = None
                        return
                now = time.monotonic()
                ready = [job for job, due in self._due.items() if due <= now]
                for job in ready:
                    del self._due[job]
                if not ready:
                    self._condition.wait(min(self._due.values()) - now)
                    continue
            for job in ready:
                contained(job.settle)

    def after_fork(self) -> None:
        self._due.clear()
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._thread = None


_settler = _Settler()
os.register_at_fork(after_in_child=_settler.after_fork)

jobs: dict[str, Job] = {}
_POSTING: ContextVar[Posting | None] = ContextVar("otel_exec_routilux_post", default=None)
DELIVERY: ContextVar[Marker | None] = ContextVar("otel_exec_routilux_delivery", default=None)
CALL: ContextVar[RoutineCall | None] = ContextVar("otel_exec_routilux_call", default=None)


def tracer_span(name: str, *, kind: str, attributes: dict[str, Any],
                links: list[Link] | None = None, parent: Any = None,
                args: Any = MISSING, kwargs: Any = MISSING) -> ExecutionSpan:
    """A routilux span (job or routine)."""
    return ExecutionSpan(get_tracer(SCOPE), name, kind=kind, framework=semconv.FRAMEWORK_ROUTILUX,
                         attributes=attributes, links=links, parent=parent, args=args,
                         kwargs=kwargs)


def job_of(job_object: Any) -> Job | None:
    """The job span bound to a framework job object (JobContext, JobState)."""
    return getattr(job_object, JOB, None) if job_object is not None else None


def text(value: Any) -> str:
    """Bounded, scrubbed text of a value (emitted data)."""
    return policy().text(value)


def task_made(job: Job | None, event_name: str) -> Marker:
    """A task was made in the emitting thread: count it in its job, link it to its emitter."""
    emitter = CALL.get()
    link = None
    if emitter is not None:
        link = emitter.links.get(event_name)
        if link is None:  # one per emitter and event, shared by the tasks (links are frozen)
            link = emitter.links[event_name] = Link(emitter.execution.span.get_span_context(),
                                                    {semconv.ROUTILUX_EVENT: event_name})
    if job is not None:
        job.task_made()
    return job, link


def delivered(marker: Marker | None) -> None:
    """A task was run, in whichever thread ran it (even if running it failed): its job counts
    it done. Its marker was ``DELIVERY`` while it ran."""
    job = marker[0] if marker is not None else None
    if job is not None:
        job.task_done()


ACTIVATING: ContextVar[Any] = ContextVar("otel_exec_routilux_activating", default=None)
"""The routine whose logic routilux 1.x is about to run (set around its activation)."""


class RoutineCall(ContextScope):
    """One routine execution (1.x logic run, 0.11 handler call): its span, current while it
    runs, and the error routilux recorded for it (0.11 swallows handler errors)."""

    __slots__ = ("error", "execution", "flow", "job", "links", "routine", "routine_id")
    bindings = ((CALL, SELF), (ACTIVATING, None))

    def __init__(self, execution: ExecutionSpan, routine: Any, routine_id: str, flow: Any,
                 job: Job | None) -> None:
        self.execution = execution
        self.links: dict[str, Link] = {}
        self.routine = routine
        self.routine_id = routine_id
        self.flow = flow
        self.job = job
        self.error: BaseException | None = None


def start_routine(routine: Any, routine_id: str, flow: Any, job: Job | None,
                  attributes: dict[str, Any], args: Any, kwargs: Any = MISSING,
                  ) -> RoutineCall | None:
    """The routine span of one execution, under its job, linked to the routine that emitted
    its input; None inside an execution of the same routine (a handler calling itself)."""
    active = CALL.get()
    if active is not None and active.routine is routine:
        return None
    marker = DELIVERY.get()
    emitter = marker[1] if marker is not None else None
    attributes = {semconv.ROUTILUX_ROUTINE_ID: routine_id, **attributes}
    if job is not None:
        attributes[semconv.ROUTILUX_JOB_ID] = job.job_id
    if flow is not None:
        attributes[semconv.ROUTILUX_FLOW] = str(flow.flow_id)
    execution = tracer_span(f"routine {routine_id}", kind=semconv.KIND_ROUTINE,
                            attributes=attributes,
                            links=[emitter] if emitter is not None else None,
                            parent=job.execution.context if job is not None else None,
                            args=args, kwargs=kwargs)
    return RoutineCall(execution, routine, routine_id, flow, job)


def finish_routine(call: RoutineCall, raised: BaseException | None, result: Any) -> None:
    """End the routine span; an error is judged by the routine's error strategy."""
    error = raised if raised is not None else call.error
    if error is None:
        call.execution.finish(result)
        return
    status = _strategy_status(call)
    if status is ExecStatus.FAILED and call.job is not None and call.job.failure is None:
        call.job.failure = f"routine {call.routine_id} failed: {_error_text(error)}"
    call.execution.finish(exception=error, status=status)


def _error_text(error: BaseException) -> str:
    """``Type: message``, as a job's failure names the error that caused it."""
    try:
        message = str(error)
    except Exception:  # a hostile __str__ leaves the type
        message = ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _strategy_status(call: RoutineCall) -> ExecStatus:
    """The routine's verdict under its error strategy (resolved as routilux resolves it)."""
    handler = None
    if call.flow is not None:
        handler = contained(call.flow._get_error_handler_for_routine, call.routine,
                            call.routine_id)
    strategy = str(getattr(getattr(handler, "strategy", None), "value", "") or "stop")
    execution = call.execution
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


class Posting(ContextScope):
    """The call that starts a job (1.x ``Runtime.post``, 0.11 ``Flow.execute``) under a new job
    span; ``bind_job`` attaches the span to the job object the call creates.

    ``entry_inline``: the entry routine runs inside this call (0.11), so the call itself is one
    of the job's tasks in flight; otherwise (1.x) a failing call means no job was started.
    """

    __slots__ = ("entry_inline", "execution", "flow", "job")
    bindings = ((_POSTING, SELF),)

    def __init__(self, flow: str, entry: Any, data: Any, entry_inline: bool) -> None:
        self.execution = tracer_span(f"job {flow}", kind=semconv.KIND_JOB,
                                     attributes={semconv.ROUTILUX_FLOW: flow,
                                                 semconv.ROUTILUX_ENTRY: str(entry)},
                                     args=(data,))
        self.flow = flow
        self.entry_inline = entry_inline
        self.job: Job | None = None


def posted(posting: Posting, raised: BaseException | None, result: Any) -> None:
    job = posting.job
    if raised is not None:
        if job is not None and posting.entry_inline:
            job.failure = job.failure or f"the entry routine failed: {_error_text(raised)}"
        else:
            if job is not None:
                jobs.pop(job.job_id, None)
                job.ended = True
            posting.execution.finish(exception=raised)
    if posting.entry_inline and job is not None:
        job.task_done()


def bind_job(job_object: Any, job_id: str, worker_id: str | None) -> None:
    """Attach the job span being started to the framework's job object (JobContext, JobState)."""
    posting = _POSTING.get()
    if posting is None or posting.job is not None:
        return
    job = Job(posting.execution, job_id, worker_id or posting.flow)
    attributes = {semconv.ROUTILUX_JOB_ID: job_id}
    if worker_id is not None:
        attributes[semconv.ROUTILUX_WORKER_ID] = worker_id
    posting.execution.set_attributes(attributes)
    setattr(job_object, JOB, job)
    posting.job = job
    jobs[job_id] = job
    if posting.entry_inline:
        job.task_made()


def job_control(job: Job, event_name: str, reason: Any) -> None:
    """A pause, resume or cancel of the job: an event on its span; a cancel also ends it."""
    job.execution.add_event(event_name, {semconv.ROUTILUX_REASON: policy().message(
        str(reason or ""))})
    if event_name == semconv.ROUTILUX_PAUSED_EVENT:
        job.paused = True
    elif event_name == semconv.ROUTILUX_RESUMED_EVENT:
        job.paused = False
    elif event_name == semconv.ROUTILUX_CANCELLED_EVENT:
        job.end(ExecStatus.CANCELLED, "cancel", str(reason) if reason else None)


def end_open_jobs(how: str = "shutdown") -> None:
    """End the spans of jobs still open (at uninstrument, ``otel_exec.shutdown()`` and
    interpreter exit): *paused* if paused, else *unfinished* (failed if a routine failed)."""
    for job in list(jobs.values()):
        status = (ExecStatus.PAUSED if job.paused else
                  ExecStatus.FAILED if job.failure else ExecStatus.UNFINISHED)
        contained(job.end, status, how, job.failure)
