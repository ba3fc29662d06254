from __future__ import annotations

import contextvars
import gc
import logging
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanContext

import otel_exec
from otel_exec import ExecutionSpanProcessor, ExecutionStore, execution_store, spans
from otel_exec._sdk import readable, span_path
from otel_exec._sdk.readable import started
from otel_exec.execution import Execution
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan


def private_provider(store: ExecutionStore, *, every_span: bool = True) -> TracerProvider:
    """A provider feeding ``store`` (every span: these tests are about the store itself)."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(ExecutionSpanProcessor(store, every_span=every_span))
    return provider


def run_spans(store: ExecutionStore, names: list[str]) -> None:
    """Spans as an otel_exec instrumentation makes them (``exec.framework`` set)."""
    tracer = private_provider(store).get_tracer("test")
    for name in names:
        with tracer.start_as_current_span(name, attributes={"exec.framework": "python"}):
            pass


def test_max_spans_is_validated() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_spans must be a positive integer"):
            ExecutionStore(max_spans=bad)  # type: ignore[arg-type]


def test_eviction_drops_the_oldest_and_all_its_index_entries() -> None:
    store = ExecutionStore(max_spans=3)
    run_spans(store, ["a", "b", "a", "c", "a"])
    assert [item.name for item in store.executions()] == ["a", "c", "a"]
    assert [item.index for item in store.executions()] == [2, 3, 4]
    assert store.evicted == 2
    assert store.recorded == 5
    assert store.get(0) is None and store.get(1) is None
    assert [item.index for item in store.by_name("a")] == [2, 4]
    assert store.by_name("b") == ()
    for item in store.executions():
        assert store.find(item.span_id) == item
        assert item in store.by_trace(item.trace_id)
    assert len(store.trace_ids()) == 3


def test_children_index_survives_eviction() -> None:
    store = ExecutionStore(max_spans=2)
    tracer = private_provider(store).get_tracer("test")
    with tracer.start_as_current_span("parent") as parent:
        for name in ("c1", "c2", "c3"):
            with tracer.start_as_current_span(name):
                pass
    parent_id = f"{parent.get_span_context().span_id:016x}"
    assert [item.name for item in store.children(parent_id)] == ["c3"]
    assert [item.name for item in store.executions()] == ["c3", "parent"]


def test_shrinking_max_spans_evicts_at_once() -> None:
    store = ExecutionStore(max_spans=10)
    run_spans(store, [str(i) for i in range(6)])
    store.max_spans = 2
    assert [item.name for item in store.executions()] == ["4", "5"]
    assert store.evicted == 4


def test_clear_keeps_indices_counting() -> None:
    store = ExecutionStore()
    run_spans(store, ["a", "b"])
    store.clear()
    assert len(store) == 0
    assert store.latest() is None
    run_spans(store, ["c"])
    assert [item.index for item in store.executions()] == [2]


def test_running_executions_are_visible_until_they_end() -> None:
    store = ExecutionStore()
    tracer = private_provider(store).get_tracer("test")
    with tracer.start_as_current_span("long"):
        (running,) = store.running()
        assert running.name == "long"
        assert running.status is ExecStatus.RUNNING
        assert running.index is None
        assert len(store) == 0
    assert store.running() == ()
    assert store.latest() is not None and store.latest().status is ExecStatus.COMPLETED


def test_eight_threads_lose_nothing(store: ExecutionStore) -> None:
    @otel_exec.traced
    def work(thread: int, i: int) -> int:
        return i

    def worker(thread: int) -> None:
        for i in range(2_000):
            work(thread, i)

    reads: list[bool] = []
    writing = threading.Event()

    def reader() -> None:  # reads make the rows of the spans waiting, as the writers go on
        while writing.is_set():
            latest = store.latest()
            entries = store.entries()[-50:]  # in index order, none twice
            indices = [item.index for item in entries]
            reads.append(indices == sorted(set(indices)) and (
                latest is None or latest in store.by_name(latest.name)))
            time.sleep(0.01)

    evicted_before = store.evicted
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    writing.set()
    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    reading.join(30)
    assert reads and all(reads)
    executions = store.executions()
    assert len(executions) == 16_000
    assert len({item.index for item in executions}) == 16_000
    assert len({item.span_id for item in executions}) == 16_000
    assert sorted(item.attributes["exec.args"] for item in executions) == sorted(
        repr((n, i)) for n in range(8) for i in range(2_000))
    assert store.evicted == evicted_before


def test_a_failing_listener_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    store = ExecutionStore()
    seen = []

    def broken(execution: object) -> None:
        raise RuntimeError("listener broke")

    unsubscribe = store.subscribe(broken)
    store.subscribe(seen.append)
    with caplog.at_level(logging.ERROR):
        run_spans(store, ["a"])
    assert "listener" in caplog.text
    assert [item.name for item in seen] == ["a"]
    unsubscribe()
    run_spans(store, ["b"])
    assert [item.name for item in seen] == ["a", "b"]


def test_the_processor_survives_a_broken_store(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(ExecutionStore):
        def record(self, span: object) -> None:  # type: ignore[override]
            raise RuntimeError("store broke")

    tracer = private_provider(BrokenStore()).get_tracer("test")
    with caplog.at_level(logging.ERROR), tracer.start_as_current_span("still runs"):
        value = 42
    assert value == 42
    assert "could not store span" in caplog.text


def test_spans_recorded_after_the_fact_keep_their_times() -> None:
    store = ExecutionStore()
    tracer = private_provider(store).get_tracer("test")
    execution = ExecutionSpan(tracer, "late", kind="record", framework="python",
                              start_time=1_000_000_000)
    execution.finish("done", end_time=3_500_000_000)
    (stored,) = store.executions()
    assert stored.start_time == 1.0
    assert stored.duration == 2.5
    assert stored.result == "done"


def test_a_row_is_the_same_whichever_way_the_span_is_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.trace import Status, StatusCode

    from otel_exec import rows as execution

    store = ExecutionStore()
    tracer = private_provider(store).get_tracer("scope")
    with (tracer.start_as_current_span("parent"),
          tracer.start_as_current_span("child", attributes={"k": 1}) as live):
        live.set_status(Status(StatusCode.ERROR, "broken"))
    span = live._readable_span()  # type: ignore[attr-defined]
    fast = execution.span_row(span)
    assert fast[1:4] == (span.context.trace_id, span.context.span_id, span.parent.span_id)
    assert fast[9:12] == (StatusCode.ERROR.value, "broken", "scope")
    public = SimpleNamespace(  # a span from elsewhere: public fields only
        **{field: getattr(span, field) for field in (
            "name", "context", "parent", "start_time", "end_time", "attributes", "events",
            "links", "status", "instrumentation_scope")})
    assert execution.span_row(public) == fast
    assert started(live)[:2] == started(public)[:2] == fast[1:3]
    monkeypatch.setattr(execution, "IDS_BY_INDEX", False)  # ids through the properties
    monkeypatch.setattr(readable, "IDS_BY_INDEX", False)
    assert execution.span_row(span) == fast
    assert started(live)[:2] == fast[1:3]
    assert started(SimpleNamespace(context=None, parent=None, attributes=None))[:2] == (0, None)


def test_spans_that_never_end_cannot_grow_the_running_set() -> None:
    store = ExecutionStore(max_spans=5)
    tracer = private_provider(store).get_tracer("test")
    leaked = [tracer.start_span(f"leak {i}") for i in range(20)]
    assert len(store.running()) == 5
    assert [e.name for e in store.running()] == [f"leak {i}" for i in range(15, 20)]
    leaked[0].end()  # forgotten while running, still stored when it ends
    assert store.latest() is not None and store.latest().name == "leak 0"


def test_only_registry_entries_are_numbered() -> None:
    """Another instrumentation's span (an HTTP client) and an unrecorded run take no index:
    the registry numbers exactly what the framework numbers."""
    store = ExecutionStore()
    tracer = private_provider(store).get_tracer("test")
    with tracer.start_as_current_span("GET /", attributes={}):
        pass
    run_spans(store, ["a"])
    with tracer.start_as_current_span("rollback", attributes={"exec.framework": "falyx",
                                                              "exec.recorded": False}):
        pass
    run_spans(store, ["b"])
    assert [(item.name, item.index) for item in store.executions()] == [
        ("GET /", None), ("a", 0), ("rollback", None), ("b", 1)]
    assert [item.name for item in store.entries()] == ["a", "b"]
    assert store.get(1) is not None and store.get(1).name == "b"  # type: ignore[union-attr]


def test_a_store_no_longer_used_is_collected() -> None:
    import gc
    import weakref

    store = ExecutionStore()
    run_spans(store, ["a"])
    ref = weakref.ref(store)
    del store
    gc.collect()
    assert ref() is None


def test_every_public_name_means_one_thing() -> None:
    import importlib.util

    assert importlib.util.find_spec("otel_exec.store") is None  # no module behind the function
    assert isinstance(otel_exec.store(), ExecutionStore)


def test_span_producers_never_import_the_store() -> None:
    """The outcome hand-off lives beside ``Outcome``: spans and instrumentations import it from
    execution.py, never the store that consumes it."""
    import ast
    from pathlib import Path

    package = Path(otel_exec.__file__).parent
    producers = [package / "spans.py", *(package / "instrumentation").rglob("*.py")]
    for path in producers:
        imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom)}
        assert "otel_exec.execution_store" not in imported, path


_OPERATIONS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["add", "record"]), st.sampled_from("abc"), st.integers(0, 3),
              st.booleans(), st.booleans()),
    st.tuples(st.just("clear")),
    st.tuples(st.just("read")),  # the indexes are built when read: read between changes too
    st.tuples(st.just("shrink"), st.integers(1, 12))), max_size=80)


def _agrees(store: ExecutionStore, kept: list[Execution]) -> None:
    """Every way of reading the store gives what the plain list ``kept`` holds."""
    assert len(store) == len(kept)
    assert list(store.entries()) == [item for item in kept if item.index is not None]
    assert store.latest() == (kept[-1] if kept else None)
    for item in kept:
        assert store.find(item._span_id) == item
        if item.index is not None:
            assert store.get(item.index) == item
    for name in "abc":
        assert list(store.by_name(name)) == [item for item in kept if item.name == name]
    for trace in range(1, 5):
        assert list(store.by_trace(trace)) == [i for i in kept if i._trace_id == trace]
    assert sorted(store.trace_ids()) == sorted({f"{i._trace_id:032x}" for i in kept})
    for parent in {item._parent_id for item in kept} - {None}:
        assert list(store.children(parent)) == [
            item for item in kept if item._parent_id == parent]


@settings(max_examples=150)
@given(_OPERATIONS, st.integers(1, 12), st.integers(1, 20), st.integers(1, 6))
@example([("add", "a", 0, True, False)] * 6 + [("clear",)]  # clear with rows in the newest
         + [("add", "b", 1, True, True)] * 11, 12, 20, 6)  # chunk, then past two boundaries
@example([("record", "a", 0, True, False)] * 9 + [("shrink", 2)]  # waiting spans evicted
         + [("record", "b", 1, True, True)] * 5 + [("read",)], 12, 20, 3)  # as they are
def test_every_index_agrees_with_a_plain_list(operations: list[tuple[Any, ...]],
                                              max_spans: int, most_unindexed: int,
                                              most_waiting: int) -> None:
    """Chunks of 4 rows, so that every boundary (a chunk filled, a chunk evicted, eviction in
    the newest rows, clear between chunks) is crossed; at most ``most_unindexed`` rows wait
    to be indexed, fewer than are kept or more; finished spans (``record``) wait to be made
    rows, evicted before that or not, in a store of at most ``most_waiting`` (a larger one
    makes each row at once)."""
    kept: list[Execution] = []  # the model: what the store must hold, oldest first
    next_index, span_id = 0, 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execution_store, "CHUNK", 4)
        patch.setattr(execution_store, "MOST_UNINDEXED", most_unindexed)
        patch.setattr(execution_store, "MOST_WAITING", most_waiting)
        store = ExecutionStore(max_spans=max_spans)
        for operation in operations:
            if operation[0] in ("add", "record"):
                kind, name, trace, registered, child = operation
                span_id += 1
                parent = kept[-1]._span_id if child and kept else None
                attributes = {"exec.framework": "python"} if registered else {}
                if kind == "add":
                    execution = Execution(name, trace + 1, span_id, parent, span_id,
                                          span_id + 1, attributes)
                    store.add(execution)
                else:
                    span = ReadableSpan(name, SpanContext(trace + 1, span_id, False),
                                        None if parent is None else SpanContext(
                                            trace + 1, parent, False),
                                        attributes=attributes, start_time=span_id,
                                        end_time=span_id + 1)
                    store.record(span)
                    execution = Execution.from_span(span)
                    assert len(store._waiting) <= (max_spans if max_spans <= most_waiting
                                                   else 0)
                execution.index = next_index if registered else None
                next_index += registered
                kept.append(execution)
            elif operation[0] == "clear":
                store.clear()
                kept.clear()
            elif operation[0] == "read":
                _agrees(store, kept[max(len(kept) - max_spans, 0):])
            else:
                max_spans = operation[1]
                store.max_spans = max_spans
            del kept[:max(len(kept) - max_spans, 0)]
            assert len(store) == len(kept) and store.recorded == next_index
            assert store._next - store._indexed <= most_unindexed + most_waiting
        assert list(store.executions()) == kept
        _agrees(store, kept)
        assert len(store._chunks) <= max_spans // 4 + 1  # evicted chunks are released


def test_kept_executions_cost_the_garbage_collector_nothing() -> None:
    """Rows, their chunks and the indexes stop being tracked: the objects the collector walks
    do not grow with the executions kept (the newest real objects aside, and the spans
    waiting to be made rows: none in a store this large)."""
    store = ExecutionStore(max_spans=100_000, max_kept_values=10)
    tracer = private_provider(store).get_tracer("test")

    def tracked_after(count: int) -> int:
        for n in range(count):
            with tracer.start_as_current_span("parent", attributes={
                    "exec.framework": "python", "exec.args": f"({n},)"}):
                for _ in range(3):
                    with tracer.start_as_current_span("child",
                                                      attributes={"exec.framework": "python"}):
                        pass
        assert not store._waiting
        store.latest()  # a read: every waiting span made a row
        for _ in range(3):  # a collection stops tracking a tuple whose items it had stopped
            gc.collect()  # tracking before: rows made at once take a pass per level
        return len(gc.get_objects())

    before = tracked_after(1_000)
    after = tracked_after(10_000)
    assert len(store) == 44_000
    assert after - before < 500, (before, after)
    assert not any(gc.is_tracked(chunk) for chunk in store._chunks.values())
    assert not any(gc.is_tracked(row) for chunk in store._chunks.values() for row in chunk)


def test_other_spans_are_kept_in_the_traces_of_executions_only() -> None:
    """A span another instrumentation makes is kept when its trace holds an execution (around
    it or inside it), and not otherwise: a lookup is all it costs then."""
    store = ExecutionStore()
    tracer = private_provider(store, every_span=False).get_tracer("test")
    execution = {"exec.framework": "python"}
    with tracer.start_as_current_span("GET /health"):
        pass
    with tracer.start_as_current_span("POST /orders"):  # ends after the execution inside it
        with (tracer.start_as_current_span("charge", attributes=execution),
              tracer.start_as_current_span("INSERT orders")):
            pass
        with tracer.start_as_current_span("after, same trace"):
            pass
    assert sorted(item.name for item in store.executions()) == [
        "INSERT orders", "POST /orders", "after, same trace", "charge"]
    processor = ExecutionSpanProcessor(ExecutionStore())
    for trace_id in range(execution_store.MAX_EXECUTION_TRACES):
        processor._remember(trace_id)
    assert 0 not in processor._traces and execution_store.MAX_EXECUTION_TRACES - 1 in (
        processor._traces.keys() | processor._older_traces.keys())
    assert len(processor._traces) + len(processor._older_traces) <= (
        execution_store.MAX_EXECUTION_TRACES)


def test_other_spans_in_executions_otel_exec_made_are_kept_without_a_lookup() -> None:
    """Around an execution otel_exec made, another instrumentation's span is kept when it
    starts inside it (a task it spawned included, which may start after it ended) or around
    it (when it ends later), not in another trace; a root execution remembers no trace."""
    store = ExecutionStore()
    provider = private_provider(store, every_span=False)
    processor = provider._active_span_processor._span_processors[0]
    tracer = provider.get_tracer("http")
    previous = spans.override_provider(provider)
    spawned: list[contextvars.Context] = []

    @otel_exec.traced(name="job")
    def job() -> None:
        with tracer.start_as_current_span("GET /inside"):
            pass
        spawned.append(contextvars.copy_context())  # as asyncio.create_task copies it

    try:
        job()
        lean = getattr(spans.get_tracer("otel_exec.traced"), span_path.TEMPLATE, None)
        if lean is not None:  # the SDK's layout known here: its executions are marked
            assert not processor._traces and not processor._older_traces
        spawned[0].run(lambda: tracer.start_span("GET /after").end())
        with tracer.start_as_current_span("POST /around"):
            job()
        with tracer.start_as_current_span("GET /unrelated"):
            pass
    finally:
        spans.override_provider(previous)
    names = [item.name for item in store.executions()]
    assert sorted(names) == sorted(
        ["GET /inside", "job", "GET /after", "GET /inside", "job", "POST /around"])
    (around,) = store.by_name("POST /around")
    assert [item.name for item in store.children(around.span_id)] == ["job"]


def test_a_running_span_forgotten_for_room_is_still_kept_when_it_ends() -> None:
    store = ExecutionStore(max_spans=2)
    tracer = private_provider(store, every_span=False).get_tracer("test")
    oldest, *later = (ExecutionSpan(tracer, name, kind="function", framework="python")
                      for name in ("oldest", "later", "latest"))
    assert oldest.span.get_span_context().span_id not in store._running
    oldest.finish()
    assert [item.name for item in store.executions()] == ["oldest"]
    for execution in later:
        execution.finish()
    assert [item.name for item in store.executions()] == ["later", "latest"]


def test_an_execution_without_real_objects_takes_no_kept_place() -> None:
    """A step or an arc has no result, exception or arguments: nothing is kept for it, so it
    never pushes out the real objects of an execution that has them."""
    store = ExecutionStore(max_kept_values=1)
    tracer = private_provider(store).get_tracer("test")
    with_values = ExecutionSpan(tracer, "call", kind="function", framework="python",
                                args=(1,), kwargs={})
    with_values.finish(2)
    ExecutionSpan(tracer, "step", kind="step", framework="python").finish()
    call, step = store.executions()
    assert (call.result, call.args, call.kwargs) == (2, (1,), {})
    assert step.result is None and step._outcome is None
    assert list(store._outcomes) == [call._span_id]


def _exact_size(value: Any) -> int:
    """Every object's own size, nested: what the estimate must give when nothing is sampled."""
    if type(value) in (type(None), bool, int, float):
        return 32
    items = [*value, *value.values()] if type(value) is dict else (
        list(value) if type(value) in (list, tuple) else [])
    return sys.getsizeof(value) + sum(_exact_size(item) for item in items)


_SMALL_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=5), max_leaves=40)


@given(_SMALL_VALUES)
@settings(max_examples=300, deadline=None)
def test_the_size_estimate_is_exact_for_values_it_does_not_sample(value: Any) -> None:
    assert execution_store._walk(value) == _exact_size(value)
    direct = execution_store._direct(value, execution_store._DIRECT_DEPTH)
    assert direct is None or direct == _exact_size(value)  # the short way, where it applies


def test_a_span_nothing_can_read_keeps_its_place(caplog: pytest.LogCaptureFixture) -> None:
    """A finished span whose fields raise when its row is made (at a read, long after it
    ended) is stored as an unreadable execution, in its place and with its index; the others
    are read as ever, and nothing raises into the reader."""

    class Unreadable(ReadableSpan):
        @property
        def name(self) -> str:
            raise RuntimeError("a hostile span")

    def finished(kind: type[ReadableSpan], span_id: int) -> ReadableSpan:
        return kind("step", SpanContext(7, span_id, False),
                    attributes={"exec.framework": "python"}, start_time=1, end_time=2)

    store = ExecutionStore()
    hostile = finished(Unreadable, 2)
    del hostile._instrumentation_scope  # not the SDK's layout: read through its properties
    for span in (finished(ReadableSpan, 1), hostile, finished(ReadableSpan, 3)):
        store.record(span)
    with caplog.at_level(logging.ERROR, logger="otel_exec"):
        executions = store.executions()
    assert [(item.name, item.index) for item in executions] == [
        ("step", 0), ("<unreadable span>", 1), ("step", 2)]
    assert store.find(2) == executions[1] and store.get(2) == executions[2]
    assert "could not read span" in caplog.text
