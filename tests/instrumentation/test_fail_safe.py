"""Our bookkeeping failing never reaches the program: with each piece of the span helper made to
raise, every framework's workload gives exactly what it gives uninstrumented."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from falyx.execution_registry import ExecutionRegistry as FalyxRegistry
from routilux.core.runtime import Runtime

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.instrumentation._wrappers import ContextScope
from otel_exec.spans import ExecutionSpan
from tests.conftest import needs_fsm
from tests.instrumentation import falyx_workload, routilux_workload

BOOKKEEPING = [
    *(f"ExecutionSpan.{name}" for name in ("__init__", "activate", "deactivate", "add_event",
                                            "set_attributes", "finish")),
    "ContextScope.activate", "ContextScope.deactivate",  # a scope sets its span's context
]


@pytest.fixture(params=BOOKKEEPING)
def broken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
           caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """One method of the span helper, or of the scope that makes a span current, raises
    whenever an instrumentation calls it."""
    target: str = request.param
    owner, _, name = target.partition(".")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"otel_exec bookkeeping broke in {target}")

    caplog.set_level(logging.CRITICAL, logger="otel_exec")
    monkeypatch.setattr({"ExecutionSpan": ExecutionSpan, "ContextScope": ContextScope}[owner],
                        name, fail)
    yield target


def _falyx_outcomes() -> tuple[list[str], list[tuple[str, str]]]:
    FalyxRegistry.clear()
    actions = asyncio.run(falyx_workload.run_actions(falyx_workload.build_actions()))
    commands = asyncio.run(falyx_workload.run_cli(falyx_workload.build_cli()))
    # the group's actions run concurrently: their results and registry entries come in the
    # order they finish, which a loaded machine can change between two runs
    shown = [f"{key}={sorted(value) if key == 'group' else value!r}"
             for key, value in {**actions, **commands}.items()
             if key != "process_trace"]  # that one reports the worker's trace id
    return shown, sorted((c.name, c.status) for c in FalyxRegistry.get_all())


def assert_unchanged_by_instrumentation(framework: str, run: Callable[[], Any],
                                        **options: Any) -> None:
    """``run()`` gives the same with ``framework`` instrumented as without."""
    expected = run()
    otel_exec.instrument(framework, **options)
    try:
        got = run()
        assert got == expected, "\n".join(_differences(expected, got))
    finally:
        otel_exec.uninstrument(framework)


def _differences(expected: Any, got: Any, where: str = "") -> list[str]:
    """Each item that differs, by its place in nested lists and tuples (a long outcome's
    difference would be cut off in pytest's own message)."""
    if (isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple))
            and len(expected) == len(got)):
        return [line for n, (one, other) in enumerate(zip(expected, got, strict=True))
                for line in _differences(one, other, f"{where}[{n}]")]
    return [] if expected == got else [f"{where}: expected {expected!r}, got {got!r}"]


def test_falyx_results_survive_our_failures(store: ExecutionStore, broken: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert_unchanged_by_instrumentation("falyx", _falyx_outcomes)


def _fsm_outcomes() -> list[Any]:
    from tests.instrumentation import fsm_workload

    fsm_workload.attempts.clear()
    loans = fsm_workload.loans()
    results = [loans.process({"amount": amount}) for amount in (50, 5000)]
    results.append(fsm_workload.fetcher().process({"amount": 7}))
    return [(r["success"], r["final_state"], r["data"], r["path"], r["error"]) for r in results]


@needs_fsm
def test_dataknobs_fsm_results_survive_our_failures(store: ExecutionStore, broken: str) -> None:
    assert_unchanged_by_instrumentation("dataknobs_fsm", _fsm_outcomes)


def _routilux_outcome() -> list[int]:
    runtime = Runtime()
    try:
        flow = routilux_workload.fan_out_flow(f"fail_safe_{time.monotonic_ns()}",
                                              routilux_workload.ErrorStrategy.CONTINUE)
        runtime.post(flow.flow_id, "src", "trigger", {"count": 3})
        collected: list[int] = flow.routines["agg"].got
        deadline = time.monotonic() + 10
        while len(collected) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        return sorted(collected)
    finally:
        runtime.shutdown(wait=True, timeout=5)


def test_routilux_results_survive_our_failures(store: ExecutionStore, broken: str) -> None:
    assert _routilux_outcome() == [0, 2, 4]
    assert_unchanged_by_instrumentation("routilux", _routilux_outcome, quiet_period=0.05)


@pytest.mark.parametrize("broken_part", ["_runtime._wrap_logic_of", "_jobs.Job.task_done"])
def test_routilux_results_survive_a_binding_of_ours_failing(
        store: ExecutionStore, broken_part: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """What a binding carries into the call (the routine being activated) or does after it (a
    task counted done) raising: the routines run as uninstrumented, and ours is logged."""
    from otel_exec.instrumentation import routilux as routilux_instrumentation

    module_name, _, attribute = broken_part.partition(".")
    owner: Any = getattr(routilux_instrumentation, module_name)
    for part in attribute.split(".")[:-1]:
        owner = getattr(owner, part)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"otel_exec bookkeeping broke in {broken_part}")

    monkeypatch.setattr(owner, attribute.rpartition(".")[2], fail)
    caplog.set_level(logging.WARNING, logger="otel_exec")
    assert_unchanged_by_instrumentation("routilux", _routilux_outcome, quiet_period=0.05)
    assert any(f"otel_exec bookkeeping broke in {broken_part}" in str(record.exc_info[1])
               for record in caplog.records
               if record.exc_info and record.name.startswith("otel_exec"))
