"""routilux 0.11 (Flow.execute → JobState), the older API. routilux 1.x replaced it, so
this file runs in its own environment (`make test` builds .venv-routilux011 with routilux 0.11.0
and serilux 0.3.1) and is skipped where routilux 1.x is installed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("routilux.flow.flow", reason="routilux 0.11 is tested in .venv-routilux011")

from routilux import Flow, Routine
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.job_state import JobState as RoutiluxJobState

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.execution import Execution
from otel_exec.semconv import ExecStatus
from otel_exec.views.tracker import JobState

_names = itertools.count()


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["n"])

    def run(self, count: int = 0, **_: Any) -> None:
        for n in range(count):
            self.emit("output", n=n)


class Step(Routine):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.define_slot("input", handler=self.run)
        self.define_event("output", ["n"])

    def run(self, n: int = 0, **_: Any) -> None:
        if self.fail:
            raise ValueError("cannot process")
        self.emit("output", n=n * 2)


class Collect(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[int] = []
        self.define_slot("input", handler=self.run)

    def run(self, n: int = 0, **_: Any) -> None:
        self.got.append(n)


def fan_out(strategy: ErrorStrategy | None) -> Flow:
    flow = Flow(flow_id=f"old_{next(_names)}")
    flow.add_routine(Source(), "src")
    flow.add_routine(Step(), "ok")
    bad = Step(fail=True)
    flow.add_routine(bad, "bad")
    flow.add_routine(Collect(), "agg")
    flow.connect("src", "output", "ok", "input")
    flow.connect("src", "output", "bad", "input")
    flow.connect("ok", "output", "agg", "input")
    if strategy is not None:
        bad.set_error_handler(ErrorHandler(strategy=strategy))
    return flow


@pytest.fixture
def instrumented(store: ExecutionStore) -> Iterator[ExecutionStore]:
    otel_exec.instrument("routilux", quiet_period=0.05)
    yield store
    otel_exec.uninstrument("routilux")


def run(strategy: ErrorStrategy | None, count: int = 3) -> tuple[Flow, Any]:
    flow = fan_out(strategy)
    job_state = flow.execute("src", entry_params={"count": count})
    assert RoutiluxJobState.wait_for_completion(flow, job_state, timeout=10)
    return flow, job_state


def job_span(store: ExecutionStore, job_id: str) -> Execution:
    (job,) = [e for e in store.executions() if e.kind == semconv.KIND_JOB
              and e.attributes.get(semconv.ROUTILUX_JOB_ID) == job_id]
    return job


def routines(store: ExecutionStore, job: Execution) -> list[Execution]:
    return [e for e in store.subtree(job.span_id) if e.kind == semconv.KIND_ROUTINE]


def test_routines_are_under_the_job_and_linked_to_their_emitter(
        instrumented: ExecutionStore) -> None:
    _, job_state = run(ErrorStrategy.CONTINUE)
    job = job_span(instrumented, job_state.job_id)
    spans = {s.span_id: s for s in routines(instrumented, job)}
    assert sorted(s.attributes[semconv.ROUTILUX_ROUTINE_ID] for s in spans.values()) == (
        ["agg"] * 3 + ["bad"] * 3 + ["ok"] * 3 + ["src"])
    assert {s.parent_span_id for s in spans.values()} == {job.span_id}
    (source,) = [s for s in spans.values() if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "src"]
    fed_by_source = sorted(s.attributes[semconv.ROUTILUX_ROUTINE_ID] for s in spans.values()
                           for link in s.links if f"{link.context.span_id:016x}" == source.span_id)
    assert fed_by_source == ["bad"] * 3 + ["ok"] * 3  # fan-out: one emission, two routines


@pytest.mark.parametrize(("strategy", "status", "job_status"), [
    (ErrorStrategy.CONTINUE, ExecStatus.ERROR_CONTINUED, "completed"),
    (ErrorStrategy.SKIP, ExecStatus.SKIPPED, "completed"),
    (ErrorStrategy.STOP, ExecStatus.FAILED, "failed"),
])
def test_statuses_follow_the_error_strategy(instrumented: ExecutionStore,
                                            strategy: ErrorStrategy, status: ExecStatus,
                                            job_status: str) -> None:
    _, job_state = run(strategy)
    job = job_span(instrumented, job_state.job_id)
    bad = [s for s in routines(instrumented, job)
           if s.attributes[semconv.ROUTILUX_ROUTINE_ID] == "bad"]
    assert bad and {s.status for s in bad} == {status}
    assert job_state.status == job_status
    assert otel_exec.job_state(job_state.job_id).status == job_status  # routilux's own verdict
    assert job.attributes[semconv.ROUTILUX_JOB_END] in ("idle", "wait_for_completion")


def test_the_job_ends_without_wait_for_completion(instrumented: ExecutionStore) -> None:
    import time

    flow = fan_out(ErrorStrategy.CONTINUE)
    job_state = flow.execute("src", entry_params={"count": 2})
    deadline = time.monotonic() + 10
    while otel_exec.job_state(job_state.job_id).status == "running":
        assert time.monotonic() < deadline, "the job span never ended"
        time.sleep(0.01)
    job = job_span(instrumented, job_state.job_id)
    assert job.attributes[semconv.ROUTILUX_JOB_END] == "idle"
    assert job.end_ns >= max(s.end_ns or 0 for s in routines(instrumented, job))


def test_views_agree_with_spans_and_job_state_round_trips(instrumented: ExecutionStore,
                                                          tmp_path: Path) -> None:
    _, job_state = run(ErrorStrategy.CONTINUE)
    tracker = otel_exec.tracker(job_state.job_id)
    job = job_span(instrumented, job_state.job_id)
    spans = routines(instrumented, job)
    assert tracker.get_flow_performance()["total_execution_time"] == pytest.approx(
        sum(s.duration for s in spans))
    assert tracker.get_routine_performance("ok")["total_executions"] == 3
    state = otel_exec.job_state(job_state.job_id)
    assert state.get_routine_state("bad")["errors"] == 3
    path = tmp_path / "job.json"
    state.save(path)
    assert JobState.load(path).serialize() == state.serialize()


def test_uninstrument_restores_routilux_011(store: ExecutionStore) -> None:
    from otel_exec.instrumentation import _patching
    from otel_exec.instrumentation.routilux import PATCHES_011

    otel_exec.instrument("routilux")
    otel_exec.uninstrument("routilux")
    assert not any(_patching.is_patched(p.module, p.attribute) for p in PATCHES_011)
    run(ErrorStrategy.CONTINUE)
    assert len(store) == 0


def test_every_0_11_target_resolves_with_the_parameters_its_wrapper_reads() -> None:
    from otel_exec.instrumentation._patching import check
    from otel_exec.instrumentation.routilux import PATCHES_011

    assert [reason for patch in PATCHES_011 if (reason := check(patch)) is not None] == []


def test_a_slot_used_outside_any_job_makes_no_span(instrumented: ExecutionStore) -> None:
    collect = Collect()
    collect.get_slot("input").receive({"n": 3})
    assert collect.got == [3]
    assert len(instrumented) == 0
