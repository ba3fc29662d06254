"""The lean span path (``otel_exec._sdk.span_path``): the same spans as the SDK's ``start_span``,
for byte in OTLP (ids and times masked), seen by every processor from ``on_start``; and the
SDK's own start whenever its internals are not the ones the lean start knows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import DEFAULT_ON, TraceIdRatioBased
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags

import otel_exec
from otel_exec import _sdk, spans
from otel_exec._sdk import span_path
from otel_exec.sampling import RecordLocally
from tests.conftest import needs_span_path


class _AtStart(SpanProcessor):
    """What another processor sees when a span starts: its attributes and what else its
    public properties say."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], tuple[Any, ...]]] = []

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self.seen.append((dict(span.attributes), (
            span.name, span.kind, span.parent is not None, span.end_time, span.status,
            span.events, span.links and len(span.links), span.instrumentation_scope,
            span.resource, span.is_recording(), span.dropped_attributes, span.dropped_events,
            span.dropped_links, isinstance(span, trace_api.Span))))


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the spans the lean start made."""
    made: list[str] = []
    real = span_path.start_span

    def counting(tracer: Any, name: str, context: Any, attributes: Any,
                 links: Any = None) -> Any:
        span = real(tracer, name, context, attributes, links)
        if span is not None:
            made.append(name)
        return span

    monkeypatch.setattr(span_path, "start_span", counting)
    yield made


def _workload() -> None:
    @otel_exec.traced(name="inner")
    def inner(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    @otel_exec.traced(name="outer")
    def outer() -> list[int]:
        done = []
        for n in range(3):
            try:
                done.append(inner(n))
            except ValueError:
                done.append(-1)
        with otel_exec.span("block", attributes={"app.rows": 3, "app.ratio": 0.5,
                                                 "app.tags": ["a", "b"]}, batch=7):
            pass
        tracer = spans.get_tracer("test")
        for result, final in (
                (2, {"app.note": "x" * 20_000}),  # past a length limit: the SDK cuts it
                (2, {f"app.k{n}": n for n in range(130)}),  # past the count: the SDK drops
                ("z" * 40, {"app.rows": 4, "app.ok": True})):  # its text past a short limit
            execution = spans.ExecutionSpan(tracer, "step", kind="step", framework="test",
                                            args=(1,), attributes={"app.rows": 3})
            execution.finish(result, args=(1, 2), attributes=final)  # exec.args set again
        emitter = trace_api.get_current_span().get_span_context()
        linked = spans.ExecutionSpan(tracer, "linked", kind="routine.with.links",  # 18 long
                                     framework="test",
                                     links=[Link(emitter, {"routilux.event": "out"})])
        linked.add_event("emitted", {"event": "out", "n": 3, "ok": True})
        linked.add_event("listed", {"targets": ["a", "b"]})  # not plain: the SDK's add_event
        linked.add_event("bare")
        linked.finish(exception=ValueError("linked failed"))  # the exception event too
        shared = Link(emitter, {"routilux.event": "out"})  # one emitter's, for two spans
        for links in ([shared], [shared],
                      [Link(emitter), Link(emitter, {"n": 1, "ok": True})],  # the lean links
                      [Link(SpanContext(0, 0, False), {"why": "kept"}),  # invalid, kept
                       Link(SpanContext(0, 0, False))],  # invalid, dropped
                      [Link(emitter, {"targets": ["a", "b"]})],  # not plain
                      [Link(emitter, {"note": "x" * 20_000})]):  # past the length limit
            spans.ExecutionSpan(tracer, "links", kind="routine", framework="test",
                                links=links).finish()
        return done

    outer()


def _exported(provider: TracerProvider,
              ) -> tuple[list[ReadableSpan], list[tuple[dict[str, Any], tuple[Any, ...]]]]:
    exporter = InMemorySpanExporter()
    at_start = _AtStart()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(at_start)
    previous = spans.override_provider(provider)
    try:
        _workload()
    finally:
        spans.override_provider(previous)
    return list(exporter.get_finished_spans()), at_start.seen


def _masked(finished: list[ReadableSpan]) -> bytes:
    request = encode_spans(finished)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                span.trace_id = span.span_id = span.parent_span_id = b""
                span.start_time_unix_nano = span.end_time_unix_nano = 0
                for event in span.events:
                    event.time_unix_nano = 0
                for link in span.links:
                    link.trace_id = link.span_id = b""
    return bytes(request.SerializeToString())


@needs_span_path
@pytest.mark.parametrize("longest", [None, 16_384, 16], ids=[
    "no length limit", "a length limit", "a limit shorter than otel_exec's own texts"])
def test_same_otlp_as_the_sdk_start(store: Any, taken: list[str],
                                   monkeypatch: pytest.MonkeyPatch, longest: int | None) -> None:
    limits = SpanLimits(max_span_attribute_length=longest)
    fast, fast_at_start = _exported(TracerProvider(sampler=RecordLocally(DEFAULT_ON),
                                                   span_limits=limits))
    # past a limit of 16 at start (code.* attributes, the kind): the SDK's start cuts them
    cut = [] if longest == 16 else ["inner", "inner", "inner", "linked", "outer"]
    assert sorted(taken) == sorted([*cut, *["links"] * 6, "step", "step", "step"])
    assert "block" not in taken  # it has a list value
    monkeypatch.setenv(_sdk.SWITCH, "0")  # every fast path off: the SDK's own start
    _sdk.decide_again()
    plain, plain_at_start = _exported(TracerProvider(span_limits=limits))
    assert len(fast) == len(plain) == 15
    assert {type(span) for span in plain} == {ReadableSpan}  # the SDK's copy of each span
    # the lean spans themselves, ended (nothing changes them then); the others' copies
    assert {type(span).__name__ for span in fast} == {"_Span", "ReadableSpan"}
    assert all(isinstance(span, ReadableSpan) and span.end_time for span in fast)
    linked = next(span for span in fast if span.name == "linked")
    assert [event.name for event in linked.events] == ["emitted", "listed", "bare",
                                                       "exception"]
    assert [dict(link.attributes or {}) for link in linked.links] == [{"routilux.event": "out"}]
    for finished in (fast, plain):  # every link's attributes bounded and frozen, either way
        links = [link for span in finished for link in span.links]
        assert len(links) == 8
        assert {type(link.attributes) for link in links} == {BoundedAttributes}
        with pytest.raises(TypeError):
            links[0].attributes["later"] = 1  # type: ignore[index]
    assert [[dict(link.attributes or {}) for link in span.links] for span in fast] == [
        [dict(link.attributes or {}) for link in span.links] for span in plain]
    notes = [span.attributes["app.note"] for span in fast if "app.note" in span.attributes]
    assert [len(note) for note in notes] == [longest or 20_000]
    results = [span.attributes.get("exec.result", "") for span in fast if span.name == "step"]
    assert [len(str(result)) for result in results] == [  # the second's dropped: 130 keys
        1, 0, min(42, longest or 42)]
    last = dict([span for span in fast if span.name == "step"][-1].attributes or {})
    assert list(last)[-4:] == ["exec.result", "exec.args", "app.rows", "app.ok"]  # moved
    assert last["exec.args"] == "(1, 2)" and last["app.rows"] == 4
    assert _masked(fast) == _masked(plain)
    assert fast_at_start == plain_at_start
    assert fast_at_start[0][0]["exec.kind"] == "function"
    assert [dict(span.attributes or {}) for span in fast] == [
        dict(span.attributes or {}) for span in plain]
    # not in OTLP: the context's flags and state, and the parent links between the spans
    assert [(span.context.trace_flags, span.context.trace_state, span.context.is_remote)
            for span in fast] == [(span.context.trace_flags, span.context.trace_state,
                                   span.context.is_remote) for span in plain]
    for finished in (fast, plain):
        ids = {span.context.span_id: span.name for span in finished}
        assert [(span.name, ids.get(span.parent.span_id) if span.parent else None)
                for span in finished] == [("inner", "outer")] * 3 + [("block", "outer")] + [
                                        ("step", "outer")] * 3 + [("linked", "outer")] + [
                                        ("links", "outer")] * 6 + [("outer", None)]
        assert len({span.context.trace_id for span in finished}) == 1
        linked = next(span for span in finished if span.name == "linked")
        assert ids[linked.links[0].context.span_id] == "outer"


@pytest.mark.parametrize("provider", [
    TracerProvider(sampler=TraceIdRatioBased(1.0)),
    TracerProvider(id_generator=type("Ids", (RandomIdGenerator,), {})()),
], ids=["another sampler", "another id generator"])
def test_other_setups_take_the_sdk_start(store: Any, taken: list[str],
                                         provider: TracerProvider) -> None:
    finished, _ = _exported(provider)
    assert len(finished) == 15 and taken == []
    assert {span.name for span in finished} == {"inner", "outer", "block", "step", "linked",
                                                "links"}


def test_another_sdk_version_takes_the_sdk_start(store: Any, taken: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sdk.SPAN_PATH, "verified", ("0.9.0",))
    _sdk.decide_again()
    finished, _ = _exported(TracerProvider())
    assert len(finished) == 15 and taken == []


def test_another_span_layout_takes_the_sdk_path(store: Any, taken: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(span_path, "SPAN_FIELDS", span_path.SPAN_FIELDS | {"_a_new_field"})
    monkeypatch.setattr(span_path, "_span_classes", set())
    finished, _ = _exported(TracerProvider())
    assert len(finished) == 15 and taken == []
    span = TracerProvider().get_tracer("z").start_span("s")
    assert span_path.set_attributes(span, {"a": "b"}) is False
    span.set_attributes({"a": "b"})
    span.end()
    assert span_path.set_attributes(span, {"c": "d"}) is False


@needs_span_path
def test_an_unsampled_parent_is_the_samplers_call(store: Any) -> None:
    tracer = TracerProvider(sampler=RecordLocally(TraceIdRatioBased(1.0))).get_tracer("x")
    parent = trace_api.set_span_in_context(NonRecordingSpan(SpanContext(
        1, 2, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))))
    assert span_path.start_span(tracer, "child", parent, {"a": "b"}) is None
    default_tracer = TracerProvider().get_tracer("y")
    assert span_path._template(default_tracer) is not None  # the lean path applies to it
    assert span_path.start_span(default_tracer, "child", parent, {"a": "b"}) is None
    started = span_path.start_span(default_tracer, "root", None, {"a": "b"})
    assert started is not None and started.is_recording()
    started.end()


def test_another_span_context_layout_takes_the_sdk_path(store: Any, taken: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(span_path, "_same_layout", lambda context, expected: False)
    finished, _ = _exported(TracerProvider())
    assert len(finished) == 15 and taken == []


def _sdk_path_for_all(taken: list[str]) -> None:
    finished, _ = _exported(TracerProvider())
    assert len(finished) == 15 and taken == []
    assert {type(span) for span in finished} == {ReadableSpan}
    linked = next(span for span in finished if span.name == "linked")
    assert [event.name for event in linked.events] == ["emitted", "listed", "bare",
                                                       "exception"]


def test_another_event_layout_takes_the_sdk_path(store: Any, taken: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(span_path, "EVENT_FIELDS", (*span_path.EVENT_FIELDS, "_a_new_field"))
    monkeypatch.setattr(span_path, "_span_classes", set())
    _sdk_path_for_all(taken)


def test_a_readable_span_unlike_its_span_takes_the_sdk_path(
        store: Any, taken: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A release whose ``ReadableSpan`` holds what its span does not: the span could not
    stand in for it."""
    from opentelemetry.sdk.trace import Span

    real = Span._readable_span

    def with_more(span: Span) -> ReadableSpan:
        readable = real(span)
        readable._a_new_field = 1  # type: ignore[attr-defined]
        return readable

    monkeypatch.setattr(Span, "_readable_span", with_more)
    monkeypatch.setattr(span_path, "_span_classes", set())
    _sdk_path_for_all(taken)


@needs_span_path
def test_another_link_layout_takes_the_sdks_links(store: Any, taken: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    limits = SpanLimits(max_span_attribute_length=16_384)
    lean_links, _ = _exported(TracerProvider(span_limits=limits))
    monkeypatch.setattr(span_path, "_LINK_LAYOUT", False)
    built = []
    real = span_path._bounded_links
    monkeypatch.setattr(span_path, "_bounded_links", lambda *a: built.append(real(*a)) or built[-1])
    sdk_links, _ = _exported(TracerProvider(span_limits=limits))
    assert built and all(links is None for links in built)  # the SDK's _new_links made them
    assert taken.count("links") == 12  # the spans themselves still took the lean start
    assert _masked(lean_links) == _masked(sdk_links)


@needs_span_path
def test_a_span_ends_once(store: Any) -> None:
    tracer = TracerProvider().get_tracer("once")
    assert span_path._template(tracer) is not None  # the lean path applies to it
    span = span_path.start_span(tracer, "s", None, {"a": "b"})
    assert span is not None
    assert span_path.end_span(span) is True
    assert span_path.end_span(span) is False  # span.end() then warns, as the SDK does
    assert span_path.end_span(span, None, {"late": "x"}) is False  # nothing written either
    assert span_path.end_span(span, None, {"late": ["x"]}) is False  # nor by the SDK's path
    assert "late" not in span.attributes  # type: ignore[attr-defined]
    assert span_path.set_attributes(span, {"c": "d"}) is False
    span_path.add_event(span, "late", None)  # the SDK's _add_event refuses an ended span
    assert not list(span.events)  # type: ignore[attr-defined]


@needs_span_path
def test_an_event_on_an_ended_span_is_the_sdks_to_refuse(store: Any) -> None:
    tracer = TracerProvider().get_tracer("ended")
    span = span_path.start_span(tracer, "s", None, {"a": "b"})
    assert span is not None
    assert span_path.add_event(span, "while running", {"n": 1}) is True
    assert span_path.end_span(span) is True
    assert span_path.add_event(span, "too late", {"n": 2}) is False  # span.add_event then warns
    assert [event.name for event in span.events] == ["while running"]  # type: ignore[attr-defined]


def _span_metrics() -> dict[str, list[Any]]:
    """The SDK's own span metrics (started, live) after one lean span and one SDK span."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    tracer = TracerProvider(meter_provider=MeterProvider(metric_readers=[reader])).get_tracer(
        "metrics")
    lean_span = span_path.start_span(tracer, "lean", None, {"a": "b"})
    assert lean_span is not None  # the lean path applies to a tracer recording span metrics
    sdk_span = tracer.start_span("sdk")
    assert span_path.end_span(lean_span) is True
    sdk_span.end()
    data = reader.get_metrics_data()
    assert data is not None
    return {metric.name: [point.value for point in metric.data.data_points]
            for resource in data.resource_metrics for scope in resource.scope_metrics
            for metric in scope.metrics}


@needs_span_path
def test_span_metrics_as_the_sdk_records_them(store: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    metrics = _span_metrics()
    assert sum(metrics.get("otel.sdk.span.started", ())) == 2  # the lean span and the SDK's
    assert metrics["otel.sdk.span.live"] == [0]  # both ended
    monkeypatch.delenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED")
    tracer = TracerProvider().get_tracer("quiet")
    span = span_path.start_span(tracer, "s", None, {})
    assert span is not None and span._record_end_metrics is span_path._no_metrics  # type: ignore[attr-defined]
    assert span_path._no_metrics is not None and span_path.end_span(span) is True


@needs_span_path
def test_a_disabled_tracer_takes_the_sdk_start(store: Any) -> None:
    from opentelemetry.sdk.trace import (
        _default_tracer_configurator,
        _disable_tracer_configurator,
    )

    provider = TracerProvider(_tracer_configurator=lambda scope: (
        _disable_tracer_configurator if scope.name == "off"
        else _default_tracer_configurator)(scope))
    off, on = provider.get_tracer("off"), provider.get_tracer("on")
    assert span_path._template(off) is not None  # the layout is known: only the flag says no
    assert span_path.start_span(off, "s", None, {"a": "b"}) is None
    assert not off.start_span("s").is_recording()  # what the SDK then makes
    span = span_path.start_span(on, "s", None, {"a": "b"})
    assert span is not None and span.is_recording()
    span.end()


@needs_span_path
def test_events_added_from_many_threads_are_all_kept(store: Any) -> None:
    """A lean span's event list is made on first use: threads adding the first events at once
    (through the lean path and the SDK's own ``add_event``) lose none of them."""
    import threading

    tracer = TracerProvider(span_limits=SpanLimits(max_events=1_000)).get_tracer("threads")
    for _ in range(20):
        span = span_path.start_span(tracer, "s", None, {"a": "b"})
        assert span is not None and "_events" not in vars(span)  # none made yet
        start = threading.Barrier(4)

        def add(lean: bool, span: Any = span, start: threading.Barrier = start) -> None:
            start.wait(5)
            for n in range(50):
                if lean:
                    span_path.add_event(span, "lean", {"n": n})
                else:
                    span.add_event("sdk", {"n": n})

        threads = [threading.Thread(target=add, args=(n % 2 == 0,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert span_path.end_span(span) is True
        assert len(span.events) == 200 and span.dropped_events == 0


@needs_span_path
def test_every_processor_hook_is_called_as_the_sdk_calls_it(store: Any) -> None:
    """The lean path calls the provider's processors itself: one added after spans have
    started, and a hook set on an instance, are called; a hook left as SpanProcessor's own
    (which does nothing) is not, and the order is the SDK's."""
    calls: list[tuple[str, str]] = []

    class Seen(SpanProcessor):
        def on_start(self, span: Any, parent_context: Context | None = None) -> None:
            calls.append(("start", span.name))

        def _on_ending(self, span: Any) -> None:
            calls.append(("ending", span.name))

        def on_end(self, span: Any) -> None:
            calls.append(("end", span.name))

    provider = TracerProvider()
    tracer = provider.get_tracer("hooks")
    first = span_path.start_span(tracer, "first", None, {"a": "b"})
    assert first is not None and span_path.end_span(first)  # no processor yet
    provider.add_span_processor(Seen())
    quiet = SpanProcessor()  # its own hooks do nothing
    quiet.on_end = lambda span: calls.append(("instance end", span.name))  # type: ignore[method-assign]
    provider.add_span_processor(quiet)
    second = span_path.start_span(tracer, "second", None, {"a": "b"})
    assert second is not None and span_path.end_span(second)
    assert calls == [("start", "second"), ("ending", "second"), ("end", "second"),
                     ("instance end", "second")]
