"""dataknobs-fsm's ``ExecutionHistory`` / ``ExecutionStep`` API, built from the spans of a run.

```python
history = otel_exec.history()              # the latest FSM run (or batch / stream)
history.get_summary()["failed_steps"]
[step.state_name for step in history.get_path_to_current()]
otel_exec.history.histories()              # every FSM run in the store
```

Kept from dataknobs: the names, arguments, return shapes and ``ExecutionStatus`` values. Fixed on
purpose: ``to_dict``/``from_dict`` round-trip without duplicating shared path prefixes (the steps
are written once, with their parent), ``completed_steps`` counts completed steps only (not pending
or running ones), a step failed without an error object still counts as failed, and
``update_step`` records ``arc_taken`` whatever the status. Step ids are span ids and the
execution id is the run's span id, so a step can be looked up in Jaeger or Tempo directly.
This module does not import dataknobs-fsm: histories read from a file work without it.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import TYPE_CHECKING, Any

from otel_exec import semconv
from otel_exec.semconv import ExecStatus
from otel_exec.views import StoreView

if TYPE_CHECKING:

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore


class ExecutionStatus(Enum):
    """Status of an execution step (dataknobs' values)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class DataMode(Enum):
    """dataknobs' ``DataHandlingMode`` values, without importing dataknobs."""

    COPY = "copy"
    REFERENCE = "reference"
    DIRECT = "direct"


def _mode(value: Any) -> DataMode:
    return DataMode(getattr(value, "value", value))


def _recorded_mode(value: Any) -> DataMode:
    """The data mode a span recorded; copy (dataknobs' default) for one no mode names (a
    file from elsewhere)."""
    try:
        return _mode(value if value is not None else DataMode.COPY)
    except ValueError:
        return DataMode.COPY


def _count(value: Any) -> int:
    """A count a span recorded; 0 for what is not a finite whole number (a file from
    elsewhere)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


_FROM_SPAN = {
    ExecStatus.COMPLETED: ExecutionStatus.COMPLETED,
    ExecStatus.FAILED: ExecutionStatus.FAILED,
    ExecStatus.ERROR_CONTINUED: ExecutionStatus.FAILED,
    ExecStatus.SKIPPED: ExecutionStatus.SKIPPED,
    ExecStatus.CANCELLED: ExecutionStatus.SKIPPED,
    ExecStatus.PAUSED: ExecutionStatus.IN_PROGRESS,
    ExecStatus.UNFINISHED: ExecutionStatus.IN_PROGRESS,
    ExecStatus.RUNNING: ExecutionStatus.IN_PROGRESS,
}


class ExecutionStep:
    """One state visit (dataknobs' ``ExecutionStep``)."""

    def __init__(self, step_id: str, state_name: str, network_name: str, timestamp: float,
                 data_mode: Any = DataMode.COPY,
                 status: ExecutionStatus = ExecutionStatus.PENDING) -> None:
        self.step_id = step_id
        self.state_name = state_name
        self.network_name = network_name
        self.timestamp = timestamp
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.data_mode = _mode(data_mode)
        self.status = status
        self.parent_step_id: str | None = None
        self.arc_taken: str | None = None
        self.data_snapshot: Any | None = None
        self.error: BaseException | None = None
        self.metrics: dict[str, Any] = {}
        self.resource_usage: dict[str, Any] = {}
        self.stream_progress: dict[str, Any] | None = None
        self.chunks_processed = 0
        self.records_processed = 0

    def start(self) -> None:
        """Mark the step as started."""
        self.start_time = time.time()
        self.status = ExecutionStatus.IN_PROGRESS

    def complete(self, arc_taken: str | None = None) -> None:
        """Mark the step as completed, leaving by ``arc_taken``."""
        self.end_time = time.time()
        self.status = ExecutionStatus.COMPLETED
        self.arc_taken = arc_taken

    def fail(self, error: BaseException | None) -> None:
        """Mark the step as failed."""
        self.end_time = time.time()
        self.status = ExecutionStatus.FAILED
        self.error = error

    def skip(self, reason: str) -> None:
        """Mark the step as skipped."""
        self.end_time = time.time()
        self.status = ExecutionStatus.SKIPPED
        self.metrics["skip_reason"] = reason

    def add_metric(self, key: str, value: Any) -> None:
        """Add a metric."""
        self.metrics[key] = value

    def add_resource_usage(self, resource_type: str, usage: dict[str, Any]) -> None:
        """Record the use of a resource."""
        self.resource_usage[resource_type] = usage

    def update_stream_progress(self, chunks: int, records: int,
                               current_position: int | None = None) -> None:
        """Record stream progress."""
        self.chunks_processed = chunks
        self.records_processed = records
        if current_position is not None:
            self.stream_progress = {**(self.stream_progress or {}), "position": current_position}

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.start_time is not None and self.end_time is not None:
            return self.end_time - self.start_time
        return None

    def to_dict(self) -> dict[str, Any]:
        """The step as a JSON-ready dict."""
        return {
            "step_id": self.step_id, "parent_step_id": self.parent_step_id,
            "state_name": self.state_name, "network_name": self.network_name,
            "timestamp": self.timestamp, "start_time": self.start_time,
            "end_time": self.end_time, "duration": self.duration,
            "data_mode": self.data_mode.value, "status": self.status.value,
            "arc_taken": self.arc_taken, "error": str(self.error) if self.error else None,
            "metrics": self.metrics, "resource_usage": self.resource_usage,
            "stream_progress": self.stream_progress,
            "chunks_processed": self.chunks_processed,
            "records_processed": self.records_processed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionStep:
        """Rebuild a step from ``to_dict``; an error comes back as ``Exception(message)``."""
        step = cls(data["step_id"], data["state_name"], data["network_name"],
                   data["timestamp"], data.get("data_mode", "copy"),
                   ExecutionStatus(data["status"]))
        step.parent_step_id = data.get("parent_step_id")
        step.start_time = data.get("start_time")
        step.end_time = data.get("end_time")
        step.arc_taken = data.get("arc_taken")
        step.error = Exception(data["error"]) if data.get("error") else None
        step.metrics = dict(data.get("metrics") or {})
        step.resource_usage = dict(data.get("resource_usage") or {})
        step.stream_progress = data.get("stream_progress")
        step.chunks_processed = data.get("chunks_processed", 0)
        step.records_processed = data.get("records_processed", 0)
        return step

    def __repr__(self) -> str:
        return (f"ExecutionStep(state_name={self.state_name!r}, "
                f"status={self.status.value!r}, arc_taken={self.arc_taken!r})")


class ExecutionHistory:
    """dataknobs' ``ExecutionHistory``: a tree of steps (one path per run or record)."""

    def __init__(self, fsm_name: str, execution_id: str, data_mode: Any = DataMode.COPY,
                 max_depth: int | None = None, enable_data_snapshots: bool = False) -> None:
        self.fsm_name = fsm_name
        self.execution_id = execution_id
        self.data_mode = _mode(data_mode)
        self.max_depth = max_depth
        self.enable_data_snapshots = enable_data_snapshots
        self.start_time = time.time()
        self.end_time: float | None = None
        self.stream_summary: dict[str, int] = {"total_chunks": 0, "total_records": 0,
                                               "streams_processed": 0}
        self._steps: dict[str, ExecutionStep] = {}
        self._children: dict[str | None, list[ExecutionStep]] = {}
        self._current: ExecutionStep | None = None

    # building ------------------------------------------------------------------------------
    def add_step(self, state_name: str, network_name: str, data: Any | None = None,
                 parent_step_id: str | None = None, *, step_id: str | None = None,
                 ) -> ExecutionStep:
        """Add a step after ``parent_step_id`` (after the current step when None)."""
        import uuid

        step = ExecutionStep(step_id or str(uuid.uuid4()), state_name, network_name,
                             time.time(), self.data_mode)
        if self.enable_data_snapshots and data is not None:
            import copy

            step.data_snapshot = copy.deepcopy(data)
        parent = parent_step_id if parent_step_id in self._steps else (
            self._current.step_id if self._current is not None else None)
        self._insert(step, parent)
        return step

    def _insert(self, step: ExecutionStep, parent_step_id: str | None) -> None:
        step.parent_step_id = parent_step_id
        self._steps[step.step_id] = step
        self._children.setdefault(parent_step_id, []).append(step)
        self._current = step

    def update_step(self, step_id: str, status: ExecutionStatus | None = None,
                    arc_taken: str | None = None, error: BaseException | None = None,
                    metrics: dict[str, Any] | None = None) -> bool:
        """Update a step; False when there is no such step."""
        step = self._steps.get(step_id)
        if step is None:
            return False
        if status is ExecutionStatus.COMPLETED:
            step.complete(arc_taken)
        elif status is ExecutionStatus.FAILED:
            step.fail(error)
        elif status is ExecutionStatus.SKIPPED:
            step.skip((metrics or {}).get("reason", "Unknown"))
        elif status is not None:
            step.status = status
        if arc_taken is not None:
            step.arc_taken = arc_taken
        for key, value in (metrics or {}).items():
            step.add_metric(key, value)
        return True

    def finalize(self) -> None:
        """Mark the execution as ended."""
        self.end_time = time.time()

    # reading -------------------------------------------------------------------------------
    def _walk(self) -> list[ExecutionStep]:
        ordered: list[ExecutionStep] = []
        stack = list(reversed(self._children.get(None, [])))
        while stack:
            step = stack.pop()
            ordered.append(step)
            stack.extend(reversed(self._children.get(step.step_id, [])))
        return ordered

    @property
    def steps(self) -> list[ExecutionStep]:
        """Every step, each path in execution order."""
        return self._walk()

    def get_path_to_current(self) -> list[ExecutionStep]:
        """Steps from the root to the current (latest) step."""
        path: list[ExecutionStep] = []
        step = self._current
        while step is not None:
            path.append(step)
            step = self._steps.get(step.parent_step_id) if step.parent_step_id else None
        return path[::-1]

    def get_all_paths(self) -> list[list[ExecutionStep]]:
        """Every path from a root to a leaf."""
        paths: list[list[ExecutionStep]] = []
        stack = [(root, [root]) for root in reversed(self._children.get(None, []))]
        while stack:
            step, path = stack.pop()
            children = self._children.get(step.step_id, [])
            if not children:
                paths.append(path)
            stack.extend((child, [*path, child]) for child in reversed(children))
        return paths

    def get_steps_by_state(self, state_name: str) -> list[ExecutionStep]:
        """Steps that visited ``state_name``."""
        return [step for step in self._walk() if step.state_name == state_name]

    def get_steps_by_mode(self, mode: Any) -> list[ExecutionStep]:
        """Steps whose state uses this data mode (a dataknobs ``DataHandlingMode`` or its value)."""
        wanted = _mode(mode)
        return [step for step in self._walk() if step.data_mode is wanted]

    def get_resource_usage(self) -> dict[str, Any]:
        """Per resource: calls, total acquisition time, and the steps that used it."""
        usage: dict[str, Any] = {}
        for step in self._walk():
            for name, metrics in step.resource_usage.items():
                entry = usage.setdefault(name, {"total_calls": 0, "total_duration": 0.0,
                                                "steps": []})
                entry["total_calls"] += 1
                entry["total_duration"] += metrics.get("duration", 0.0) or 0.0
                entry["steps"].append(step.step_id)
        return usage

    def get_stream_progress(self) -> dict[str, Any]:
        """Chunks and records processed (a stream's totals, else the steps' own counters)."""
        steps = self._walk()
        return {
            "total_chunks": self.stream_summary["total_chunks"]
            or sum(step.chunks_processed for step in steps),
            "total_records": self.stream_summary["total_records"]
            or sum(step.records_processed for step in steps),
            "streams_processed": self.stream_summary["streams_processed"],
        }

    def _depth(self) -> int:
        return max((len(path) for path in self.get_all_paths()), default=0)

    def get_summary(self) -> dict[str, Any]:
        """Counts, timing, resource usage and stream progress of the execution."""
        steps = self._walk()
        count = {status: 0 for status in ExecutionStatus}
        for step in steps:
            count[step.status] += 1
        return {
            "fsm_name": self.fsm_name, "execution_id": self.execution_id,
            "start_time": self.start_time, "end_time": self.end_time,
            "duration": None if self.end_time is None else self.end_time - self.start_time,
            "total_steps": len(steps),
            "failed_steps": count[ExecutionStatus.FAILED],
            "skipped_steps": count[ExecutionStatus.SKIPPED],
            "completed_steps": count[ExecutionStatus.COMPLETED],
            "data_mode": self.data_mode.value, "tree_depth": self._depth(),
            "total_paths": len(self.get_all_paths()),
            "resource_usage": self.get_resource_usage(),
            "stream_progress": self.get_stream_progress(),
        }

    @property
    def total_steps(self) -> int:
        """How many steps the history holds."""
        return len(self._steps)

    @property
    def failed_steps(self) -> int:
        """How many steps failed."""
        return sum(step.status is ExecutionStatus.FAILED for step in self._steps.values())

    @property
    def skipped_steps(self) -> int:
        """How many steps were skipped."""
        return sum(step.status is ExecutionStatus.SKIPPED for step in self._steps.values())

    def to_dict(self) -> dict[str, Any]:
        """The history as a JSON-ready dict: ``steps`` once each (lossless), ``paths`` too."""
        return {
            "summary": self.get_summary(),
            "steps": [step.to_dict() for step in self._walk()],
            "current_step_id": self._current.step_id if self._current else None,
            "stream_summary": dict(self.stream_summary),
            "paths": [[step.step_id for step in path] for path in self.get_all_paths()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionHistory:
        """Rebuild a history from ``to_dict`` (also reads dataknobs' own path-only form)."""
        summary = data["summary"]
        history = cls(summary["fsm_name"], summary["execution_id"], summary["data_mode"])
        history.start_time = summary["start_time"]
        history.end_time = summary.get("end_time")
        history.stream_summary.update(data.get("stream_summary") or {})
        if "steps" in data:
            for entry in data["steps"]:
                step = ExecutionStep.from_dict(entry)
                history._insert(step, step.parent_step_id)
        else:  # dataknobs' form: every path repeats its prefix; keep each step once
            for path in data.get("paths", []):
                parent = None
                for entry in path:
                    if entry["step_id"] not in history._steps:
                        history._insert(ExecutionStep.from_dict(entry), parent)
                    parent = entry["step_id"]
        current = data.get("current_step_id")
        if current in history._steps:
            history._current = history._steps[current]
        return history

    def __repr__(self) -> str:
        return (f"ExecutionHistory(fsm_name={self.fsm_name!r}, "
                f"execution_id={self.execution_id!r}, steps={len(self._steps)})")


_FSM_ROOTS = (semconv.KIND_FSM_RUN, semconv.KIND_BATCH, semconv.KIND_STREAM)
_FSM_INNER = (*_FSM_ROOTS, semconv.KIND_CHUNK)


def _fsm(execution: Execution) -> bool:
    return execution.framework == semconv.FRAMEWORK_DATAKNOBS_FSM


def build_history(store: ExecutionStore, root: Execution) -> ExecutionHistory:
    """The history of one FSM run, batch or stream, from its spans in ``store``."""
    members = store.subtree(root.span_id)
    history = ExecutionHistory(str(root.attributes.get(semconv.FSM_NAME, root.name)),
                               root.span_id)
    history.start_time = root.start_time
    history.end_time = root.end_time
    children: dict[str | None, list[Execution]] = {}
    for member in members:
        children.setdefault(member.parent_span_id, []).append(member)
    chunks = [m for m in members if m.kind == semconv.KIND_CHUNK]
    if root.kind == semconv.KIND_STREAM or chunks:
        history.stream_summary.update(
            total_chunks=len(chunks), streams_processed=int(root.kind == semconv.KIND_STREAM),
            total_records=sum(_count(c.attributes.get(semconv.FSM_CHUNK_SIZE)) for c in chunks))
    runs = [root] if root.kind == semconv.KIND_FSM_RUN else sorted(
        (m for m in members if m.kind == semconv.KIND_FSM_RUN), key=lambda m: m.start_ns)
    for run in runs:
        previous: str | None = None
        for span in _steps_of(run, children):
            step = _step(span, children.get(span.span_id, []))
            history._insert(step, previous)
            previous = step.step_id
    return history


def _steps_of(run: Execution, children: dict[str | None, list[Execution]]) -> list[Execution]:
    steps: list[Execution] = []
    stack = [run]
    while stack:
        node = stack.pop()
        for child in children.get(node.span_id, []):
            if child.kind == semconv.KIND_STEP:
                steps.append(child)
            elif child.kind == semconv.KIND_SUBNETWORK:
                stack.append(child)
    return sorted(steps, key=lambda item: item.start_ns)


def _step(span: Execution, children: list[Execution]) -> ExecutionStep:
    attributes = span.attributes
    step = ExecutionStep(span.span_id, str(attributes.get(semconv.FSM_STATE, span.name)),
                         str(attributes.get(semconv.FSM_NETWORK, "main")), span.start_time,
                         _recorded_mode(attributes.get(semconv.FSM_DATA_MODE)),
                         _FROM_SPAN[span.status])
    step.start_time = span.start_time
    step.end_time = span.end_time
    step.arc_taken = _optional(attributes.get(semconv.FSM_ARC_TAKEN))
    if not span.success:
        step.error = span.exception or Exception(
            span.exception_text or attributes.get(semconv.FSM_ERROR) or span.status_description
            or "failed")
    if span.status is ExecStatus.SKIPPED:
        step.metrics["skip_reason"] = attributes.get(semconv.FSM_ERROR, "skipped")
    for child in children:
        if child.kind == semconv.KIND_RESOURCE:
            name = str(child.attributes.get(semconv.FSM_RESOURCE_NAME, child.name))
            step.add_resource_usage(name, {"duration": child.duration,
                                           "owner": child.attributes.get(
                                               semconv.FSM_RESOURCE_OWNER)})
    return step


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


class HistoryView(StoreView):
    """``otel_exec.history(execution_id=None)``: an FSM execution's ``ExecutionHistory``.

    Args:
        store: The store to read, or a function returning it.
    """


    def roots(self) -> list[Execution]:
        """Top-level FSM executions (runs not inside a batch or stream), oldest first."""
        store = self.store
        found = []
        for execution in (*store.executions(), *store.running()):
            if not _fsm(execution) or execution.kind not in _FSM_ROOTS:
                continue
            parent = store.find(execution.parent_span_id) if execution.parent_span_id else None
            if parent is None or not (_fsm(parent) and parent.kind in _FSM_INNER):
                found.append(execution)
        return sorted(found, key=lambda item: item.start_ns)

    def __repr__(self) -> str:
        return ("<ExecutionHistory of a dataknobs-fsm run: call with an execution id, or "
                f"none for the latest ({len(self.roots())} in the store)>")

    def __call__(self, execution_id: str | None = None) -> ExecutionHistory:
        """The history of ``execution_id`` (a run, batch or stream span id), else the latest.

        Raises:
            LookupError: No such FSM execution is in the store.
        """
        store = self.store
        if execution_id is None:
            roots = self.roots()
            if not roots:
                raise LookupError("no FSM execution recorded: is dataknobs_fsm instrumented?")
            return build_history(store, roots[-1])
        root = store.find(execution_id) or next(
            (item for item in store.running() if item.span_id == execution_id), None)
        if root is None or not _fsm(root):
            raise LookupError(f"no FSM execution with id {execution_id!r} in the store")
        return build_history(store, root)

    def histories(self) -> list[ExecutionHistory]:
        """The history of every top-level FSM execution in the store, oldest first."""
        return [build_history(self.store, root) for root in self.roots()]
