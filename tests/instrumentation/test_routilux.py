"""routilux 1.x instrumentation and the ExecutionTracker / JobState views, against real routilux."""

from __future__ import annotations

import itertools
import json
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from routilux.core.error import ErrorStrategy
from routilux.core.runtime import Runtime

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.execution import Execution
from otel_exec.instrumentation import _patching
from otel_exec.instrumentation.routilux import PATCHES
from otel_exec.semconv import ExecStatus
from otel_exec.views.tracker import JobState
from tests.conftest import run_python
from tests.instrumentation import routilux_workload as workload

_names = itertools.count()


@pytest.fixture
def runtime(store: ExecutionStore) -> Iterator[Runtime]:
    otel_exec.instrument("routilux", quiet_period=0.05)
    rt = Runtime()
    yield rt
    rt.shutdown(wait=True, timeout=5)
    otel_exec.uninstrument("routilux")


def run_flow(runtime: Runtime, strategy: ErrorStrategy | None, count: int = 3,
             ) -> tuple[str, JobState]:
    name = f"flow_{next(_names)}"
    return name, workload.run_fan_out(runtime, name, strategy, count)


def routines(store: ExecutionStore, job: Execution) -> list[Execution]:
    return [e for e in store.subtree(job.span_id) if e.kind == semconv.KIND_ROUTINE]


def job_span(store: ExecutionStore, job_id: str) -> Execution:
    (job,) = [e for e in store.executions() if e.kind == semconv.KIND_JOB
              and e.attributes.get(semconv.ROUTILUX_JOB_ID) == job_id]
    return job


def test_every_routine_span_is_under_its_job_across_threads(
        store: ExecutionStore, runtime: Runtime) -> None:
    _, state = run_flow(runtime, ErrorStrategy.CONTINUE)
    job = job_span(store, state.job_id)
    spans = routines(store, job)
    assert sorted(s.attributes[semconv.ROUTILUX_ROUTINE_ID] for s in spans) == (
        ["agg"] * 3 + ["bad"] * 3 + ["ok"] * 3 + ["src"])
    assert {s.parent_span_id for s in spans} == {job.span_id}
    assert {s.trace_id for s in spans} == {job.trace_id}


def test_fan_out_links_each_consumer_to_the_emission(store: ExecutionStore,
                                                     runtime: Runtime) -> None:
    _, state = run_flow(runtime, ErrorStrategy.CONTINUE, count=2)
    job = job_span(store, state.job_id)
    spans = {s.span_id: s for s in routines(store, job)}
    (source,) = [s for s in spans.values() if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "src"]
    emits = [e for e in source.events if e.name == semconv.ROUTILUX_EMIT_EVENT]
    assert len(emits) == 2 and emits[0].attributes[semconv.ROUTILUX_TARGET_SLOTS] == 2
    linked_to_source = [s for s in spans.values() for link in s.links
                        if f"{link.context.span_id:016x}" == source.span_id]
    assert sorted(s.attributes[semconv.ROUTILUX_ROUTINE_ID] for s in linked_to_source) == [
        "bad", "bad", "ok", "ok"]
    for aggregate in (s for s in spans.values()
                      if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "agg"):
        (link,) = aggregate.links
        emitter = spans[f"{link.context.span_id:016x}"]
        assert emitter.attributes[semconv.ROUTILUX_ROUTINE_ID] == "ok"
        assert link.attributes[semconv.ROUTILUX_EVENT] == "out"


@pytest.mark.parametrize(("strategy", "routine_status", "job_status"), [
    (ErrorStrategy.CONTINUE, ExecStatus.ERROR_CONTINUED, "completed"),
    (ErrorStrategy.SKIP, ExecStatus.SKIPPED, "completed"),
    (ErrorStrategy.STOP, ExecStatus.FAILED, "failed"),
    (None, ExecStatus.FAILED, "failed"),
])
def test_statuses_follow_the_error_strategy(store: ExecutionStore, runtime: Runtime,
                                            strategy: ErrorStrategy | None,
                                            routine_status: ExecStatus, job_status: str) -> None:
    _, state = run_flow(runtime, strategy)
    job = job_span(store, state.job_id)
    bad = [s for s in routines(store, job) if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "bad"]
    assert {s.status for s in bad} == {routine_status}
    assert all(s.error_type == "ValueError" for s in bad if s.status is not ExecStatus.SKIPPED)
    assert state.status == job_status
    assert state.get_routine_state("bad")["status"] == routine_status.value
    assert state.get_routine_state("ok")["status"] == "completed"


def test_a_failed_job_says_why_and_how_long_it_took(store: ExecutionStore, runtime: Runtime,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The views tell the job's real duration (its span's, not the routines' sum) and what
    failed it, in the summary's Result column, ``otel-exec jobs`` and the JSON."""
    from otel_exec.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    _, state = run_flow(runtime, ErrorStrategy.STOP)
    job = job_span(store, state.job_id)
    assert job.status is ExecStatus.FAILED
    assert job.status_description is not None
    assert job.status_description.startswith("routine bad failed: ValueError")
    path = tmp_path / "jobs.jsonl"
    otel_exec.save(path)
    assert main(["jobs", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"failed in {job.duration:.3f}s" in out
    assert "routine bad failed: ValueError" in out
    assert main(["summary", str(path), "--name", job.name, "--json"]) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["span_id"] == job.span_id]
    assert row["status"] == "failed" and row["exception"] is None
    assert main(["summary", str(path), "--name", job.name]) == 0
    assert "routine bad failed" in capsys.readouterr().out
    assert repr(otel_exec.tracker(state.job_id)) == (
        f"ExecutionTracker(flow_id={job.attributes[semconv.ROUTILUX_FLOW]!r}, routines=4, "
        "runs=10, events=9)")
    assert "call with a job id" in repr(otel_exec.tracker)


def test_the_job_ends_when_its_work_ends(store: ExecutionStore, runtime: Runtime) -> None:
    _, state = run_flow(runtime, ErrorStrategy.CONTINUE, count=5)
    job = job_span(store, state.job_id)
    last_routine_end = max(s.end_ns or 0 for s in routines(store, job))
    assert job.end_ns is not None and job.end_ns >= last_routine_end
    assert job.attributes[semconv.ROUTILUX_JOB_END] == "idle"


def test_complete_job_ends_the_job_with_the_app_status(store: ExecutionStore,
                                                       runtime: Runtime) -> None:
    workload.fan_out_flow("explicit", ErrorStrategy.CONTINUE)
    _, job = runtime.post("explicit", "src", "trigger", {"count": 0})
    runtime.complete_job(job.job_id, "failed", "operator abort")
    state = workload.wait_for_job(job.job_id)
    assert state.status == "failed"
    span = job_span(store, job.job_id)
    assert span.attributes[semconv.ROUTILUX_JOB_END] == "complete_job"
    assert span.status_description == "operator abort"


def test_tracker_and_job_state_agree_with_the_spans(store: ExecutionStore, runtime: Runtime,
                                                    tmp_path: Path) -> None:
    _, state = run_flow(runtime, ErrorStrategy.CONTINUE, count=3)
    tracker = otel_exec.tracker(state.job_id)
    job = job_span(store, state.job_id)
    spans = routines(store, job)
    ok_runs = [s for s in spans if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "ok"]
    performance = tracker.get_routine_performance("ok")
    assert performance["total_executions"] == 3 and performance["completed"] == 3
    assert performance["max_execution_time"] == pytest.approx(max(s.duration for s in ok_runs))
    flow = tracker.get_flow_performance()
    assert flow["total_routines"] == 4
    assert flow["total_execution_time"] == pytest.approx(sum(s.duration for s in spans))
    assert flow["total_events"] == 9  # 3 to ok, 3 to bad, 3 to agg: one per delivery
    assert tracker.get_performance_metrics()["routines"]["bad"]["completed"] == 0
    assert [r.event_name for r in state.get_execution_history("src")] == [
        "start", "out", "out", "out", "completed"]
    with pytest.warns(UserWarning, match="computed from the job's spans"):
        tracker.record_routine_start("x")

    path = tmp_path / "job.json"
    state.save(path)
    again = JobState.load(path)
    assert again.serialize() == state.serialize()
    assert [repr(r) for r in again.execution_history] == [repr(r) for r in state.execution_history]
    (tmp_path / "bad.json").write_text('{"_type": "Other"}')
    with pytest.raises(ValueError, match="Invalid JobState"):
        JobState.load(tmp_path / "bad.json")


def test_pause_resume_and_cancel_are_job_events(store: ExecutionStore,
                                                runtime: Runtime) -> None:
    workload.fan_out_flow("pausable", ErrorStrategy.CONTINUE)
    worker, job = runtime.post("pausable", "src", "trigger", {"count": 1})
    executor = worker._executor
    executor.pause("maintenance")
    executor.resume()
    executor.cancel("shutting down")
    state = workload.wait_for_job(job.job_id)
    assert state.status == "cancelled"
    span = job_span(store, job.job_id)
    assert [e.name for e in span.events] == [semconv.ROUTILUX_PAUSED_EVENT,
                                            semconv.ROUTILUX_RESUMED_EVENT,
                                            semconv.ROUTILUX_CANCELLED_EVENT]
    assert state.pause_points[0]["reason"] == "maintenance"


def test_uninstrument_restores_routilux(store: ExecutionStore) -> None:
    otel_exec.instrument("routilux")
    rt = Runtime()
    try:
        workload.run_fan_out(rt, "restore_me", ErrorStrategy.CONTINUE, 1)
    finally:
        otel_exec.uninstrument("routilux")
    flow_routines = __import__("routilux.core.registry", fromlist=["FlowRegistry"]).FlowRegistry
    flow = flow_routines.get_instance().get("restore_me")
    assert not any(_patching.is_patched(p.module, p.attribute) for p in PATCHES)
    assert all(not hasattr(r._logic, "__wrapped__") for r in flow.routines.values())
    store.clear()
    rt.post("restore_me", "src", "trigger", {"count": 1})
    rt.shutdown(wait=True, timeout=5)
    assert len(store) == 0


class LogicMethodStep(workload.Routine):
    """The subclass style routilux's own docstrings show: a ``logic()`` method, no set_logic."""

    def __init__(self) -> None:
        super().__init__()
        self.add_slot("in")
        self.add_event("out")
        self.set_activation_policy(workload.immediate)

    def logic(self, items: list[dict[str, int]], policy_message: object = None,
              worker_state: object = None) -> None:
        for item in items:
            self.emit("out", worker_state=worker_state, n=item["n"] + 100)


def test_routines_with_a_logic_method_get_spans(store: ExecutionStore, runtime: Runtime) -> None:
    flow = workload.Flow(f"logic_method_{next(_names)}")
    workload.FLOWS.append(flow)
    flow.add_routine(workload.Source(), "src")
    flow.add_routine(LogicMethodStep(), "method")
    flow.add_routine(workload.Collect(), "agg")
    flow.connect("src", "out", "method", "in")
    flow.connect("method", "out", "agg", "in")
    _, job = runtime.post(flow.flow_id, "src", "trigger", {"count": 2})
    state = workload.wait_for_job(job.job_id)
    assert state.status == "completed"
    assert sorted(flow.routines["agg"].got) == [100, 101]
    spans = routines(store, job_span(store, job.job_id))
    ids = sorted(s.attributes[semconv.ROUTILUX_ROUTINE_ID] for s in spans)
    assert ids.count("method") >= 1 and "agg" in ids and "src" in ids
    method = next(s for s in spans if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "method")
    assert method.links, "linked to the routine whose emission activated it"
    # a direct call outside routilux's activation makes no span and still works
    store.clear()
    LogicMethodStep().logic([], worker_state=None)
    assert len(store) == 0


def test_jobs_end_on_one_shared_thread(store: ExecutionStore, runtime: Runtime) -> None:
    jobs = []
    for _ in range(10):
        name = f"shared_{next(_names)}"
        workload.fan_out_flow(name, ErrorStrategy.CONTINUE)
        jobs.append(runtime.post(name, "src", "trigger", {"count": 2})[1])
    seen: set[str] = set()
    timers: list[threading.Thread] = []
    deadline = time.monotonic() + 10
    while len(_ended(store)) < len(jobs) and time.monotonic() < deadline:
        threads = threading.enumerate()
        seen |= {t.name for t in threads if t.name.startswith("otel_exec")}
        timers += [t for t in threads if isinstance(t, threading.Timer)]
        time.sleep(0.002)
    assert len(_ended(store)) == len(jobs)
    assert seen <= {"otel_exec-routilux-jobs"}
    assert timers == []


def _ended(store: ExecutionStore) -> list[Execution]:
    return [e for e in store.executions() if e.kind == semconv.KIND_JOB]


def test_a_paused_job_is_ended_and_exported_at_interpreter_exit(tmp_path: Path) -> None:
    trace_file = tmp_path / "paused.jsonl"
    done = run_python(textwrap.dedent(f"""
        import time
        import otel_exec
        from routilux.core.error import ErrorStrategy
        from routilux.core.runtime import Runtime
        from tests.instrumentation import routilux_workload as workload

        otel_exec.configure(file={str(trace_file)!r})
        otel_exec.instrument("routilux", quiet_period=0.05)
        workload.fan_out_flow("paused_flow", ErrorStrategy.CONTINUE)
        worker, job = Runtime().post("paused_flow", "src", "trigger", {{"count": 3}})
        worker._executor.pause("maintenance")
        time.sleep(0.3)
        assert len(otel_exec.job_state.jobs()) == 1
    """))
    assert done.returncode == 0, done.stderr
    (job,) = [e for e in otel_exec.load(trace_file).executions() if e.kind == semconv.KIND_JOB]
    assert job.status is ExecStatus.PAUSED
    assert job.attributes[semconv.ROUTILUX_JOB_END] in ("exit", "shutdown")


def test_a_routine_outside_the_execution_context_keeps_its_id_in_its_flow() -> None:
    """A routine run outside routilux's execution context (its event loop) is looked up in
    its worker's flow once, then remembered; renamed in its flow, or in another flow, it is
    looked up again."""
    from types import SimpleNamespace

    from otel_exec.instrumentation.routilux import _runtime

    _runtime.import_routilux()
    flow = workload.Flow(f"ids_{next(_names)}")
    other = workload.Flow(f"ids_{next(_names)}")
    routine = workload.Collect()
    flow.add_routine(routine, "first")
    worker = SimpleNamespace(flow_id=flow.flow_id)
    assert _runtime._routine_id(routine, worker) == ("first", flow)
    assert routine in _runtime._found_ids
    assert _runtime._routine_id(routine, worker) == ("first", flow)  # remembered
    flow.routines["renamed"] = flow.routines.pop("first")
    assert _runtime._routine_id(routine, worker) == ("renamed", flow)
    other.add_routine(routine, "elsewhere")
    assert _runtime._routine_id(routine, SimpleNamespace(flow_id=other.flow_id)) == (
        "elsewhere", other)
