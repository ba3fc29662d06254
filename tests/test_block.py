"""``otel_exec.span``: any block as an execution span, with @traced's rules."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

import otel_exec
from otel_exec import ExecStatus, ExecutionStore, semconv


def test_a_block_is_an_execution_with_its_values_and_result(store: ExecutionStore) -> None:
    with otel_exec.span("load batch", batch=3, password="hunter2") as block:
        block.result = [1, 2, 3]
    (execution,) = otel_exec.registry.get_all()
    assert (execution.name, execution.kind, execution.status) == (
        "load batch", "block", ExecStatus.COMPLETED)
    assert execution.kwargs == {"batch": 3, "password": "hunter2"}  # the real objects
    assert "hunter2" not in str(execution.attributes[semconv.EXEC_KWARGS])
    assert execution.result_text == "[1, 2, 3]"


def test_attributes_under_a_sensitive_name_are_redacted_whole(store: ExecutionStore) -> None:
    """Whatever their type: a password or a card number given as a number too; a number under an
    ordinary name stays a number."""
    with otel_exec.span("pay", attributes={"password": 1234, "card_number": 4111111111111111,
                                           "api_key": "k-1", "passwords": [1, 2],
                                           "amount": 12.5, "count": 4111111111111111}):
        pass
    (execution,) = store.executions()
    attributes = execution.attributes
    assert [attributes[name] for name in ("password", "card_number", "api_key")] == [
        "[REDACTED]"] * 3
    assert attributes["passwords"] == ("[REDACTED]", "[REDACTED]")
    assert (attributes["amount"], attributes["count"]) == (12.5, 4111111111111111)


def test_spans_inside_the_block_are_its_children(store: ExecutionStore) -> None:
    @otel_exec.traced
    def step() -> int:
        return 1

    with otel_exec.span("outer"):
        step()
        with otel_exec.span("inner"):
            step()
    outer = otel_exec.registry.get_by_name("outer")[0]
    inner = otel_exec.registry.get_by_name("inner")[0]
    assert inner.parent_span_id == outer.span_id
    assert {e.parent_span_id for e in store.by_name(
        "test_spans_inside_the_block_are_its_children.<locals>.step")} == {
        outer.span_id, inner.span_id}


def test_an_exception_is_recorded_and_raised_untouched(store: ExecutionStore) -> None:
    error = KeyError("missing")
    with pytest.raises(KeyError) as raised, otel_exec.span("lookup"):
        raise error
    assert raised.value is error
    (execution,) = store.executions()
    assert execution.status is ExecStatus.FAILED
    assert execution.error_type == "KeyError" and execution.exception is error


async def test_async_blocks(store: ExecutionStore) -> None:
    async with otel_exec.span("publish", kind="step") as block:
        block.result = "sent"
    (execution,) = store.executions()
    assert (execution.kind, execution.result) == ("step", "sent")


def test_a_suppressed_block_makes_no_span_and_runs(store: ExecutionStore) -> None:
    ran = []
    with suppress_instrumentation(), otel_exec.span("quiet"):
        ran.append(1)
    assert ran == [1] and len(store) == 0


@pytest.mark.parametrize("method", ["__init__", "activate", "deactivate", "finish"])
def test_our_failures_never_reach_the_block(store: ExecutionStore, method: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_exec.spans import ExecutionSpan

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bookkeeping broke")

    monkeypatch.setattr(ExecutionSpan, method, fail)
    ran = []
    with otel_exec.span("still runs") as block:
        ran.append(1)
        block.result = 1
    assert ran == [1]
    with pytest.raises(ValueError, match="the block's own"), otel_exec.span("raises"):
        raise ValueError("the block's own")
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left current
