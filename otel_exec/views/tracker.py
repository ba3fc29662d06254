"""routilux's ``ExecutionTracker`` and ``JobState`` / ``ExecutionRecord`` APIs, built from the
spans of one job.

```python
state = otel_exec.job_state()                  # the latest routilux job
state.status, state.get_routine_state("fetch")
state.save("job.json"); JobState.load("job.json")
otel_exec.tracker(state.job_id).get_routine_performance("fetch")
```

Where routilux's own tracking is wrong, the view is right and says so: one execution record per
routine run (routilux 0.11 records only the entry routine, and never ends it on success), routine
ids are the flow's ids (not ``hex(id(routine))``), one ``event_flow`` entry per delivery (not only
the first target), routine states for every routine (1.1 leaves them ``idle``), and the job's
status is final when the job really ends. ``get_performance_metrics`` exists (routilux documents
it but never had it). No serilux: ``save``/``load`` write and read plain JSON.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_exec import semconv
from otel_exec.semconv import ExecStatus
from otel_exec.views import StoreView

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch).isoformat()


class ExecutionRecord:
    """One entry of a job's execution history (routilux's ``ExecutionRecord``)."""

    def __init__(self, routine_id: str = "", event_name: str = "",
                 data: dict[str, Any] | None = None, timestamp: datetime | None = None) -> None:
        self.routine_id = routine_id
        self.event_name = event_name
        self.data = data or {}
        self.timestamp = timestamp or datetime.now()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"routine_id": self.routine_id, "event_name": self.event_name,
                "data": self.data, "timestamp": self.timestamp.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionRecord:
        """Inverse of ``to_dict``."""
        stamp = data.get("timestamp")
        return cls(data.get("routine_id", ""), data.get("event_name", ""), data.get("data"),
                   datetime.fromisoformat(stamp) if isinstance(stamp, str) else None)

    def __repr__(self) -> str:
        return f"ExecutionRecord[{self.routine_id}.{self.event_name}@{self.timestamp}]"


class _JobSpans:
    """The spans of one job: the job span and its routine spans in start order."""

    def __init__(self, store: ExecutionStore, job: Execution) -> None:
        self.job = job
        self.routines = sorted((item for item in store.subtree(job.span_id)
                                if item.kind == semconv.KIND_ROUTINE),
                               key=lambda item: item.start_ns)
        self.by_span = {item.span_id: item for item in self.routines}

    @staticmethod
    def routine_id(routine: Execution) -> str:
        return str(routine.attributes.get(semconv.ROUTILUX_ROUTINE_ID, routine.name))


def _routine_status(routine: Execution) -> str:
    return routine.status.value


class ExecutionTracker:
    """routilux's ``ExecutionTracker`` for one job, read-only (computed from spans)."""

    def __init__(self, flow_id: str = "", routine_executions: dict[str, list[dict[str, Any]]]
                 | None = None, event_flow: list[dict[str, Any]] | None = None) -> None:
        self.flow_id = flow_id
        self.routine_executions: dict[str, list[dict[str, Any]]] = routine_executions or {}
        self.event_flow: list[dict[str, Any]] = event_flow or []
        self.performance_metrics: dict[str, Any] = {}

    def __repr__(self) -> str:
        runs = sum(len(runs) for runs in self.routine_executions.values())
        return (f"ExecutionTracker(flow_id={self.flow_id!r}, routines="
                f"{len(self.routine_executions)}, runs={runs}, events={len(self.event_flow)})")

    @classmethod
    def from_spans(cls, spans: _JobSpans) -> ExecutionTracker:
        tracker = cls(str(spans.job.attributes.get(semconv.ROUTILUX_FLOW, "")))
        for routine in spans.routines:
            rid = spans.routine_id(routine)
            record: dict[str, Any] = {"routine_id": rid, "start_time": _iso(routine.start_time),
                                      "params": routine.args if routine.args is not None else {},
                                      "status": _routine_status(routine)}
            if routine.end_time is not None:
                record["end_time"] = _iso(routine.end_time)
                record["execution_time"] = routine.duration
                if routine.success and routine.result is not None:
                    record["result"] = routine.result
                if not routine.success or routine.status is ExecStatus.SKIPPED:
                    error = routine.exception_text or routine.status_description
                    if error:
                        record["error"] = error
            tracker.routine_executions.setdefault(rid, []).append(record)
            for link in routine.links:
                source = spans.by_span.get(f"{link.context.span_id:016x}")
                tracker.event_flow.append({
                    "timestamp": _iso(routine.start_time),
                    "source_routine_id": spans.routine_id(source) if source else None,
                    "event_name": (link.attributes or {}).get(semconv.ROUTILUX_EVENT),
                    "target_routine_id": rid,
                    "data": routine.args if routine.args is not None else {},
                })
        return tracker

    def _read_only(self, name: str) -> None:
        warnings.warn(f"ExecutionTracker.{name}() does nothing here: this tracker is computed "
                      "from the job's spans (otel_exec.tracker)", stacklevel=3)

    def record_routine_start(self, routine_id: str, params: dict[str, Any] | None = None,
                             ) -> None:
        """Read-only view: warns and records nothing (routine spans are the record)."""
        self._read_only("record_routine_start")

    def record_routine_end(self, routine_id: str, status: str = "completed", result: Any = None,
                           error: str | None = None) -> None:
        """Read-only view: warns and records nothing."""
        self._read_only("record_routine_end")

    def record_event(self, source_routine_id: str, event_name: str,
                     target_routine_id: str | None = None,
                     data: dict[str, Any] | None = None) -> None:
        """Read-only view: warns and records nothing."""
        self._read_only("record_event")

    def get_routine_performance(self, routine_id: str) -> dict[str, Any] | None:
        """Executions, completions, failures, success rate and timings of one routine."""
        executions = self.routine_executions.get(routine_id)
        if not executions:
            return None
        total = len(executions)
        completed = sum(e["status"] == "completed" for e in executions)
        failed = sum(e["status"] == "failed" for e in executions)
        times = [e["execution_time"] for e in executions if e.get("execution_time") is not None]
        return {"total_executions": total, "completed": completed, "failed": failed,
                "success_rate": completed / total,
                "avg_execution_time": sum(times) / len(times) if times else 0.0,
                "min_execution_time": min(times) if times else 0.0,
                "max_execution_time": max(times) if times else 0.0}

    def get_flow_performance(self) -> dict[str, Any]:
        """Routines, events and total time over the whole job."""
        times = [e["execution_time"] for runs in self.routine_executions.values() for e in runs
                 if e.get("execution_time") is not None]
        return {"total_routines": len(self.routine_executions),
                "total_events": len(self.event_flow),
                "total_execution_time": sum(times),
                "avg_routine_time": sum(times) / len(times) if times else 0.0}

    def get_performance_metrics(self) -> dict[str, Any]:
        """The flow's performance and each routine's (routilux documents this, never had it)."""
        return {"flow": self.get_flow_performance(),
                "routines": {rid: self.get_routine_performance(rid)
                             for rid in self.routine_executions}}


_JOB_STATUS = {ExecStatus.RUNNING: "running", ExecStatus.COMPLETED: "completed",
               ExecStatus.FAILED: "failed", ExecStatus.CANCELLED: "cancelled",
               ExecStatus.PAUSED: "paused", ExecStatus.SKIPPED: "completed",
               ExecStatus.ERROR_CONTINUED: "completed", ExecStatus.UNFINISHED: "running"}


class JobState:
    """routilux's ``JobState`` for one job (computed from spans; ``save``/``load`` as JSON)."""

    def __init__(self, flow_id: str = "") -> None:
        self.flow_id = flow_id
        self.job_id = ""
        self.status = "pending"
        self.pause_points: list[dict[str, Any]] = []
        self.current_routine_id: str | None = None
        self.routine_states: dict[str, dict[str, Any]] = {}
        self.execution_history: list[ExecutionRecord] = []
        self.pending_tasks: list[dict[str, Any]] = []
        self.shared_data: dict[str, Any] = {}
        self.created_at = datetime.now()
        self.updated_at = datetime.now()

    @classmethod
    def from_spans(cls, spans: _JobSpans) -> JobState:
        job = spans.job
        state = cls(str(job.attributes.get(semconv.ROUTILUX_FLOW, "")))
        state.job_id = str(job.attributes.get(semconv.ROUTILUX_JOB_ID, job.span_id))
        state.status = _JOB_STATUS[job.status]
        state.created_at = datetime.fromtimestamp(job.start_time)
        state.updated_at = datetime.fromtimestamp(job.end_time or max(
            [job.start_time, *(r.end_time or r.start_time for r in spans.routines)]))
        paused = False
        for event in job.events:
            stamp = datetime.fromtimestamp(event.timestamp / 1e9)
            if event.name == semconv.ROUTILUX_PAUSED_EVENT:
                paused = True
                state.pause_points.append({"timestamp": stamp.isoformat(), "reason": str(
                    (event.attributes or {}).get(semconv.ROUTILUX_REASON, ""))})
            elif event.name == semconv.ROUTILUX_RESUMED_EVENT:
                paused = False
        if paused and state.status == "running":
            state.status = "paused"
        records: list[ExecutionRecord] = []
        for routine in spans.routines:
            rid = spans.routine_id(routine)
            records.append(ExecutionRecord(rid, "start", _mapping(routine.args),
                                           datetime.fromtimestamp(routine.start_time)))
            for event in routine.events:
                if event.name == semconv.ROUTILUX_EMIT_EVENT:
                    attributes = event.attributes or {}
                    records.append(ExecutionRecord(
                        rid, str(attributes.get(semconv.ROUTILUX_EVENT, "")),
                        {"data": attributes.get(semconv.EXEC_ARGS)},
                        datetime.fromtimestamp(event.timestamp / 1e9)))
            routine_state: dict[str, Any] = {"status": _routine_status(routine)}
            if routine.end_time is not None:
                routine_state["execution_time"] = routine.duration
                outcome = routine.status.value
                error = routine.exception_text or routine.status_description
                if not routine.success:
                    routine_state["error"] = error
                    outcome = "error" if routine.status is ExecStatus.FAILED else outcome
                records.append(ExecutionRecord(
                    rid, outcome, {"error": error} if not routine.success else {},
                    datetime.fromtimestamp(routine.end_time)))
            before = state.routine_states.get(rid, {})
            routine_state["executions"] = before.get("executions", 0) + 1
            routine_state["errors"] = before.get("errors", 0) + (not routine.success)
            state.routine_states[rid] = routine_state
            state.current_routine_id = rid
        state.execution_history = sorted(records, key=lambda record: record.timestamp)
        return state

    def get_routine_state(self, routine_id: str) -> dict[str, Any] | None:
        """The last known state of a routine in this job."""
        return self.routine_states.get(routine_id)

    def get_execution_history(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """Execution records, oldest first (of one routine when ``routine_id`` is given)."""
        if routine_id is None:
            return list(self.execution_history)
        return [record for record in self.execution_history if record.routine_id == routine_id]

    def serialize(self) -> dict[str, Any]:
        """JSON-ready form, with ``_type: "JobState"`` as routilux writes it."""
        return {"_type": "JobState", "flow_id": self.flow_id, "job_id": self.job_id,
                "status": self.status, "pause_points": self.pause_points,
                "current_routine_id": self.current_routine_id,
                "routine_states": self.routine_states,
                "execution_history": [record.to_dict() for record in self.execution_history],
                "pending_tasks": self.pending_tasks, "shared_data": self.shared_data,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}

    def save(self, filepath: str | Path) -> None:
        """Write the job state as JSON (non-JSON values are written as their repr)."""
        path = Path(filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.serialize(), indent=2, ensure_ascii=False, default=repr),
                        encoding="utf-8")

    @classmethod
    def load(cls, filepath: str | Path) -> JobState:
        """Read a job state written by ``save``.

        Raises:
            FileNotFoundError: There is no such file.
            ValueError: The file is not a saved JobState.
        """
        path = Path(filepath)
        if not path.exists():
            raise FileNotFoundError(f"JobState file not found: {path}")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("_type") != "JobState":
            raise ValueError(f"Invalid JobState file format: {path}")
        state = cls(data.get("flow_id", ""))
        state.job_id = data.get("job_id", "")
        state.status = data.get("status", "pending")
        state.pause_points = list(data.get("pause_points", []))
        state.current_routine_id = data.get("current_routine_id")
        state.routine_states = dict(data.get("routine_states", {}))
        state.execution_history = [ExecutionRecord.from_dict(item)
                                   for item in data.get("execution_history", [])]
        state.pending_tasks = list(data.get("pending_tasks", []))
        state.shared_data = dict(data.get("shared_data", {}))
        state.created_at = datetime.fromisoformat(data["created_at"])
        state.updated_at = datetime.fromisoformat(data["updated_at"])
        return state

    def __repr__(self) -> str:
        return f"JobState(job_id={self.job_id!r}, flow_id={self.flow_id!r}, status={self.status!r})"


def _mapping(value: Any) -> dict[str, Any]:
    """Routine parameters as an ExecutionRecord's data (a dict, JSON-shaped)."""
    if isinstance(value, dict):
        return value
    return {"args": list(value) if isinstance(value, tuple) else value}


class JobView(StoreView):
    """``otel_exec.tracker(job_id=None)`` / ``otel_exec.job_state(job_id=None)``.

    Args:
        store: The store to read, or a function returning it.
        build: ``ExecutionTracker.from_spans`` or ``JobState.from_spans``.
    """

    def __init__(self, store: ExecutionStore | Callable[[], ExecutionStore],
                 build: Callable[[_JobSpans], Any]) -> None:
        super().__init__(store)
        self._build = build

    def __repr__(self) -> str:
        return (f"<{getattr(self._build, '__qualname__', 'view').split('.')[0]} of a routilux "
                f"job: call with a job id, or none for the latest ({len(self.jobs())} in the "
                "store)>")


    def jobs(self) -> list[Execution]:
        """Job spans, finished and running, oldest first."""
        store = self.store
        return sorted((item for item in (*store.executions(), *store.running())
                       if item.kind == semconv.KIND_JOB
                       and item.framework == semconv.FRAMEWORK_ROUTILUX),
                      key=lambda item: item.start_ns)

    def __call__(self, job_id: str | None = None) -> Any:
        """The view of ``job_id`` (routilux's job id or the job span id), else the latest job.

        Raises:
            LookupError: No such routilux job is in the store.
        """
        jobs = self.jobs()
        if job_id is None:
            if not jobs:
                raise LookupError("no routilux job recorded: is routilux instrumented?")
            return self._build(_JobSpans(self.store, jobs[-1]))
        for job in reversed(jobs):
            if job_id in (job.attributes.get(semconv.ROUTILUX_JOB_ID), job.span_id):
                return self._build(_JobSpans(self.store, job))
        raise LookupError(f"no routilux job {job_id!r} in the store")
