"""falyx auto-instrumentation against the real falyx: parity with its own registry, the tree,
retries, failures, process propagation and a clean uninstrument."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from falyx.action import Action, ActionGroup, ChainedAction, ProcessAction
from falyx.context import ExecutionContext
from falyx.execution_registry import ExecutionRegistry as FalyxRegistry
from falyx.hook_manager import HookManager, HookType
from falyx.retry import RetryHandler
from opentelemetry.instrumentation.utils import suppress_instrumentation
from rich.console import Console

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.execution import Execution
from otel_exec.instrumentation import _patching
from otel_exec.instrumentation.falyx import PATCHES, PROCESS_PATCHES, FalyxInstrumentor
from otel_exec.semconv import ExecStatus
from tests.conftest import needs_falyx_02, run_python
from tests.instrumentation import falyx_workload as workload


@pytest.fixture
def falyx_store(store: ExecutionStore, monkeypatch: pytest.MonkeyPatch,
                ) -> Iterator[ExecutionStore]:
    """falyx instrumented, with its registry and ours empty, and an empty stdin for ShellAction
    (falyx IO actions read stdin before their arguments; pytest's stdin refuses reads)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    otel_exec.instrument("falyx")
    FalyxRegistry.clear()
    yield store
    otel_exec.uninstrument("falyx")


def run_workload() -> tuple[dict[str, Any], dict[str, Any]]:
    actions = asyncio.run(workload.run_actions(workload.build_actions()))
    commands = asyncio.run(workload.run_cli(workload.build_cli()))
    return actions, commands


def one(store: ExecutionStore, name: str) -> Execution:
    (found,) = store.by_name(name)
    return found


def parent_of(store: ExecutionStore, execution: Execution) -> Execution | None:
    return None if execution.parent_span_id is None else store.find(execution.parent_span_id)


@needs_falyx_02
def test_registry_parity_names_statuses_order_and_indices(falyx_store: ExecutionStore) -> None:
    run_workload()
    theirs = FalyxRegistry.get_all()
    ours = otel_exec.registry.get_all()
    assert len(theirs) == 38
    assert [(e.name, "OK" if e.success else "ERROR") for e in ours] == [
        (c.name, c.status) for c in theirs]
    assert [e.attributes[semconv.FALYX_INDEX] for e in ours] == [c.index for c in theirs]
    # falyx numbers for the whole session (earlier tests ran it uninstrumented too): ours are
    # its indices; rollbacks take none
    assert [e.index for e in ours] == [c.index for c in theirs]
    for context in theirs:
        found = otel_exec.registry.get(context.index)
        assert found is not None and found.name == context.name
    for execution, context in zip(ours, theirs, strict=True):
        assert execution.result is context.result
        assert execution.exception is context.exception
        assert execution.args == context.args


def test_falyx_indices_stay_falyxs_whatever_else_runs(falyx_store: ExecutionStore) -> None:
    """@traced code before, between and inside falyx's actions takes no index and shifts none:
    every index is falyx's, and the other executions stay in the registry without one."""

    @otel_exec.traced
    def helper(n: int) -> int:
        return n + 1

    async def uses_helper() -> int:
        return helper(1)

    helper(0)
    asyncio.run(Action("first", action=uses_helper)())
    helper(2)
    asyncio.run(ChainedAction("chain", [Action("a", action=uses_helper),
                                        Action("b", action=uses_helper)])())
    theirs = FalyxRegistry.get_all()
    ours = otel_exec.registry.get_all()
    assert [(e.name, e.index) for e in ours if e.framework == "falyx"] == [
        (c.name, c.index) for c in theirs]
    assert [e.name.rsplit(".", 1)[-1] for e in ours if e.framework != "falyx"] == ["helper"] * 5
    assert all(e.index is None for e in ours if e.framework != "falyx")
    for context in theirs:
        found = otel_exec.registry.get(context.index)
        assert found is not None and found.name == context.name
    assert otel_exec.registry.get(theirs[-1].index + 1) is None
    table = io.StringIO()
    otel_exec.summary(console=Console(file=table, width=150))
    assert "—" in table.getvalue()  # a row without an index says so
    otel_exec.uninstrument("falyx")  # falyx numbers no longer: ours again
    helper(3)
    assert otel_exec.registry.get_all()[-1].index > theirs[-1].index  # never one of falyx's


@needs_falyx_02
def test_the_tree_is_the_execution_tree(falyx_store: ExecutionStore) -> None:
    run_workload()
    pipeline = one(falyx_store, "pipeline")
    assert [c.name for c in falyx_store.children(pipeline.span_id)] == ["fetch", "double", "total"]
    fan_out = one(falyx_store, "fan_out")
    assert {c.name for c in falyx_store.children(fan_out.span_id)} == {
        "sleep_a", "sleep_b", "nested_chain"}
    nested = one(falyx_store, "nested_chain")
    assert [c.name for c in falyx_store.children(nested.span_id)] == ["n_step1", "n_step2"]
    factory = one(falyx_store, "fac (factory)")
    assert parent_of(falyx_store, one(falyx_store, "generated")) == factory
    assert parent_of(falyx_store, one(falyx_store, "deploy_step")) == one(falyx_store, "Deploy")
    assert one(falyx_store, "Deploy").kind == "command"
    assert {e.kind for e in falyx_store.executions()} >= {
        "action", "chained_action", "action_group", "action_factory", "fallback_action",
        "process_action", "process_pool_action", "shell_action", "signal_action", "command"}
    for root in ("pipeline", "fan_out", "ok_action", "Deploy"):
        assert one(falyx_store, root).parent_span_id is None


async def test_concurrent_group_children_never_cross_parent(falyx_store: ExecutionStore) -> None:
    def group(tag: str) -> ActionGroup:
        return ActionGroup(f"group_{tag}", [
            Action(f"{tag}_{i}", workload.sleep_return, args=(tag, 0.001 * (5 - i)))
            for i in range(5)])

    await asyncio.gather(*(group(tag)() for tag in "abcdefgh"))
    for tag in "abcdefgh":
        parent = one(falyx_store, f"group_{tag}")
        children = falyx_store.children(parent.span_id)
        assert sorted(c.name for c in children) == [f"{tag}_{i}" for i in range(5)]
        assert {c.trace_id for c in children} == {parent.trace_id}


def test_retries_are_events_with_attempt_counts(falyx_store: ExecutionStore) -> None:
    run_workload()
    flaky = one(falyx_store, "flaky_action")
    assert flaky.status is ExecStatus.COMPLETED
    assert flaky.attributes[semconv.FALYX_RETRY_ATTEMPTS] == 2
    assert flaky.attributes[semconv.FALYX_RETRY_RECOVERED] is True
    assert flaky.attributes[semconv.FALYX_RETRY_MAX] == 3
    retries = [e.attributes for e in flaky.events if e.name == semconv.FALYX_RETRY_EVENT]
    assert [(r[semconv.FALYX_RETRY_ATTEMPT], r[semconv.FALYX_RETRY_OUTCOME]) for r in retries] == [
        (0, "failed"), (1, "failed"), (2, "succeeded")]
    assert retries[0][semconv.EXCEPTION_TYPE] == "TimeoutError"
    assert [r.get(semconv.EXCEPTION_MESSAGE) for r in retries] == [
        "attempt 1 timed out", "attempt 2 timed out", None]
    assert flaky.result == "recovered"
    # each retry also ran as a span of its own under the action: the waterfall shows them
    attempts = list(falyx_store.children(flaky.span_id))
    assert [(a.name, a.kind, a.status, a.attributes[semconv.FALYX_RETRY_ATTEMPT])
            for a in attempts] == [
        ("flaky_action retry 1", "retry", ExecStatus.FAILED, 1),
        ("flaky_action retry 2", "retry", ExecStatus.COMPLETED, 2)]
    assert attempts[0].exception_text == "TimeoutError('attempt 2 timed out')"
    assert attempts[0].start_ns >= flaky.start_ns and attempts[1].end_ns <= flaky.end_ns
    assert all(a not in otel_exec.registry.get_all() for a in attempts)

    hopeless = one(falyx_store, "hopeless")
    assert hopeless.status is ExecStatus.FAILED
    assert hopeless.attributes[semconv.FALYX_RETRY_ATTEMPTS] == 2
    assert hopeless.attributes[semconv.FALYX_RETRY_RECOVERED] is False
    assert hopeless.exception_text == "TimeoutError('attempt 3 timed out')"


def test_a_retry_that_recovers_with_none_is_a_success_that_raised(
        falyx_store: ExecutionStore) -> None:
    actions, _ = run_workload()
    assert isinstance(actions["flaky_none"], TimeoutError)  # falyx re-raises...
    flaky_none = one(falyx_store, "flaky_none")
    assert flaky_none.status is ExecStatus.COMPLETED  # ...but records OK: so do we
    (escaped,) = [e for e in flaky_none.events if e.name == semconv.FALYX_ESCAPED_EVENT]
    assert escaped.attributes[semconv.EXCEPTION_TYPE] == "TimeoutError"


@needs_falyx_02
def test_exceptions_are_on_the_right_spans(falyx_store: ExecutionStore) -> None:
    run_workload()
    fail = one(falyx_store, "fail_action")
    assert fail.status is ExecStatus.FAILED
    assert fail.error_type == "RuntimeError"
    assert [e.name for e in fail.events] == ["exception"]
    assert fail.traceback is not None and "RuntimeError: broken step" in fail.traceback

    partial_group = one(falyx_store, "partial_group")
    assert partial_group.attributes[semconv.FALYX_GROUP_FAILED] == ("pg_fail",)
    assert one(falyx_store, "pg_ok").success

    brk_chain = one(falyx_store, "brk_chain")
    assert brk_chain.status is ExecStatus.FAILED
    assert brk_chain.error_type == "falyx.signals.BreakChainSignal"
    brk = one(falyx_store, "brk")
    assert brk.success
    assert [e.name for e in brk.events] == [semconv.FALYX_ESCAPED_EVENT]
    assert falyx_store.by_name("never_runs") == ()

    quit_signal = one(falyx_store, "quit")
    assert quit_signal.success
    assert quit_signal.events[0].attributes[semconv.EXCEPTION_TYPE] == "falyx.signals.QuitSignal"
    assert one(falyx_store, "Fail").status is ExecStatus.FAILED


def test_rollback_is_a_child_span_outside_the_registry(falyx_store: ExecutionStore) -> None:
    workload.rolled_back.clear()
    run_workload()
    assert workload.rolled_back == ["fetch"]
    chain = one(falyx_store, "rollback_chain")
    (rollback,) = [c for c in falyx_store.children(chain.span_id) if c.kind == "rollback"]
    assert rollback.attributes[semconv.FALYX_ROLLBACK_COUNT] == 1
    assert rollback.attributes[semconv.EXEC_RECORDED] is False
    assert rollback not in otel_exec.registry.get_all()


def _rollback_of(store: ExecutionStore, chain_name: str) -> Execution | None:
    chain = one(store, chain_name)
    found = [c for c in store.children(chain.span_id) if c.kind == "rollback"]
    assert len(found) <= 1
    return found[0] if found else None


def test_each_rollback_handler_is_a_span_and_a_failing_one_says_so(
        falyx_store: ExecutionStore, caplog: pytest.LogCaptureFixture) -> None:
    """Handlers as falyx runs them (newest first; sync or async: falyx awaits what an Action
    returns unawaited, so an Action is no handler): each a span under the chain's rollback;
    one that raises is failed, and so is the rollback, counting them."""
    undone: list[str] = []

    async def undo_a() -> None:
        undone.append("a")

    def undo_b() -> None:  # sync: falyx makes it async
        raise RuntimeError("could not undo b")

    async def broken() -> None:
        raise ValueError("c failed")

    def undo_d() -> None:
        undone.append("d")
    chain = ChainedAction("undoing", [Action("a", lambda: 1, rollback=undo_a),
                                      Action("b", lambda: 2, rollback=undo_b),
                                      Action("d", lambda: 3, rollback=undo_d),
                                      Action("c", broken)])
    with caplog.at_level(logging.ERROR, logger="falyx"), pytest.raises(ValueError):
        asyncio.run(chain())
    assert undone == ["d", "a"]  # falyx went on past the failing handler
    assert "[b] Rollback failed: could not undo b" in caplog.text  # falyx's own line, kept
    rollback = _rollback_of(falyx_store, "undoing")
    assert rollback is not None and rollback.status is ExecStatus.FAILED
    assert rollback.attributes[semconv.FALYX_ROLLBACK_COUNT] == 3
    assert rollback.attributes[semconv.FALYX_ROLLBACK_FAILED] == 1
    assert rollback.status_description == "1 of 3 rollback handler(s) failed"
    handlers = list(falyx_store.children(rollback.span_id))
    assert [(h.name, h.kind, h.status) for h in handlers] == [
        ("rollback d", "rollback", ExecStatus.COMPLETED),
        ("rollback b", "rollback", ExecStatus.FAILED),
        ("rollback a", "rollback", ExecStatus.COMPLETED)]  # in the order they ended
    failed = handlers[1]
    assert failed.error_type == "RuntimeError" and failed.exception_text == (
        "RuntimeError('could not undo b')")
    assert all(h not in otel_exec.registry.get_all() for h in [rollback, *handlers])


def test_a_chain_without_rollback_handlers_records_no_rollback(
        falyx_store: ExecutionStore) -> None:
    async def broken() -> None:
        raise ValueError("nothing to undo")

    with pytest.raises(ValueError):
        asyncio.run(ChainedAction("plain", [Action("x", lambda: 1), Action("y", broken)])())
    assert _rollback_of(falyx_store, "plain") is None


def test_nested_chains_roll_back_each_under_its_own_chain(falyx_store: ExecutionStore) -> None:
    undone: list[str] = []

    async def broken() -> None:
        raise ValueError("inner failed")

    inner = ChainedAction("inner", [Action("i1", lambda: 1, rollback=lambda: undone.append("i1")),
                                    Action("i2", broken)])
    outer = ChainedAction("outer", [Action("o1", lambda: 1, rollback=lambda: undone.append("o1")),
                                    inner])
    with pytest.raises(ValueError):
        asyncio.run(outer())
    assert undone == ["i1", "o1"]
    for chain, handler in (("inner", "rollback i1"), ("outer", "rollback o1")):
        rollback = _rollback_of(falyx_store, chain)
        assert rollback is not None and rollback.success
        assert [h.name for h in falyx_store.children(rollback.span_id)] == [handler]


@needs_falyx_02
def test_command_attributes(falyx_store: ExecutionStore) -> None:
    run_workload()
    deploy = one(falyx_store, "Deploy")
    assert deploy.attributes[semconv.FALYX_COMMAND_KEY] == "D"
    assert deploy.attributes[semconv.FALYX_COMMAND_DESCRIPTION] == "Deploy"
    assert deploy.attributes[semconv.FALYX_COMMAND_ALIASES] == ("deploy",)
    assert deploy.attributes[semconv.FALYX_COMMAND_TAGS] == ("ops",)
    assert deploy.result == "deployed"


def test_a_run_falyx_never_records_is_kept_and_flagged(falyx_store: ExecutionStore) -> None:
    with pytest.raises(Exception, match="empty"):
        asyncio.run(ChainedAction("empty_chain", [])())
    assert FalyxRegistry.get_all() == []
    empty = one(falyx_store, "empty_chain")
    assert empty.attributes[semconv.EXEC_RECORDED] is False
    assert empty.status is ExecStatus.FAILED
    assert otel_exec.registry.get_all() == []


def run_instrumented(action: Any) -> Any:
    """What one run of ``action`` returns with falyx instrumented (uninstrumented after)."""
    otel_exec.instrument("falyx")
    try:
        return asyncio.run(action())
    finally:
        otel_exec.uninstrument("falyx")


def test_actions_built_before_instrument_still_count_retries(store: ExecutionStore) -> None:
    early = Action("early", workload.flaky(1, "ok"), retry_policy=workload.retry_policy(2))
    assert run_instrumented(early) == "ok"
    assert one(store, "early").attributes[semconv.FALYX_RETRY_ATTEMPTS] == 1


def test_only_hook_managers_with_a_retry_handler_count_retries(store: ExecutionStore) -> None:
    plain = Action("plain", workload.fetch)
    manual = Action("manual", workload.flaky(1, "ok"))  # falyx's documented manual form
    manual.hooks.register(HookType.ON_ERROR,
                          RetryHandler(workload.retry_policy(2)).retry_on_error)
    otel_exec.instrument("falyx")
    try:
        assert asyncio.run(plain()) == [1, 2, 3]
        assert asyncio.run(manual()) == "ok"
        assert "trigger" not in vars(plain.hooks)  # nothing per call for it
        assert "trigger" in vars(manual.hooks)
    finally:
        otel_exec.uninstrument("falyx")
    assert "trigger" not in vars(manual.hooks)  # uninstrument takes it back
    retries = [e.attributes[semconv.FALYX_RETRY_OUTCOME] for e in one(store, "manual").events
               if e.name == semconv.FALYX_RETRY_EVENT]
    assert retries == ["failed", "succeeded"]
    assert one(store, "manual").attributes[semconv.FALYX_RETRY_RECOVERED] is True


def test_a_changed_trigger_signature_stops_the_count_not_the_tracing(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    original = HookManager.trigger

    async def trigger(self: HookManager, kind: HookType, ctx: Any) -> None:
        await original(self, kind, ctx)

    monkeypatch.setattr(HookManager, "trigger", trigger)  # a release renamed its parameters
    action = Action("renamed", workload.flaky(1, "ok"), retry_policy=workload.retry_policy(2))
    assert run_instrumented(action) == "ok"
    assert "retry attempts are not counted" in caplog.text
    assert "trigger" not in vars(action.hooks)
    renamed = one(store, "renamed")
    assert renamed.success and not renamed.events


def test_an_exception_kept_elsewhere_by_falyx_is_still_read(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A falyx release whose ``ExecutionContext.exception`` is not the private
    ``_exception``: the start-up probe sees it and the verdict comes through the property."""

    def kept_in_extra(self: ExecutionContext, error: BaseException | None) -> None:
        self.extra["kept"] = error

    monkeypatch.setattr(ExecutionContext, "exception", property(
        lambda self: self.extra.get("kept"), kept_in_extra))
    monkeypatch.setattr(ExecutionContext, "__pydantic_setattr_handlers__", {})  # its cache
    failing = Action("failing", workload.flaky(5, "never"))
    with pytest.raises(TimeoutError):
        run_instrumented(failing)
    failed = one(store, "failing")
    assert failed.status is ExecStatus.FAILED
    assert failed.attributes[semconv.ERROR_TYPE] == "TimeoutError"
    assert [e.name for e in failed.events] == [semconv.EXCEPTION_EVENT]


def test_suppressed_runs_make_no_spans_and_falyx_still_records(
        falyx_store: ExecutionStore) -> None:
    with suppress_instrumentation():
        assert asyncio.run(Action("quiet", workload.fetch)()) == [1, 2, 3]
    assert [c.name for c in FalyxRegistry.get_all()] == ["quiet"]
    assert len(falyx_store) == 0


def test_a_run_recorded_under_suppression_keeps_its_verdict(
        falyx_store: ExecutionStore) -> None:
    """A teardown hook that leaves instrumentation suppressed (falyx records after its
    teardown hooks): the traced call still ends with falyx's verdict."""
    from opentelemetry import context as context_api
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY

    def suppress(context: ExecutionContext) -> None:
        context_api.attach(context_api.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))

    action = Action("muffled", workload.flaky(5, "muffled"))
    action.hooks.register(HookType.ON_TEARDOWN, suppress)
    with pytest.raises(TimeoutError):
        asyncio.run(action())
    muffled = one(falyx_store, "muffled")
    (recorded,) = FalyxRegistry.get_all()
    assert muffled.status is ExecStatus.FAILED
    assert muffled.attributes[semconv.FALYX_INDEX] == recorded.index
    assert semconv.EXEC_RECORDED not in muffled.attributes


def test_hooks_that_cannot_be_read_still_leave_a_span(
        falyx_store: ExecutionStore, caplog: pytest.LogCaptureFixture) -> None:
    """An action whose hook manager raises when looked at (not falyx's layout): the action's
    result and its span are as usual, and what failed is logged."""

    class Unreadable(HookManager):
        @property
        def _hooks(self) -> Any:
            raise RuntimeError("no hooks to see")

        @_hooks.setter
        def _hooks(self, value: Any) -> None:
            self._real = value

        async def trigger(self, hook_type: HookType, context: ExecutionContext) -> None:
            return None

    action = Action("odd hooks", workload.fetch)
    action.hooks = Unreadable()
    assert asyncio.run(action()) == [1, 2, 3]
    odd = one(falyx_store, "odd hooks")
    assert odd.status is ExecStatus.COMPLETED and odd.result == [1, 2, 3]
    assert "_count_retries failed" in caplog.text


def test_uninstrument_restores_falyx_exactly(store: ExecutionStore) -> None:
    def originals() -> list[object]:
        owners = []
        for patch in (*PATCHES, *PROCESS_PATCHES):
            owner_path, _, name = patch.attribute.rpartition(".")
            owner = __import__(patch.module, fromlist=[owner_path])
            owners.append(vars(getattr(owner, owner_path))[name])
        return owners

    before = originals()
    counts = []
    for instrumented in (True, False, True):
        if instrumented:
            otel_exec.instrument("falyx", propagate_to_processes=True)
        else:
            otel_exec.uninstrument("falyx")
        store.clear()
        asyncio.run(Action("probe", workload.fetch)())
        counts.append(len(store))
    otel_exec.uninstrument("falyx")
    assert counts == [1, 0, 1]
    after = originals()
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert not any(_patching.is_patched(p.module, p.attribute)
                   for p in (*PATCHES, *PROCESS_PATCHES))
    assert not FalyxInstrumentor().is_instrumented_by_opentelemetry


@pytest.mark.parametrize("propagate", [True, False])
def test_trace_context_reaches_process_workers_when_asked(store: ExecutionStore,
                                                          propagate: bool) -> None:
    otel_exec.instrument("falyx", propagate_to_processes=propagate)
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        action = ProcessAction("cpu_trace", workload.trace_seen_in_worker, args=(5,),
                               executor=executor)
        _, seen_trace, _ = asyncio.run(action())
    finally:
        executor.shutdown()
        otel_exec.uninstrument("falyx")
    span = one(store, "cpu_trace")
    if propagate:
        assert seen_trace == span.trace_id
        assert span.attributes[semconv.FALYX_PROCESS_PROPAGATED] is True
    else:
        assert seen_trace == "0" * 32


@needs_falyx_02
def test_a_declined_confirmation_is_a_cancelled_span_outside_the_registry() -> None:
    code = """
import asyncio, json
import otel_exec
from falyx import Falyx
from falyx.execution_registry import ExecutionRegistry
otel_exec.configure(); otel_exec.instrument("falyx")

async def deploy():
    return "deployed"

flx = Falyx("ops")
flx.add_command("D", "Deploy", deploy, confirm=True)

async def main():
    try:
        await flx.execute_command("D")
    except BaseException as error:
        return type(error).__name__

raised = asyncio.run(main())
(span,) = otel_exec.store().executions()
print(json.dumps({"raised": raised, "falyx": len(ExecutionRegistry.get_all()),
                  "ours": len(otel_exec.registry.get_all()), "name": span.name,
                  "status": span.status.value,
                  "recorded": span.attributes["exec.recorded"]}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", code], input="n\n", capture_output=True,
                          text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"raised": "CancelSignal", "falyx": 0, "ours": 0, "name": "Deploy",
                      "status": "cancelled", "recorded": False}


def test_opentelemetry_instrument_picks_falyx_up_and_the_registry_works() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert names["falyx"] == "otel_exec.instrumentation.falyx:FalyxInstrumentor"
    code = """
import asyncio, json
import otel_exec
from falyx.action import Action

async def step():
    return 42

asyncio.run(Action("auto", step)())
print(json.dumps([(e.name, e.result) for e in otel_exec.registry.get_all()]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none"}  # opentelemetry-distro sets up the SDK provider
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run([str(instrument), sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["auto", 42]]


def test_rollback_and_foreign_spans_take_no_registry_index(falyx_store: ExecutionStore) -> None:
    """A failing chain's rollback and another instrumentation's span (an HTTP client's) stay
    in the tree, out of the numbering: every index is falyx's own."""
    from opentelemetry import trace

    async def call_api() -> str:
        with trace.get_tracer("http.client").start_as_current_span("GET /status"):
            return "up"

    chain = ChainedAction("release", [
        Action("fetch", workload.fetch, rollback=workload.undo_fetch),
        Action("probe", call_api), Action("explode", workload.broken)])
    with pytest.raises(RuntimeError, match="broken step"):
        asyncio.run(chain())
    theirs = FalyxRegistry.get_all()
    ours = otel_exec.registry.get_all()
    # both registries count for the whole session; earlier tests ran falyx uninstrumented
    offset = theirs[0].index - ours[0].index
    assert [(e.index + offset, e.name) for e in ours] == [(c.index, c.name) for c in theirs]
    assert {e.name for e in falyx_store.executions()} >= {"rollback release", "GET /status"}
    last = theirs[-1]
    console = Console(record=True, width=200)
    otel_exec.summary(result_index=last.index - offset, console=console)
    assert "No execution found" not in console.export_text()


def test_the_tree_is_the_same_under_another_runtime_context() -> None:
    """With a runtime context other than the default one (what ``OTEL_PYTHON_CONTEXT`` may
    name), a scope makes its span current through the API: nesting, the caller's context
    afterwards and falyx's results are as on the default one."""
    code = """
import asyncio, json
from opentelemetry import context as context_api, trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

class Runtime(ContextVarsRuntimeContext):
    pass

context_api._RUNTIME_CONTEXT = Runtime()  # before otel_exec reads which one is in use
import otel_exec
from otel_exec.instrumentation import _wrappers
from falyx.action import Action, ActionGroup, ChainedAction

async def step(n):
    return n

store = otel_exec.configure()
otel_exec.instrument("falyx")
inner = ChainedAction("inner", [Action("c", step, args=(3,))])
root = ChainedAction("root", [Action("a", step, args=(1,)),
                              ActionGroup("group", [Action("b", step, args=(2,)), inner])])
result = asyncio.run(root())
by_id = {e.span_id: e.name for e in store.executions()}
print(json.dumps({
    "fallback": _wrappers.VARIABLE is None,
    "result": repr(result),
    "after": trace.get_current_span().get_span_context().is_valid,
    "parents": sorted([e.name, by_id.get(e.parent_span_id)] for e in store.executions()),
}))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["fallback"] is True
    assert shown["result"] == "[('b', 2), ('inner', 3)]"  # what falyx returns uninstrumented
    assert shown["after"] is False
    assert shown["parents"] == [["a", "root"], ["b", "group"], ["c", "inner"],
                                ["group", "root"], ["inner", "group"], ["root", None]]
