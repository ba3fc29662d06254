"""The boundary for SDK internals: each assumption a fast path makes, checked with a message
naming it; every gate closed by its switch or an unverified release, and the work still done."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import textwrap

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_exec import _sdk
from otel_exec._sdk import otlp_encoder, provider, readable, span_path
from tests.conftest import needs_fast_encoder, needs_span_path, needs_span_reader, run_python


@needs_span_path
def test_the_span_path_takes_the_sdk_span_as_laid_out() -> None:
    tracer = TracerProvider().get_tracer("boundary")
    assert span_path._probe_tracer(tracer) is not None, (
        "the SDK's _Span, its ReadableSpan, SpanContext or the context's span key are not laid "
        "out as otel_exec._sdk.span_path expects: compare SPAN_FIELDS, READABLE_FIELDS, "
        "EVENT_FIELDS with the SDK's Tracer.start_span")


@needs_span_reader
def test_the_span_reader_reads_what_the_public_properties_say() -> None:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    with sdk.get_tracer("boundary").start_as_current_span("s", attributes={"a": 1}) as span:
        span.add_event("e", {"b": "c"})
    (finished,) = exporter.get_finished_spans()
    fast = readable.read_span(finished)
    _sdk.SPAN_READER.opened = False
    try:
        public = readable.read_span(finished)
    finally:
        _sdk.decide_again()
    assert fast[:6] == public[:6] and dict(fast[6]) == dict(public[6]), (
        "the SDK's ReadableSpan fields (_name, _context, _attributes._dict...) no longer say "
        "what its properties say: see otel_exec._sdk.readable")
    assert list(fast[8]) == list(public[8]) and fast[12:] == public[12:]


@needs_fast_encoder
def test_the_http_export_repeats_the_verified_exporter() -> None:
    source = inspect.getsource(OTLPSpanExporter.export)
    assert hashlib.sha256(source.encode()).hexdigest() == otlp_encoder.HTTP_EXPORT_SHA256, (
        "OTLPSpanExporter.export changed: HttpSpanExporter.export repeats it with otel_exec's "
        "encoder; copy the new body, then update HTTP_EXPORT_SHA256")
    assert otlp_encoder.usable(), "the exporters' _internal encoding helpers moved"


def test_a_providers_processors_and_exporters_are_seen() -> None:
    sdk = TracerProvider()
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    processor = SimpleSpanProcessor(exporter)
    sdk.add_span_processor(processor)
    assert provider.span_processors(sdk) == (processor,), (
        "TracerProvider._active_span_processor._span_processors moved")
    assert provider.exporter_of(processor) is exporter
    assert provider.endpoint_of(exporter) == "http://127.0.0.1:9/v1/traces", (
        "OTLPSpanExporter._endpoint moved")
    exporter.shutdown()


def test_an_unverified_release_closes_its_gate_with_one_log_line(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_sdk.SPAN_PATH, "verified", ("0.9.0",))
    _sdk.decide_again()
    with caplog.at_level(logging.INFO, logger="otel_exec._sdk"):
        assert not _sdk.SPAN_PATH.open() and not _sdk.SPAN_PATH.open()
    (line,) = [r.getMessage() for r in caplog.records if "fast span path" in r.getMessage()]
    assert "is not a release it was verified against (0.9.0)" in line
    assert span_path._probe_tracer(TracerProvider().get_tracer("x")) is None
    assert dict((name, why) for name, _, why in _sdk.fast_paths())["fast span path"].startswith(
        "off: opentelemetry-sdk")


def test_the_switch_turns_every_fast_path_off_and_the_work_is_the_same() -> None:
    code = textwrap.dedent("""
        import json
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import otel_exec
        from otel_exec import _sdk
        from otel_exec._sdk import otlp_encoder, span_path
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        otel_exec.instrument("falyx", tracer_provider=provider)

        @otel_exec.traced(name="work")
        def work(n):
            if n < 0:
                raise ValueError("negative")
            return n * 2

        work(2)
        try:
            work(-1)
        except ValueError:
            pass
        spans = exporter.get_finished_spans()
        print(json.dumps({
            "gates": [[name, on] for name, on, _ in _sdk.fast_paths()],
            "lean": span_path._probe_tracer(provider.get_tracer("x")) is not None,
            "encoder": otlp_encoder.usable(),
            "spans": [[s.name, s.status.status_code.name, dict(s.attributes)["exec.status"]]
                      for s in spans],
            "stored": [e.status.value for e in otel_exec.registry.get_all()],
        }))
    """)
    results = {}
    for switch in ("1", "0"):
        done = run_python(code, env={_sdk.SWITCH: switch})
        assert done.returncode == 0, done.stderr
        results[switch] = json.loads(done.stdout)
    off = results["0"]
    assert [on for _, on in off["gates"]] == [False] * len(_sdk.GATES)
    assert off["lean"] is False and off["encoder"] is False
    assert off["spans"] == results["1"]["spans"] == [
        ["work", "UNSET", "completed"], ["work", "ERROR", "failed"]]
    assert off["stored"] == results["1"]["stored"] == ["completed", "failed"]
    doctor = run_python("import otel_exec; otel_exec.doctor()", env={_sdk.SWITCH: "0"})
    assert "fast span path: off: OTEL_EXEC_FAST_PATHS=0" in doctor.stdout
