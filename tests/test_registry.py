from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rich.console import Console

import otel_exec
from otel_exec import ExecutionStore, semconv

registry = otel_exec.registry


def captured(**kwargs: object) -> str:
    console = Console(color_system=None, width=140, record=True)
    with console.capture() as capture:
        registry.summary(console=console, **kwargs)  # type: ignore[arg-type]
    return capture.get()


@otel_exec.traced(name="fetch")
def fetch(n: int) -> list[int]:
    return list(range(n))


@otel_exec.traced(name="fail")
def fail() -> None:
    raise RuntimeError("no luck")


@otel_exec.traced(name="quiet", attributes={semconv.EXEC_IGNORE_IN_HISTORY: True})
def quiet() -> str:
    return "hidden"


def run_workload() -> None:
    fetch(2)
    with pytest.raises(RuntimeError):
        fail()
    fetch(60)


def test_the_full_table(store: ExecutionStore) -> None:
    run_workload()
    out = captured()
    assert "📊 Execution History" in out
    for header in ("Index", "Name", "Start", "End", "Duration", "Status", "Result / Exception"):
        assert header in out
    lines = [line for line in out.splitlines() if "fetch" in line or "fail" in line]
    assert len(lines) == 3
    assert "✅ completed" in lines[0] and "[0, 1]" in lines[0]
    assert "❌ failed" in lines[1] and "RuntimeError('no luck')" in lines[1]
    assert lines[2].rstrip().endswith("...")  # results longer than 50 characters are cut


def test_start_and_end_are_wall_clock_times(store: ExecutionStore) -> None:
    from datetime import datetime

    fetch(1)
    (execution,) = store.executions()
    expected = datetime.fromtimestamp(execution.start_time).strftime("%H:%M:%S")
    assert expected in captured()
    assert abs(execution.start_time - datetime.now().timestamp()) < 60


def test_status_filters_never_show_a_failure_as_a_success(store: ExecutionStore) -> None:
    run_workload()
    success = captured(status="success")
    assert "fetch" in success and "fail" not in success
    error = captured(status="error")
    assert "fail" in error and "fetch" not in error
    assert "fail" in captured(status="ERROR")
    with pytest.raises(ValueError, match="status must be one of"):
        captured(status="failed")


def test_by_name_and_unknown_name(store: ExecutionStore) -> None:
    run_workload()
    out = captured(name="fetch")
    assert "📊 Execution History for 'fetch'" in out
    assert "fail" not in out
    assert captured(name="nope").strip() == "❌ No executions found for action 'nope'."


def test_by_index_prints_only_the_table(store: ExecutionStore) -> None:
    run_workload()
    first = store.executions()[1].index
    out = captured(index=first)
    assert out.lstrip().startswith(f"📊 Execution History for Index {first}")
    assert "fail" in out and "fetch" not in out
    assert captured(index=10**9).strip() == f"❌ No execution found for index {10**9}."


def test_result_index_prints_the_result_or_the_traceback(store: ExecutionStore) -> None:
    run_workload()
    ok, failed, _ = store.executions()
    out = captured(result_index=ok.index)
    assert out.splitlines()[0] == "fetch(2):"
    assert "[0, 1]" in out
    out = captured(result_index=failed.index)
    assert out.splitlines()[0] == "fail():"
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: no luck" in out
    assert captured(result_index=10**9).strip() == f"❌ No execution found for index {10**9}."


def test_last_result_skips_ignored_executions(store: ExecutionStore) -> None:
    assert captured(last_result=True).strip() == (
        "❌ No valid executions found to display last result.")
    fetch(3)
    quiet()
    out = captured(last_result=True)
    assert out.splitlines()[0] == "fetch(3):"
    assert "[0, 1, 2]" in out


def test_clear_empties_the_history_but_indices_go_on(store: ExecutionStore) -> None:
    fetch(1)
    before = store.latest()
    assert before is not None and before.index is not None
    assert captured(clear=True).strip() == "✅ Execution history cleared."
    assert registry.get_all() == []
    fetch(1)
    assert registry.get_latest().index == before.index + 1


def test_argument_precedence_follows_falyx(store: ExecutionStore) -> None:
    fetch(1)
    assert "cleared" in captured(clear=True, last_result=True, name="fetch")
    fetch(1)
    assert captured(last_result=True, result_index=0, name="x").splitlines()[0] == "fetch(1):"


def test_evictions_are_mentioned(store: ExecutionStore) -> None:
    store.max_spans = 2
    try:
        for i in range(5):
            fetch(i)
        assert "3 older executions evicted (max_spans=2)" in captured()
    finally:
        store.max_spans = 50_000


def test_get_all_by_name_latest(store: ExecutionStore) -> None:
    with pytest.raises(IndexError):
        registry.get_latest()
    run_workload()
    assert [item.name for item in registry.get_all()] == ["fetch", "fail", "fetch"]
    assert [item.result for item in registry.get_by_name("fetch")] == [[0, 1], list(range(60))]
    assert registry.get_by_name("unknown") == []
    assert registry.get_latest().args == (60,)


@dataclass
class Context:
    name: str
    result: object = None
    exception: BaseException | None = None
    duration: float = 0.25
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = field(default_factory=dict)
    index: int | None = None


def test_record_turns_a_context_into_a_span_and_writes_the_index_back(
        store: ExecutionStore) -> None:
    ok = Context("manual", result=7, args=(1,))
    bad = Context("manual", exception=KeyError("k"))
    first = registry.record(ok)
    second = registry.record(bad)
    assert first is not None and second is not None
    assert ok.index == first.index and bad.index == second.index == first.index + 1
    assert first.result == 7 and first.success
    assert abs(first.duration - 0.25) < 1e-3  # type: ignore[operator]
    assert second.exception is bad.exception and not second.success
    assert [item.name for item in registry.get_by_name("manual")] == ["manual", "manual"]
