"""configure(): each test runs in a fresh interpreter, since the global provider is set once."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import otel_exec
from otel_exec import config
from tests.conftest import run_python


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(code: str, **env: str) -> dict[str, object]:
    done = run_python(textwrap.dedent(code), env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_an_existing_sdk_provider_is_reused_not_replaced() -> None:
    result = run("""
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import otel_exec

        exporter = InMemorySpanExporter()
        mine = TracerProvider()
        mine.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(mine)
        store = otel_exec.configure(service_name="ignored")
        assert otel_exec.configure() is store

        @otel_exec.traced
        def job(): return 1

        job()
        print(json.dumps({"same": trace.get_tracer_provider() is mine, "stored": len(store),
                          "exported": [s.name for s in exporter.get_finished_spans()]}))
    """)
    assert result == {"same": True, "stored": 1, "exported": ["job"]}


def test_installs_a_provider_with_the_service_name() -> None:
    code = """
        import json
        from opentelemetry import trace
        import otel_exec
        otel_exec.configure(%s)
        print(json.dumps(dict(trace.get_tracer_provider().resource.attributes)))
    """
    explicit = run(code % "service_name='billing', service_version='1.2'")
    assert explicit["service.name"] == "billing"
    assert explicit["service.version"] == "1.2"
    from_env = run(code % "", OTEL_SERVICE_NAME="from-env")
    assert from_env["service.name"] == "from-env"


def test_configure_twice_keeps_one_processor_and_adjusts_the_bound() -> None:
    result = run("""
        import json
        import otel_exec
        store = otel_exec.configure(max_spans=100)
        again = otel_exec.configure(max_spans=3)

        @otel_exec.traced
        def job(i): return i

        for i in range(5): job(i)
        print(json.dumps({"same": store is again, "kept": len(store), "max": store.max_spans,
                          "evicted": store.evicted, "recorded": store.recorded}))
    """)
    assert result == {"same": True, "kept": 3, "max": 3, "evicted": 2, "recorded": 5}


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_closed_collector_port_costs_nothing_and_loses_nothing_locally(protocol: str) -> None:
    started = time.monotonic()
    result = run("""
        import json, time
        import otel_exec
        store = otel_exec.configure(exit_timeout=1.0)

        @otel_exec.traced
        def work(i): return i * 2

        began = time.perf_counter()
        results = [work(i) for i in range(2000)]
        print(json.dumps({"kept": len(store), "right": results == [i * 2 for i in range(2000)],
                          "statuses": sorted({e.status.value for e in store.executions()})}))
    """, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    elapsed = time.monotonic() - started
    assert result == {"kept": 2000, "right": True, "statuses": ["completed"]}
    assert elapsed < 30, f"exit took {elapsed:.1f}s with exit_timeout=1s"


def test_the_http_endpoint_is_a_base_url() -> None:
    result = run(f"""
        import json
        import otel_exec
        from otel_exec import config
        otel_exec.configure(otlp_endpoint="http://127.0.0.1:{closed_port()}/", exit_timeout=0.5)
        exporter = config._setup.exporters[0]._batch_processor._exporter
        print(json.dumps({{"endpoint": exporter._endpoint}}))
    """)
    assert str(result["endpoint"]).endswith("/v1/traces")
    assert "//v1" not in str(result["endpoint"])


def test_protocols_are_validated() -> None:
    with pytest.raises(ValueError, match="otlp_protocol must be one of"):
        otel_exec.configure(otlp_protocol="http/json")


def test_an_unsupported_protocol_variable_falls_back_with_a_warning() -> None:
    done = run_python(textwrap.dedent("""
        import otel_exec
        otel_exec.configure(exit_timeout=0.2)
        exporter = otel_exec.config._setup.exporters[0]._batch_processor._exporter
        print([cls.__module__ for cls in type(exporter).__mro__])
    """), env={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}"})
    assert done.returncode == 0, done.stderr
    assert "proto.http" in done.stdout and "otel_exec._sdk.otlp_encoder" in done.stdout
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported" in done.stderr


class _HeldExporter(SpanExporter):
    """An exporter whose first export waits until the burst is over (a slow backend)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.gate.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


@pytest.mark.parametrize(("queue", "kept"), [(None, True), ("600", False)],
                         ids=["default queue", "OTEL_BSP_MAX_QUEUE_SIZE"])
def test_a_burst_of_spans_is_exported_whole(monkeypatch: pytest.MonkeyPatch, queue: str | None,
                                            kept: bool) -> None:
    if queue is None:
        monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE", raising=False)
    else:
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", queue)
    exporter = _HeldExporter()
    provider = TracerProvider()
    provider.add_span_processor(config._BoundedBatchSpanProcessor(exporter))
    tracer = provider.get_tracer("burst")
    for _ in range(10_000):  # five times the SDK's default queue, while the export waits
        tracer.start_span("quick").end()
    exporter.gate.set()
    assert provider.force_flush(30_000)
    provider.shutdown()
    assert (exporter.exported == 10_000) is kept, exporter.exported


def test_a_trace_file_that_cannot_be_written_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "x.jsonl"
    done = run_python(textwrap.dedent(f"""
        import otel_exec
        try:
            otel_exec.configure(file={str(missing)!r})
        except OSError as error:
            print(type(error).__name__, error)
    """))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("FileNotFoundError")
    assert f"cannot write the trace file {str(missing)!r}" in done.stdout


def test_a_write_that_fails_later_is_logged_once_and_counted(tmp_path: Path) -> None:
    """The file's folder is removed while the program runs: one error naming the path, and
    every span of the batches that could not be written counted."""
    path = tmp_path / "later" / "x.jsonl"
    path.parent.mkdir()
    result = run(f"""
        import json, shutil
        import otel_exec
        from otel_exec import config
        otel_exec.configure(file={str(path)!r})

        @otel_exec.traced
        def work(i): return i

        shutil.rmtree({str(path.parent)!r})
        for i in range(3):
            work(i)
            otel_exec.flush()
        (processor,) = config._setup.files.values()
        print(json.dumps({{"lost": processor.span_exporter.lost_spans}}))
    """)
    assert result == {"lost": 3}
    path.parent.mkdir()
    done = run_python(textwrap.dedent(f"""
        import shutil
        import otel_exec
        otel_exec.configure(file={str(path)!r})
        shutil.rmtree({str(path.parent)!r})
        for i in range(3):
            with otel_exec.span("work"):
                pass
            otel_exec.flush()
    """))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("could not write") == 1 and str(path) in done.stderr


def test_one_trace_stays_in_the_provider_given_to_instrument() -> None:
    """instrument(tracer_provider=mine), then configure(): the framework's spans and @traced's
    go to one provider, under one service, and configure() installs no second one."""
    result = run("""
        import asyncio, json
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from falyx.action import Action
        import otel_exec

        mine = TracerProvider(resource=Resource.create({"service.name": "mine"}))
        exporter = InMemorySpanExporter()
        mine.add_span_processor(SimpleSpanProcessor(exporter))
        otel_exec.instrument("falyx", tracer_provider=mine)
        otel_exec.configure(service_name="other")

        async def step():
            return 1

        @otel_exec.traced
        async def outer():
            return await Action("step", step)()

        asyncio.run(outer())
        spans = exporter.get_finished_spans()
        print(json.dumps({
            "names": sorted(span.name for span in spans),
            "services": sorted({span.resource.attributes["service.name"] for span in spans}),
            "traces": len({span.context.trace_id for span in spans}),
            "global_is_sdk": isinstance(trace.get_tracer_provider(), TracerProvider),
            "stored": sorted(e.name for e in otel_exec.store().executions()),
        }))
    """)
    assert result == {"names": ["outer", "step"], "services": ["mine"], "traces": 1,
                      "global_is_sdk": False, "stored": ["outer", "step"]}
