"""``otel_exec.attributes(...)``: on every execution started inside (threads the context goes to,
each framework), none outside, scrubbed; the CLI filters by them."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.cli import main
from tests.conftest import needs_fsm


@otel_exec.traced(name="step")
def step(n: int) -> int:
    return n + 1


def runs(store: ExecutionStore, name: str) -> list[object]:
    return [e.attributes.get("run_id") for e in store.by_name(name)]


def test_inside_the_block_and_its_tasks_and_threads_not_outside(store: ExecutionStore) -> None:
    step(0)
    with otel_exec.attributes(run_id="r-42", user="ana"):
        step(1)

        async def in_a_task() -> None:
            step(2)
            await asyncio.to_thread(step, 3)
            await asyncio.gather(*(asyncio.create_task(asyncio.to_thread(step, n))
                                   for n in (4, 5)))

        asyncio.run(in_a_task())
        with otel_exec.span("block"):
            pass
    step(6)
    assert runs(store, "step") == [None, "r-42", "r-42", "r-42", "r-42", "r-42", None]
    assert store.by_name("block")[0].attributes["user"] == "ana"


def test_nested_blocks_add_and_override_and_values_are_scrubbed(store: ExecutionStore) -> None:
    with otel_exec.attributes(run_id="outer", team="ops", api_key="hunter2", n=3):
        with otel_exec.attributes(run_id="inner"):
            step(1)
        step(2)
    inner, outer = store.by_name("step")
    assert (inner.attributes["run_id"], inner.attributes["team"]) == ("inner", "ops")
    assert outer.attributes["run_id"] == "outer"
    assert outer.attributes["api_key"] == "[REDACTED]" and outer.attributes["n"] == 3


def test_as_a_decorator_on_sync_and_async_functions(store: ExecutionStore) -> None:
    @otel_exec.attributes(run_id="decorated")
    def run_sync() -> int:
        return step(1)

    @otel_exec.attributes(run_id="decorated async")
    async def run_async() -> int:
        return step(2)

    assert run_sync() == 2 and asyncio.run(run_async()) == 3
    assert runs(store, "step") == ["decorated", "decorated async"]


def test_falyx_actions_and_routilux_routines_inside_get_them(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from falyx.action import Action, ChainedAction
    from routilux.core.error import ErrorStrategy
    from routilux.core.runtime import Runtime

    from tests.instrumentation import routilux_workload as workload

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    otel_exec.instrument("falyx")
    otel_exec.instrument("routilux", quiet_period=0.05)
    runtime = Runtime()
    try:
        with otel_exec.attributes(run_id="release-7"):
            asyncio.run(ChainedAction("pipeline", [Action("fetch", lambda: 1),
                                                   Action("build", lambda: 2)])())
            workload.run_fan_out(runtime, "attributed_flow", ErrorStrategy.CONTINUE, 2)
    finally:
        runtime.shutdown(wait=True, timeout=5)
        otel_exec.uninstrument("falyx")
        otel_exec.uninstrument("routilux")
    framework = [e for e in store.executions() if e.framework in ("falyx", "routilux")]
    assert {e.kind for e in framework} >= {"chained_action", "action", "job", "routine"}
    assert {e.attributes.get("run_id") for e in framework} == {"release-7"}


@needs_fsm
def test_fsm_steps_inside_get_them(store: ExecutionStore) -> None:
    from tests.instrumentation import fsm_workload as workload

    otel_exec.instrument("dataknobs_fsm")
    try:
        with otel_exec.attributes(run_id="loans-1"):
            workload.loans().process({"amount": 3})
    finally:
        otel_exec.uninstrument("dataknobs_fsm")
    fsm = [e for e in store.executions() if e.framework == "dataknobs_fsm"]
    assert fsm and {e.attributes.get("run_id") for e in fsm} == {"loans-1"}


def test_the_cli_filters_by_them(store: ExecutionStore, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with otel_exec.attributes(run_id="r-1"):
        step(1)
    with otel_exec.attributes(run_id="r-2"):
        step(2)
        step(3)
    path = tmp_path / "runs.jsonl"
    otel_exec.save(path)
    assert main(["stats", str(path), "--attr", "run_id=r-2", "--json"]) == 0
    assert '"count": 2' in capsys.readouterr().out
    assert main(["summary", str(path), "--attr", "run_id=r-9"]) == 2
    assert "no executions match --attr run_id=r-9" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["summary", str(path), "--attr", "no-equals"])
    assert exited.value.code == 2 and "is not NAME=VALUE" in capsys.readouterr().err


def test_spans_of_other_instrumentations_get_them_too(store: ExecutionStore) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer("someone-else")
    with otel_exec.attributes(run_id="r-7"), tracer.start_as_current_span("http GET"):
        step(1)
    with tracer.start_as_current_span("outside"):
        step(2)  # an execution in its trace: the store keeps the span
    (inside,) = store.by_name("http GET")
    assert inside.attributes["run_id"] == "r-7"
    assert "run_id" not in store.by_name("outside")[0].attributes
    assert runs(store, "step") == ["r-7", None]


def test_baggage_carries_them_to_another_service_and_back_into_attributes(
        store: ExecutionStore) -> None:
    from opentelemetry import context, propagate

    headers: dict[str, str] = {}
    with otel_exec.attributes(run_id="r-42", tags=("a", "b"), baggage=True):
        propagate.inject(headers)  # what an HTTP client instrumentation sends
    with otel_exec.attributes(run_id="local only"):
        quiet: dict[str, str] = {}
        propagate.inject(quiet)
    assert "run_id=r-42" in headers["baggage"] and "baggage" not in quiet

    received = propagate.extract({**headers, "baggage": headers["baggage"] + ",token=hunter2"})
    token = context.attach(received)
    try:
        step(1)  # baggage is not taken unless the service asks
        otel_exec.configure(baggage=True)
        step(2)
        with otel_exec.attributes(run_id="overridden"):
            step(3)
    finally:
        context.detach(token)
        otel_exec.configure(baggage=False)
    first, second, third = store.by_name("step")
    assert "run_id" not in first.attributes
    assert second.attributes["run_id"] == "r-42" and second.attributes["tags"] == "a,b"
    assert second.attributes["token"] == "[REDACTED]"
    assert third.attributes["run_id"] == "overridden"


def test_configure_baggage_sends_every_block(store: ExecutionStore) -> None:
    from opentelemetry import propagate

    otel_exec.configure(baggage=True)
    try:
        headers: dict[str, str] = {}
        with otel_exec.attributes(run_id="r-9"):
            propagate.inject(headers)
    finally:
        otel_exec.configure(baggage=False)
    assert headers.get("baggage") == "run_id=r-9"
