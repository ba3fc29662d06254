from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.semconv import ExecStatus

traced = otel_exec.traced


@traced
def add(a: int, b: int = 1) -> int:
    return a + b


@traced(name="explode")
def explode(message: str) -> None:
    raise ValueError(message)


def test_a_call_becomes_one_completed_execution(store: ExecutionStore) -> None:
    assert add(2, b=3) == 5
    (execution,) = store.executions()
    assert execution.name == "add"
    assert execution.kind == "function"
    assert execution.framework == "python"
    assert execution.status is ExecStatus.COMPLETED
    assert execution.success
    assert execution.result == 5
    assert execution.args == (2,)
    assert execution.kwargs == {"b": 3}
    assert execution.attributes[semconv.EXEC_ARGS] == "(2,)"
    assert execution.attributes[semconv.EXEC_KWARGS] == "{'b': 3}"
    assert execution.attributes[semconv.EXEC_RESULT] == "5"
    assert execution.attributes[semconv.CODE_FUNCTION_NAME].endswith("test_traced.add")
    add(1)
    assert semconv.EXEC_KWARGS not in store.latest().attributes  # nothing to say, not "{}"
    assert execution.duration is not None and execution.duration >= 0
    assert execution.parent_span_id is None


def test_the_exception_passes_through_unchanged_and_is_recorded(store: ExecutionStore) -> None:
    with pytest.raises(ValueError, match="boom") as raised:
        explode("boom")
    (execution,) = store.executions()
    assert execution.exception is raised.value
    assert execution.status is ExecStatus.FAILED
    assert not execution.success
    assert execution._status_code is StatusCode.ERROR
    assert execution.error_type == "ValueError"
    assert execution.exception_text == "ValueError('boom')"
    assert execution.traceback is not None and "ValueError: boom" in execution.traceback
    assert [event.name for event in execution.events] == ["exception"]


def test_the_verdict_is_kept_when_our_bookkeeping_after_it_fails(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:  # not the tuple the hand-off makes: making it raises
        pass

    monkeypatch.setattr("otel_exec.spans.Outcome", Broken)
    with pytest.raises(ValueError, match="kept"):
        explode("kept")
    (execution,) = store.executions()
    assert execution.status is ExecStatus.FAILED  # written at the end all the same
    assert execution.error_type == "ValueError"
    assert execution._status_code is StatusCode.ERROR
    assert execution.end_ns is not None


def test_signature_and_nature_are_kept() -> None:
    async def coroutine(x: int, *, y: str = "") -> int:
        return x

    def generator(n: int) -> Iterator[int]:
        yield n

    async def async_generator(n: int) -> AsyncIterator[int]:
        yield n

    for func, check in ((coroutine, inspect.iscoroutinefunction),
                        (generator, inspect.isgeneratorfunction),
                        (async_generator, inspect.isasyncgenfunction)):
        wrapped = traced(func)
        assert check(wrapped), func
        assert inspect.signature(wrapped) == inspect.signature(func)
        assert wrapped.__name__ == func.__name__
    assert not inspect.iscoroutinefunction(traced(add))


async def test_nested_async_calls_nest(store: ExecutionStore) -> None:
    @traced
    async def inner(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @traced
    async def outer(n: int) -> list[int]:
        return [await inner(i) for i in range(n)]

    assert await outer(3) == [0, 2, 4]
    outer_execution = store.by_name(outer.__qualname__)[0]
    inners = store.by_name(inner.__qualname__)
    assert len(inners) == 3
    assert {item.parent_span_id for item in inners} == {outer_execution.span_id}
    assert store.children(outer_execution.span_id) == inners
    assert [item.index for item in store.executions()] == sorted(
        item.index for item in store.executions())
    assert outer_execution.index == max(item.index for item in store.executions())


async def test_a_thousand_concurrent_tasks_each_get_their_own_parent(
        store: ExecutionStore) -> None:
    @traced
    async def child(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @traced
    async def task(i: int) -> int:
        await asyncio.sleep(0)
        return await child(i)

    assert await asyncio.gather(*(task(i) for i in range(1000))) == list(range(1000))
    parents = {item.span_id: item.args[0] for item in store.by_name(task.__qualname__)}
    children = store.by_name(child.__qualname__)
    assert len(parents) == 1000
    assert len(children) == 1000
    for item in children:
        assert parents[item.parent_span_id] == item.args[0]


def test_methods_classmethods_and_staticmethods(store: ExecutionStore) -> None:
    class Shop:
        @traced
        def buy(self, item: str) -> str:
            return f"bought {item}"

        @traced
        @classmethod
        def open(cls) -> str:
            return cls.__name__

        @traced
        @staticmethod
        def price(item: str) -> int:
            return len(item)

    shop = Shop()
    assert shop.buy("tea") == "bought tea"
    assert Shop.open() == "Shop"
    assert Shop.price("tea") == 3
    names = [item.name for item in store.executions()]
    assert names == [
        "test_methods_classmethods_and_staticmethods.<locals>.Shop.buy",
        "test_methods_classmethods_and_staticmethods.<locals>.Shop.open",
        "test_methods_classmethods_and_staticmethods.<locals>.Shop.price",
    ]


def test_a_generator_span_covers_the_iteration_but_not_the_consumer(
        store: ExecutionStore) -> None:
    @traced
    def produce(n: int) -> Iterator[int]:
        for i in range(n):
            add(i)
            yield i

    @traced
    def consume(item: int) -> int:
        return item

    for item in produce(3):
        consume(item)
    (producer,) = store.by_name(produce.__qualname__)
    assert producer.status is ExecStatus.COMPLETED
    assert producer.attributes[semconv.EXEC_ITEMS] == 3
    assert {item.parent_span_id for item in store.by_name("add")} == {producer.span_id}
    assert {item.parent_span_id for item in store.by_name(consume.__qualname__)} == {None}


def test_a_generator_closed_early_is_cancelled_and_its_cleanup_runs(
        store: ExecutionStore) -> None:
    cleaned = []

    @traced
    def numbers() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            cleaned.append(True)

    for item in numbers():
        if item == 2:
            break
    assert cleaned == [True]
    (execution,) = store.by_name(numbers.__qualname__)
    assert execution.status is ExecStatus.CANCELLED
    assert execution.attributes[semconv.EXEC_ITEMS] == 3


def test_generator_send_throw_and_return_value(store: ExecutionStore) -> None:
    @traced
    def echo() -> Iterator[int]:
        total = 0
        while True:
            try:
                value = yield total
            except KeyError:
                value = 100
            if value is None:
                return
            total += value

    gen = echo()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.throw(KeyError()) == 105
    with pytest.raises(StopIteration):
        gen.send(None)
    (execution,) = store.by_name(echo.__qualname__)
    assert execution.status is ExecStatus.COMPLETED
    assert execution.attributes[semconv.EXEC_ITEMS] == 3


def test_a_failing_generator_records_its_exception(store: ExecutionStore) -> None:
    @traced
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError, match="stream broke"):
        list(broken())
    (execution,) = store.by_name(broken.__qualname__)
    assert execution.status is ExecStatus.FAILED
    assert execution.attributes[semconv.EXEC_ITEMS] == 1


async def test_async_generators_nest_count_and_close(store: ExecutionStore) -> None:
    @traced
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            add(i)
            await asyncio.sleep(0)
            yield i

    assert [i async for i in ticks(3)] == [0, 1, 2]
    gen = ticks(10)
    assert await anext(gen) == 0
    await gen.aclose()
    completed, cancelled = store.by_name(ticks.__qualname__)
    assert completed.status is ExecStatus.COMPLETED
    assert completed.attributes[semconv.EXEC_ITEMS] == 3
    assert cancelled.status is ExecStatus.CANCELLED
    adds = store.by_name("add")
    assert {item.parent_span_id for item in adds} == {completed.span_id, cancelled.span_id}


async def test_cancellation_is_not_an_error(store: ExecutionStore) -> None:
    @traced
    async def wait_forever() -> None:
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(wait_forever())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (execution,) = store.by_name(wait_forever.__qualname__)
    assert execution.status is ExecStatus.CANCELLED
    assert execution.success
    assert execution._status_code is StatusCode.UNSET


def test_suppressed_instrumentation_records_nothing(store: ExecutionStore) -> None:
    with suppress_instrumentation():
        assert add(1) == 2
    assert len(store) == 0


def test_sensitive_arguments_never_become_attributes(store: ExecutionStore) -> None:
    @traced
    def login(user: str, password: str, *, token: str = "") -> bool:
        return True

    assert login("ann", "hunter2", token="t-1")
    (execution,) = store.executions()
    exported = " ".join(str(value) for value in execution.attributes.values())
    assert "hunter2" not in exported
    assert "t-1" not in exported
    assert "ann" in exported
    assert execution.args == ("ann", "hunter2")  # in-process, the real objects


def test_capture_can_be_turned_off_per_function(store: ExecutionStore) -> None:
    @traced(capture_args=False, capture_result=False)
    def quiet(x: int) -> int:
        return x

    assert quiet(7) == 7
    (execution,) = store.executions()
    assert semconv.EXEC_ARGS not in execution.attributes
    assert semconv.EXEC_RESULT not in execution.attributes


def test_a_result_whose_repr_raises_is_returned_untouched(store: ExecutionStore) -> None:
    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("nope")

    value = Opaque()

    @traced
    def give() -> Opaque:
        return value

    assert give() is value
    (execution,) = store.executions()
    assert execution.attributes[semconv.EXEC_RESULT].endswith("Opaque: RuntimeError>")
    assert execution.result is value


def test_decorating_a_non_callable_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="needs a callable"):
        traced(42)  # type: ignore[call-overload]


def test_a_failure_reads_as_python_says_it(store: ExecutionStore) -> None:
    """A KeyError's text is quoted once, and the recorded stack trace starts in the user's
    code: otel_exec's wrapper frames (sync, async, nested) are not the user's story."""

    @otel_exec.traced(name="lookup")
    def lookup(table: dict[str, int], key: str) -> int:
        return table[key]

    @otel_exec.traced(name="outer")
    async def outer() -> int:
        return lookup({}, "missing")

    with pytest.raises(KeyError) as caught:
        asyncio.run(outer())
    # the exception the caller holds is untouched
    assert any("otel_exec" in frame.filename
               for frame in traceback.extract_tb(caught.value.__traceback__))
    for name in ("lookup", "outer"):
        (execution,) = store.by_name(name)
        assert execution.exception_text == "KeyError('missing')"
        trace = execution.traceback or ""
        assert trace.endswith("KeyError: 'missing'\n")
        assert "otel_exec" not in trace and "return table[key]" in trace
    assert "test_traced.py" in (store.by_name("outer")[0].traceback or "")
