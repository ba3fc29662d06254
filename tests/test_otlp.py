"""otel_exec's OTLP encoder: the same request as the exporters' ``encode_spans``, byte for byte,
for every shape of span; and the exporters that use it send the same bytes on the wire."""

from __future__ import annotations

import enum
import http.server
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as exporters_encode_spans,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

import otel_exec
from otel_exec import _sdk, spans
from otel_exec._sdk import otlp_encoder as otlp
from tests.conftest import needs_fast_encoder


class Colour(enum.StrEnum):
    RED = "red"


def _recorded(provider: TracerProvider, make: Any) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make(provider)
    return list(exporter.get_finished_spans())


def _every_shape(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("shapes", "1.2", schema_url="https://example.com/s",
                                 attributes={"scope.attr": "x"})
    other = provider.get_tracer("other")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED),
                         trace_state=TraceState([("vendor", "v1"), ("k", "2")]))
    with tracer.start_as_current_span(
            "root", context=set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER,
            attributes={"s": "text", "b": True, "i": -7, "f": 0.5, "nan": math.nan,
                        "big": 2**70, "list": ["a", "b"], "ints": [1, 2], "bools": [True],
                        "floats": [1.5], "bytes": b"\x00\xff", "enum": Colour.RED,
                        "empty": "", "unicode": "é✓\x1b[31m"},
            links=[Link(remote, {"link.attr": 1}), Link(SpanContext(1, 2, False))]) as root:
        root.add_event("plain")
        root.add_event("with attributes", {"e": "v", "n": 3}, timestamp=12345)
        with other.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "broke: <why>"))
        with other.start_as_current_span("ok", kind=SpanKind.PRODUCER) as done:
            done.set_status(StatusCode.OK)
        tracer.start_span("consumer", kind=SpanKind.CONSUMER, attributes={}).end()

    @otel_exec.traced
    def work(n: int) -> int:
        if n:
            raise ValueError("one")
        return n

    previous = spans.override_provider(provider)
    try:
        work(0)
        with pytest.raises(ValueError):
            work(1)
    finally:
        spans.override_provider(previous)


def _same(batch: Sequence[ReadableSpan]) -> None:
    ours, theirs = otlp.encode_spans(batch), exporters_encode_spans(batch)
    assert ours == theirs
    assert otlp.encode_request(batch) == theirs.SerializePartialToString()
    assert ours.SerializeToString() == theirs.SerializeToString()


def test_every_shape_of_span_encodes_as_the_exporters_do() -> None:
    first = _recorded(TracerProvider(resource=Resource.create({"service.name": "a"},
                                                              schema_url="https://r")),
                      _every_shape)
    second = _recorded(TracerProvider(resource=Resource.create({"service.name": "b"})),
                       _every_shape)
    batch = [*first, *second, *first[:2]]  # two resources, several scopes, interleaved
    assert len({span.resource for span in batch}) == 2
    _same(batch)
    request = otlp.encode_spans(batch)
    assert len(request.resource_spans) == 2
    assert [len(group.scope_spans) for group in request.resource_spans] == [3, 3]
    _same([])
    _same(first[:1])


def test_hand_made_spans_encode_as_the_exporters_do() -> None:
    """Spans that are not the SDK's own (another SDK, a test double) are read through the
    public properties."""
    context = SpanContext(5, 6, False, TraceFlags(TraceFlags.SAMPLED))
    made = [ReadableSpan(name="hand", context=context, parent=SpanContext(5, 7, True),
                         resource=Resource.create({"service.name": "h"}),
                         attributes={"a": 1, "b": "two", "c": [1.5]}, kind=SpanKind.CLIENT,
                         status=Status(StatusCode.ERROR, "no"), start_time=1, end_time=2),
            ReadableSpan(name="bare", context=SpanContext(8, 9, False))]
    _same(made)


def test_equal_resources_that_are_distinct_objects_share_a_group() -> None:
    made = [_recorded(TracerProvider(resource=Resource.create({"service.name": "same"})),
                      lambda p: p.get_tracer("t").start_span("s").end())[0] for _ in range(2)]
    assert made[0].resource is not made[1].resource
    _same(made)
    assert len(otlp.encode_spans(made).resource_spans) == 1


def test_a_repeated_attribute_encodes_alike_wherever_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same key and text on a span, its event and its link (each a field of its own
    number), kept for reuse and written again once the kept ones are cleared for room; and
    lengths of one, two and three bytes."""
    monkeypatch.setattr(otlp, "_MOST_KEY_VALUES", 3)

    def make(provider: TracerProvider) -> None:
        tracer = provider.get_tracer("t")
        for n in range(5):
            linked = SpanContext(3, 4 + n, False)
            with tracer.start_as_current_span(f"s{n}", attributes={"k": "v", "n": f"{n}"},
                                              links=[Link(linked, {"k": "v"})]) as span:
                span.add_event("e", {"k": "v"})
        tracer.start_span("long", attributes={"k": "x" * 200, "longer": "y" * 20_000}).end()

    _same(_recorded(TracerProvider(), make))
    assert len(otlp._KEY_VALUES) <= 3


_VALUES = st.one_of(
    st.text(max_size=20), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.lists(st.text(max_size=5), max_size=3), st.lists(st.integers(-5, 5), max_size=3),
    st.binary(max_size=5))


@settings(max_examples=200)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _VALUES, max_size=8),
       st.dictionaries(st.text(min_size=1, max_size=10), _VALUES, max_size=4))
def test_any_attributes_encode_as_the_exporters_do(attributes: dict[str, Any],
                                                   event: dict[str, Any]) -> None:
    def make(provider: TracerProvider) -> None:
        span = provider.get_tracer("t").start_span("s", attributes=attributes)
        span.add_event("e", event)
        span.end()

    _same(_recorded(TracerProvider(), make))


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP receiver on 127.0.0.1 keeping each request body."""
    bodies: list[bytes] = []
    handler = type("Handler", (_Receiver,), {"bodies": bodies})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@needs_fast_encoder
def test_the_http_exporter_sends_the_exporters_bytes(
        receiver: tuple[str, list[bytes]]) -> None:
    endpoint, bodies = receiver
    batch = _recorded(TracerProvider(), _every_shape)
    ours = otlp.HttpSpanExporter(endpoint=endpoint)
    assert otlp.usable()  # this exporter release is a verified one
    assert ours.export(batch) is SpanExportResult.SUCCESS
    assert OTLPSpanExporter(endpoint=endpoint).export(batch) is SpanExportResult.SUCCESS
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert bodies[0] == exporters_encode_spans(batch).SerializePartialToString()


def test_another_exporter_version_keeps_its_own_encoding(
        receiver: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, bodies = receiver
    batch = _recorded(TracerProvider(), _every_shape)
    monkeypatch.setattr(_sdk.OTLP_ENCODER, "verified", ("0.1.0",))
    _sdk.decide_again()
    assert not otlp.usable()
    called: list[int] = []
    monkeypatch.setattr(otlp, "encode_spans", lambda data: called.append(1))
    exporter = otlp.HttpSpanExporter(endpoint=endpoint)
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert called == [] and bodies == [exporters_encode_spans(batch).SerializePartialToString()]
    grpc = otlp.grpc_exporter("http://127.0.0.1:9", None)
    assert type(grpc).__name__ == "OTLPSpanExporter"


@needs_fast_encoder
def test_the_grpc_exporter_encodes_the_same_request() -> None:
    exporter: Any = otlp.grpc_exporter("http://127.0.0.1:9", None)
    assert type(exporter).__name__ == "GrpcSpanExporter"
    batch = _recorded(TracerProvider(), _every_shape)
    assert exporter._translate_data(batch) == exporters_encode_spans(batch)
    exporter.shutdown()
