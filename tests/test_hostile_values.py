"""Hostile values never break the program or the views: markup and terminal escapes shown
literally, raising ``__repr__`` / ``__str__``, huge messages and arguments, giant integers, slow
reprs, memory kept within bounds."""

from __future__ import annotations

import gc
import io
import logging
import tracemalloc
import weakref
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from rich.console import Console

import otel_exec
from otel_exec import ExecStatus, ExecutionSpanProcessor, ExecutionStore, semconv
from otel_exec.cli import main
from otel_exec.values import ValuePolicy, policy, set_policy


def printed(render: object = None, **summary: object) -> str:
    """What ``otel_exec.summary(**summary)`` (or ``tree()``) prints, with its control codes."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=200, color_system="truecolor")
    if render == "tree":
        otel_exec.tree(console=console)
    else:
        otel_exec.summary(console=console, **summary)  # type: ignore[arg-type]
    return stream.getvalue()


HOSTILE = ["[/var/log/app]", "[link=https://evil.example]click[/link]", "[bold red]x[/]",
           "\x1b]0;pwned\x07", "\x1b[2J", "tab\there", "\x00nul"]


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_is_shown_literally_in_every_view(store: ExecutionStore, text: str,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    @otel_exec.traced(name=f"step {text}")
    def returns() -> str:
        return text

    @otel_exec.traced(name="fails")
    def fails() -> None:
        raise FileNotFoundError(f"not found: {text}")

    returns()
    with pytest.raises(FileNotFoundError):
        fails()
    for output in (printed(), printed("tree"), printed(result_index=store.recorded - 1),
                   printed(name=f"step {text}")):
        assert "\x1b]0;" not in output and "\x1b[2J" not in output and "\x00" not in output
        assert "\x1b]8;" not in output  # no hyperlink escape from [link=...]
        if text.isprintable():
            assert text in output.replace("\n", "")
    path = tmp_path / "hostile.jsonl"
    otel_exec.save(path)
    for command in ("summary", "tree", "stats"):
        assert main([command, str(path)]) == 0
        out = capsys.readouterr().out
        assert "\x1b]0;" not in out and "\x00" not in out


class RaisingRepr(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class RaisingStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_an_exception_whose_repr_raises_breaks_no_view(store: ExecutionStore) -> None:
    @otel_exec.traced
    def fails() -> None:
        raise RaisingRepr("bad repr")

    with pytest.raises(RaisingRepr):
        fails()
    (execution,) = store.executions()
    assert execution.status is ExecStatus.FAILED
    assert execution.to_dict()["exception"] == "RaisingRepr('bad repr')"
    assert "RaisingRepr" in printed() and "RaisingRepr" in printed("tree")


def test_an_exception_whose_str_raises_still_fails_the_span(
        store: ExecutionStore, exported: InMemorySpanExporter) -> None:
    @otel_exec.traced
    def fails() -> None:
        raise RaisingStr()

    with pytest.raises(RaisingStr):
        fails()
    (execution,) = store.executions()
    assert execution.status is ExecStatus.FAILED
    (span,) = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[semconv.EXEC_STATUS] == "failed"
    assert str(span.attributes[semconv.ERROR_TYPE]).endswith("RaisingStr")
    assert "<unprintable RaisingStr>" in printed()


def span_size(span: ReadableSpan) -> int:
    return len(span.to_json())


def test_huge_exception_messages_are_bounded_everywhere(
        store: ExecutionStore, exported: InMemorySpanExporter) -> None:
    @otel_exec.traced
    def fails() -> None:
        raise ValueError("x" * 10_000_000)

    with pytest.raises(ValueError):
        fails()
    (span,) = exported.get_finished_spans()
    values = policy()
    (event,) = span.events
    assert event.attributes is not None
    assert len(str(event.attributes[semconv.EXCEPTION_MESSAGE])) <= values.max_message_length
    assert len(str(event.attributes[semconv.EXCEPTION_STACKTRACE])) <= (
        values.max_stacktrace_length + 100)
    assert len(span.status.description or "") <= values.max_message_length + 20
    assert span_size(span) < 32_000  # far below any collector's request limit


def test_the_bounds_are_settings(store: ExecutionStore, exported: InMemorySpanExporter) -> None:
    before = policy()
    otel_exec.configure(max_message_length=100, max_stacktrace_length=400, max_value_length=32)
    try:
        @otel_exec.traced
        def fails(data: str) -> None:
            raise ValueError("y" * 10_000)

        with pytest.raises(ValueError):
            fails("z" * 1000)
    finally:
        set_policy(before)
    (span,) = exported.get_finished_spans()
    (event,) = span.events
    assert event.attributes is not None and span.attributes is not None
    assert len(str(event.attributes[semconv.EXCEPTION_MESSAGE])) <= 100
    assert len(str(event.attributes[semconv.EXCEPTION_STACKTRACE])) <= 500
    assert len(str(span.attributes[semconv.EXEC_ARGS])) <= 32


@pytest.mark.parametrize("value", [b"\x01" * 50_000_000, bytearray(50_000_000),
                                   memoryview(b"\x02" * 50_000_000), "s" * 50_000_000,
                                   [b"\x03" * 10_000_000] * 3])
def test_large_values_cost_their_bound_not_their_size(value: object) -> None:
    tracemalloc.start()
    text = policy().text(value)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(text) <= policy().max_length
    assert peak < 1_000_000  # a copy of the value would be 50 MB


def test_integers_of_any_size_give_finished_spans_with_the_right_status(
        store: ExecutionStore, exported: InMemorySpanExporter) -> None:
    huge = 10 ** 5000

    @otel_exec.traced
    def square(n: int) -> int:
        return n * n

    @otel_exec.traced
    def fails(n: int) -> None:
        raise ValueError(n)

    square(huge)
    with pytest.raises(ValueError):
        fails(huge)
    spans = {span.name: span for span in exported.get_finished_spans()}
    assert spans.keys() == {"test_integers_of_any_size_give_finished_spans_with_the_right_"
                            "status.<locals>.square",
                            "test_integers_of_any_size_give_finished_spans_with_the_right_"
                            "status.<locals>.fails"}
    statuses = sorted(str((s.attributes or {})[semconv.EXEC_STATUS]) for s in spans.values())
    assert statuses == ["completed", "failed"]
    assert {e.status for e in store.executions()} == {ExecStatus.COMPLETED, ExecStatus.FAILED}
    assert any("bits>" in str((s.attributes or {}).get(semconv.EXEC_RESULT, ""))
               for s in spans.values())


class CountedRepr:
    calls = 0

    def __repr__(self) -> str:
        CountedRepr.calls += 1
        return "CountedRepr()"


def test_a_value_is_rendered_once_and_the_views_reuse_its_text(store: ExecutionStore) -> None:
    @otel_exec.traced
    def make() -> CountedRepr:
        return CountedRepr()

    make()
    assert CountedRepr.calls == 1
    for _ in range(3):
        printed()
        printed("tree")
        printed(last_result=True)
        store.executions()[0].to_dict()
    assert CountedRepr.calls == 1


def test_a_result_mutated_after_the_call_shows_the_text_made_at_finish(
        store: ExecutionStore, exported: InMemorySpanExporter) -> None:
    @otel_exec.traced
    def make() -> list[int]:
        return [1, 2]

    result = make()
    result.append(3)
    (execution,) = store.executions()
    (span,) = exported.get_finished_spans()
    assert execution.result_text == "[1, 2]" == (span.attributes or {})[semconv.EXEC_RESULT]
    assert execution.result is result  # the real object, as falyx's registry hands it out
    assert "[1, 2]" in printed() and "[1, 2, 3]" not in printed()


class Blob:
    """A result that supports weak references, to see when otel_exec lets it go."""

    def __init__(self, size: int) -> None:
        self.payload = bytes(size)


def test_real_objects_are_kept_for_the_newest_executions_only(store: ExecutionStore) -> None:
    store.max_kept_values = 10
    try:
        @otel_exec.traced
        def make() -> Blob:
            return Blob(64 * 1024)

        refs = [weakref.ref(make()) for _ in range(100)]
        gc.collect()
        assert sum(ref() is not None for ref in refs) == 10
        executions = store.executions()
        assert all(isinstance(e.result, Blob) for e in executions[-10:])
        assert all(isinstance(e.result, str) and e.result.startswith("<")
                   for e in executions[:-10])
    finally:
        store.max_kept_values = 1_000


def test_real_objects_are_kept_within_a_byte_budget(store: ExecutionStore) -> None:
    store.max_kept_bytes = 1_000_000
    try:
        @otel_exec.traced
        def make() -> bytes:
            return bytes(200_000)

        for _ in range(50):
            make()
        kept = [e for e in store.executions() if isinstance(e.result, bytes)]
        assert 1 <= len(kept) <= 5
    finally:
        store.max_kept_bytes = 64 * 1024 * 1024


class RaisingClass:
    """A value whose ``__class__`` raises: ``isinstance`` reads it."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("no class for you")


class RaisingHash(type):
    """A metaclass whose classes cannot be hashed: ``type(value) in a_set`` raises."""

    def __hash__(cls) -> int:
        raise RuntimeError("no hash for you")


class Unhashable(metaclass=RaisingHash):
    pass


@pytest.mark.parametrize("raising", ["__class__", "type"])
def test_a_value_whose_class_raises_is_stored_with_its_real_objects(
        store: ExecutionStore, caplog: pytest.LogCaptureFixture, raising: str) -> None:
    hostile = RaisingClass() if raising == "__class__" else Unhashable()

    @otel_exec.traced
    def passes(value: object) -> object:
        return value

    with caplog.at_level(logging.WARNING, logger="otel_exec"):
        assert passes(hostile) is hostile
    assert not caplog.records  # nothing of ours failed
    [execution] = store.executions()
    assert execution.result is hostile and execution.args == (hostile,)
    assert execution.attributes[semconv.EXEC_RESULT].startswith("<")
    assert execution.status is ExecStatus.COMPLETED


class SlyStr(str):
    """What a user's ``__repr__`` or ``__str__`` may return: a str whose methods raise."""

    def _refuse(self, *args: object) -> NoReturn:
        raise RuntimeError("sly")

    lower = upper = __len__ = __getitem__ = __add__ = __format__ = __contains__ = _refuse


class SlyRepr:
    def __repr__(self) -> str:
        return SlyStr("token=abc123")


class SlyError(Exception):
    def __str__(self) -> str:
        return SlyStr("password=hunter2 was refused")


def test_text_from_a_str_subclass_is_read_as_plain_text(
        store: ExecutionStore, exported: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture) -> None:
    result = SlyRepr()

    @otel_exec.traced
    def returns() -> SlyRepr:
        return result

    @otel_exec.traced
    def fails() -> None:
        raise SlyError

    with caplog.at_level(logging.WARNING, logger="otel_exec"):
        assert returns() is result
        with pytest.raises(SlyError):
            fails()
    assert not caplog.records  # nothing of ours failed
    returned, failed = store.executions()
    assert returned.result is result
    assert returned.attributes[semconv.EXEC_RESULT] == "token=[REDACTED]"
    assert failed.status is ExecStatus.FAILED
    span = next(s for s in exported.get_finished_spans() if s.name.endswith("fails"))
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "SlyError: password=[REDACTED]"  # to the end of the line
    [event] = span.events
    assert event.attributes is not None
    assert event.attributes[semconv.EXCEPTION_MESSAGE] == "password=[REDACTED]"


def test_evicted_executions_are_released_at_once() -> None:
    store = ExecutionStore(max_spans=5)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(ExecutionSpanProcessor(store))
    from otel_exec.spans import ExecutionSpan

    tracer = provider.get_tracer("test")
    refs = []
    for _n in range(200):
        blob = Blob(10)
        refs.append(weakref.ref(blob))
        ExecutionSpan(tracer, "same name", kind="function", framework="python").finish(blob)
        del blob
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 5
    assert len(store) == 5


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
    | st.integers(min_value=10 ** 4000, max_value=10 ** 4400),
    lambda children: st.lists(children, max_size=5) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=10) | st.binary(max_size=10), children, max_size=5),
    max_leaves=30)


@settings(max_examples=300)
@given(values)
def test_any_value_gives_bounded_text_and_never_raises(value: object) -> None:
    text = ValuePolicy(max_length=64).text(value)
    assert isinstance(text, str)
    assert len(text) <= 64 + 32  # a redaction may lengthen the bounded text a little


def test_exception_messages_can_be_kept_out(store: ExecutionStore,
                                            exported: InMemorySpanExporter) -> None:
    before = policy()
    otel_exec.configure(capture_exception_messages=False)
    try:
        @otel_exec.traced
        def fails() -> None:
            raise ValueError("customer 4711 has no credit")

        with pytest.raises(ValueError):
            fails()
    finally:
        set_policy(before)
    (span,) = exported.get_finished_spans()
    assert "has no credit" not in span.to_json()  # not hex: the ids cannot contain it
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "ValueError"


def test_failures_keep_their_frames_within_the_byte_budget(store: ExecutionStore) -> None:
    """An exception's traceback keeps every frame's locals alive: counted in the budget."""
    store.max_kept_bytes = 1_000_000

    class Big(Exception):
        pass

    def deep(n: int) -> None:
        payload = bytes(100_000)  # a local the traceback keeps alive
        if n:
            deep(n - 1)
        raise Big(len(payload))

    @otel_exec.traced
    def fails() -> None:
        deep(5)

    try:
        refs = []
        for _ in range(100):
            try:
                fails()
            except Big as error:
                refs.append(weakref.ref(error))
        gc.collect()
        assert sum(ref() is not None for ref in refs) < 30
    finally:
        store.max_kept_bytes = 64 * 1024 * 1024
