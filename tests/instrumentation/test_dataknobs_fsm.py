"""dataknobs-fsm instrumentation and the ExecutionHistory view, against the real dataknobs-fsm."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("dataknobs_fsm", reason="dataknobs-fsm is not installed (it needs Python "
                                            ">= 3.12)")

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.execution import Execution
from otel_exec.instrumentation import _patching
from otel_exec.instrumentation.dataknobs_fsm import PATCHES
from otel_exec.semconv import ExecStatus
from otel_exec.views.history import DataMode, ExecutionHistory, ExecutionStatus, ExecutionStep
from tests.instrumentation import fsm_workload as workload


@pytest.fixture
def fsm_store(store: ExecutionStore) -> Iterator[ExecutionStore]:
    otel_exec.instrument("dataknobs_fsm")
    yield store
    otel_exec.uninstrument("dataknobs_fsm")


def kinds(store: ExecutionStore, kind: str) -> list[Execution]:
    return sorted((e for e in store.executions() if e.kind == kind), key=lambda e: e.start_ns)


def test_a_run_is_a_trace_of_steps_in_the_order_the_fsm_took(fsm_store: ExecutionStore) -> None:
    result = workload.loans().process({"amount": 3})
    assert result["success"]
    (run,) = kinds(fsm_store, semconv.KIND_FSM_RUN)
    assert run.status is ExecStatus.COMPLETED
    assert run.attributes[semconv.FSM_NAME] == "loans"
    steps = [e for e in fsm_store.subtree(run.span_id) if e.kind == semconv.KIND_STEP]
    assert [s.attributes[semconv.FSM_STATE] for s in sorted(steps, key=lambda s: s.start_ns)] == (
        result["path"])
    history = otel_exec.history()
    assert [step.state_name for step in history.steps] == result["path"]
    assert [step.arc_taken for step in history.steps] == [
        "begin", "score_it", "s_start->s_end", None, "ok", None]
    assert history.execution_id == run.span_id
    assert {s.trace_id for s in steps} == {run.trace_id}


def test_branching_takes_the_arc_whose_condition_held(fsm_store: ExecutionStore) -> None:
    fsm = workload.loans()
    assert fsm.process({"amount": 6})["final_state"] == "rejected"
    history = otel_exec.history()
    assert history.get_steps_by_state("decide")[0].arc_taken == "bad"
    assert history.get_path_to_current()[-1].state_name == "rejected"
    (arc,) = [e for e in fsm_store.executions() if e.kind == semconv.KIND_ARC
              and e.attributes[semconv.FSM_ARC_NAME] == "bad"]
    assert arc.attributes[semconv.FSM_ARC_SOURCE] == "decide"
    assert arc.attributes[semconv.FSM_ARC_TARGET] == "rejected"


def test_a_failing_state_fails_its_step_and_skips_the_next(fsm_store: ExecutionStore) -> None:
    fsm = workload.SimpleFSM({
        "name": "pay",
        "states": [{"name": "start", "is_start": True},
                   {"name": "validate", "functions": {"transform": "validate"}},
                   {"name": "load", "functions": {"transform": "load"}},
                   {"name": "done", "is_end": True}],
        "arcs": [{"from": "start", "to": "validate"}, {"from": "validate", "to": "load"},
                 {"from": "load", "to": "done"}],
    }, custom_functions=workload.FUNCTIONS)
    result = fsm.process({"x": 1})
    assert not result["success"]
    history = otel_exec.history()
    assert [(s.state_name, s.status) for s in history.steps] == [
        ("start", ExecutionStatus.COMPLETED), ("validate", ExecutionStatus.FAILED),
        ("load", ExecutionStatus.SKIPPED), ("done", ExecutionStatus.COMPLETED)]
    failed = history.get_steps_by_state("validate")[0]
    assert isinstance(failed.error, ValueError) and str(failed.error) == "no amount"
    summary = history.get_summary()
    assert (summary["failed_steps"], summary["skipped_steps"], summary["completed_steps"]) == (
        1, 1, 2)
    (run,) = kinds(fsm_store, semconv.KIND_FSM_RUN)
    assert run.status is ExecStatus.FAILED
    assert run.attributes[semconv.FSM_ERROR] == result["error"]
    assert run.attributes[semconv.FSM_FAILED_STATES] == ("validate",)
    step = fsm_store.find(failed.step_id)
    assert step is not None and step.error_type == "ValueError"


def test_a_push_arc_opens_a_linked_subnetwork(fsm_store: ExecutionStore) -> None:
    workload.loans().process({"amount": 3})
    (subnetwork,) = kinds(fsm_store, semconv.KIND_SUBNETWORK)
    (push,) = [e for e in kinds(fsm_store, semconv.KIND_ARC)
               if e.attributes[semconv.FSM_ARC_PUSH]]
    assert push.attributes[semconv.FSM_ARC_TARGET_NETWORK] == "scoring"
    assert [link.context.span_id for link in subnetwork.links] == [int(push.span_id, 16)]
    inside = [e.attributes[semconv.FSM_STATE] for e in fsm_store.children(subnetwork.span_id)]
    assert sorted(inside) == ["s_end", "s_start"]
    history = otel_exec.history()
    assert [s.network_name for s in history.steps] == [
        "main", "main", "scoring", "scoring", "main", "main"]


def test_resources_are_spans_under_their_step_and_in_the_history(
        fsm_store: ExecutionStore) -> None:
    workload.loans().process({"amount": 3})
    (resource,) = kinds(fsm_store, semconv.KIND_RESOURCE)
    parent = fsm_store.find(resource.parent_span_id or "0")
    assert parent is not None and parent.attributes[semconv.FSM_STATE] == "decide"
    usage = otel_exec.history().get_resource_usage()
    assert usage["ledger"]["total_calls"] == 1
    assert usage["ledger"]["steps"] == [parent.span_id]


def test_data_modes_come_from_the_state_definitions(fsm_store: ExecutionStore) -> None:
    workload.loans().process({"amount": 3})
    history = otel_exec.history()
    assert [s.state_name for s in history.get_steps_by_mode(DataMode.REFERENCE)] == ["validate"]
    assert [s.state_name for s in history.get_steps_by_mode("reference")] == ["validate"]


def test_arc_retries_are_counted(fsm_store: ExecutionStore) -> None:
    workload.attempts.clear()
    result = workload.fetcher().process({"amount": 1})
    assert result["success"] and result["data"]["fetched"] == 2
    (arc,) = kinds(fsm_store, semconv.KIND_ARC)
    assert arc.status is ExecStatus.COMPLETED
    assert arc.attributes[semconv.FSM_ARC_ATTEMPTS] == 2
    (event,) = arc.events
    assert event.name == semconv.FSM_ARC_ATTEMPT_EVENT
    assert event.attributes[semconv.EXCEPTION_TYPE] == "ConnectionError"


def test_batch_runs_are_concurrent_and_never_mix(fsm_store: ExecutionStore) -> None:
    amounts = list(range(1, 13))
    results = workload.loans().process_batch([{"amount": a} for a in amounts], max_workers=4)
    assert all(r["success"] for r in results)
    (batch,) = kinds(fsm_store, semconv.KIND_BATCH)
    runs = kinds(fsm_store, semconv.KIND_FSM_RUN)
    assert len(runs) == 12
    assert {r.parent_span_id for r in runs} == {batch.span_id}
    for run in runs:
        members = fsm_store.subtree(run.span_id)
        scores = {m.attributes.get(semconv.FSM_STATE) for m in members
                  if m.kind == semconv.KIND_STEP}
        assert scores == {"start", "validate", "s_start", "s_end", "decide",
                          "approved" if run.result["score"] < 5 else "rejected"}
    history = otel_exec.history()
    assert history.execution_id == batch.span_id
    assert len(history.get_all_paths()) == 12
    assert history.total_steps == 72


def test_a_stream_has_chunk_spans_and_progress(fsm_store: ExecutionStore,
                                               tmp_path: Path) -> None:
    source = tmp_path / "loans.jsonl"
    source.write_text("".join(json.dumps({"amount": a}) + "\n" for a in range(1, 8)))
    stats = workload.loans().process_stream(str(source), chunk_size=3)
    assert stats["total_processed"] == 7
    chunks = kinds(fsm_store, semconv.KIND_CHUNK)
    assert [c.attributes[semconv.FSM_CHUNK_SIZE] for c in chunks] == [3, 3, 1]
    for chunk in chunks:
        runs = [e for e in fsm_store.children(chunk.span_id) if e.kind == semconv.KIND_FSM_RUN]
        assert len(runs) == chunk.attributes[semconv.FSM_CHUNK_SIZE]
    history = otel_exec.history()
    assert history.get_stream_progress() == {"total_chunks": 3, "total_records": 7,
                                             "streams_processed": 1}
    assert len(history.get_all_paths()) == 7


def test_to_dict_from_dict_is_lossless(fsm_store: ExecutionStore) -> None:
    workload.loans().process_batch([{"amount": 1}, {"amount": 6}])
    history = otel_exec.history()
    data = json.loads(json.dumps(history.to_dict()))
    again = ExecutionHistory.from_dict(data)
    assert again.to_dict() == data
    assert again.total_steps == history.total_steps == 12
    assert len(again.get_all_paths()) == 2


def test_histories_lists_every_top_level_execution(fsm_store: ExecutionStore) -> None:
    fsm = workload.loans()
    fsm.process({"amount": 1})
    fsm.process_batch([{"amount": 2}, {"amount": 3}])
    assert [h.get_summary()["total_paths"] for h in otel_exec.history.histories()] == [1, 2]
    with pytest.raises(LookupError):
        otel_exec.history("0" * 16)


def test_uninstrument_restores_dataknobs(store: ExecutionStore) -> None:
    otel_exec.instrument("dataknobs_fsm")
    otel_exec.uninstrument("dataknobs_fsm")
    assert not any(_patching.is_patched(p.module, p.attribute) for p in PATCHES)
    workload.loans().process({"amount": 3})
    assert len(store) == 0


def test_the_history_view_fixes_the_seed_quirks() -> None:
    history = ExecutionHistory("m", "run-1")
    first = history.add_step("a", "main")
    second = history.add_step("b", "main")
    history.add_step("c", "main")  # still pending
    history.update_step(first.step_id, ExecutionStatus.COMPLETED, arc_taken="to_b")
    assert history.update_step(second.step_id, ExecutionStatus.FAILED)  # no error object
    summary = history.get_summary()
    assert (summary["completed_steps"], summary["failed_steps"], summary["total_steps"]) == (
        1, 1, 3)
    history.update_step(second.step_id, ExecutionStatus.FAILED, arc_taken="kept")
    assert second.arc_taken == "kept"
    legacy = {"summary": summary, "paths": [[s.to_dict() for s in history.steps]] * 2}
    assert ExecutionHistory.from_dict(legacy).total_steps == 3  # shared prefixes once
    assert isinstance(ExecutionStep.from_dict(first.to_dict()), ExecutionStep)
