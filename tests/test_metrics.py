"""Execution metrics: exec.duration counts equal the executions by status, exported like the
traces (HTTP and gRPC) to a real receiver; bounded names; nothing when off."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

from otel_exec import ExecutionStore, metrics_setup, semconv
from otel_exec.duration_histogram import DurationHistogram, DurationReader
from tests.conftest import run_python
from tests.otlp_receiver import Receiver, receiving


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


APP = """
import otel_exec
otel_exec.configure(service_name="metrics", otlp_endpoint="http://127.0.0.1:{port}",
                    otlp_protocol="{protocol}", metrics={metrics})

@otel_exec.traced(name="charge")
def charge(n):
    if n % 3 == 0:
        raise ValueError("declined")
    return n

for n in range(10):
    try:
        charge(n)
    except ValueError:
        pass
otel_exec.shutdown()
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_duration_counts_equal_the_executions_by_status(receiver: Receiver,
                                                        protocol: str) -> None:
    receiver.clear()
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    done = run_python(textwrap.dedent(APP.format(port=port, protocol=protocol,
                                                 metrics=True)))
    assert done.returncode == 0, done.stderr
    counts = Counter({dict(key)[semconv.EXEC_STATUS]: count
                      for key, count in receiver.histograms["exec.duration"].items()
                      if dict(key)[metrics_setup.EXEC_NAME] == "charge"})
    assert counts == {"completed": 6, "failed": 4}
    (key,) = [k for k in receiver.histograms["exec.duration"] if dict(k)["exec.status"] == "failed"]
    assert dict(key)[semconv.EXEC_KIND] == "function"
    assert dict(key)[semconv.EXEC_FRAMEWORK] == "python"
    receiver.wait_for(10)  # exemplars link buckets to traces that were exported
    linked = receiver.exemplars["exec.duration"]
    assert linked and linked <= set(receiver.traces.values())


def test_off_by_default(receiver: Receiver) -> None:
    receiver.clear()
    done = run_python(textwrap.dedent(APP.format(port=receiver.http_port,
                                                 protocol="http/protobuf", metrics=None)))
    assert done.returncode == 0, done.stderr
    assert receiver.histograms == {}


def test_names_past_the_bound_count_as_other(store: ExecutionStore) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    import otel_exec
    from otel_exec.spans import use_provider

    reader = InMemoryMetricReader()
    processor = metrics_setup.ExecutionMetricsProcessor(MeterProvider(metric_readers=[reader]))
    processor._names = {f"n{i}" for i in range(metrics_setup.MAX_NAMES)}
    provider = TracerProvider()
    provider.add_span_processor(processor)
    use_provider("otel_exec.traced", provider)
    try:
        otel_exec.traced(name="one name too many")(lambda: 1)()
    finally:
        use_provider("otel_exec.traced", None)
    data = reader.get_metrics_data()
    points = [point for resource in data.resource_metrics for scope in resource.scope_metrics
              for metric in scope.metrics if metric.name == "exec.duration"
              for point in metric.data.data_points]
    assert [dict(p.attributes)[metrics_setup.EXEC_NAME] for p in points] == [
        metrics_setup.OTHER]


def test_running_executions_are_counted_when_collected() -> None:
    from types import SimpleNamespace

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    running = [SimpleNamespace(kind="job", framework="routilux")] * 2
    metrics_setup.ExecutionMetricsProcessor(MeterProvider(metric_readers=[reader]),
                                            running=lambda: running)
    data = reader.get_metrics_data()
    (point,) = [point for resource in data.resource_metrics
                for scope in resource.scope_metrics for metric in scope.metrics
                if metric.name == "exec.running" for point in metric.data.data_points]
    assert point.value == 2 and dict(point.attributes) == {
        semconv.EXEC_KIND: "job", semconv.EXEC_FRAMEWORK: "routilux"}


class _Collected(MetricExporter):
    """What a metric reader exports, kept in memory (the in-memory exporter the SDK has for
    spans, for metrics)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _points(data: MetricsData | None, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    assert data is not None
    return {tuple(sorted(dict(point.attributes).items())): point
            for resource in data.resource_metrics for scope in resource.scope_metrics
            for metric in scope.metrics if metric.name == name
            for point in metric.data.data_points}


def _run_spans(*processors: Any) -> list[tuple[int, int]]:
    """Executions of several names, kinds and statuses, with durations on and between bucket
    bounds; their (trace id, span id)."""
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("durations")
    ids = []
    durations = [0.0, 0.0004, 0.001, 0.0011, 0.02, 0.25, 0.2500001, 3.0, 700.0]
    for n, seconds in enumerate(durations * 3):
        span = tracer.start_span(f"step {n % 4}", start_time=1_000_000_000, attributes={
            semconv.EXEC_KIND: "step" if n % 2 else "action", semconv.EXEC_FRAMEWORK: "python",
            semconv.EXEC_STATUS: "failed" if n % 5 == 0 else "completed"})
        span.end(end_time=1_000_000_000 + round(seconds * 1e9))
        ids.append((span.get_span_context().trace_id, span.get_span_context().span_id))
    return ids


def test_the_in_process_histogram_exports_what_the_sdks_would() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    sdk_reader = InMemoryMetricReader()
    sdk = metrics_setup.ExecutionMetricsProcessor(MeterProvider(metric_readers=[sdk_reader]))
    exporter = _Collected()
    histogram = DurationHistogram(metrics_setup.DURATION_BUCKETS, metrics_setup.ATTRIBUTE_NAMES)
    provider = MeterProvider(metric_readers=[DurationReader(exporter, histogram)])
    ours = metrics_setup.ExecutionMetricsProcessor(provider, histogram=histogram)
    ids = _run_spans(sdk, ours)
    provider.force_flush()
    expected = _points(sdk_reader.get_metrics_data(), "exec.duration")
    got = _points(exporter.exported[-1], "exec.duration")
    assert got.keys() == expected.keys() and len(got) == 8
    for key, point in got.items():
        want = expected[key]
        assert (point.count, point.bucket_counts, tuple(point.explicit_bounds)) == (
            want.count, tuple(want.bucket_counts), tuple(want.explicit_bounds)), key
        assert point.sum == pytest.approx(want.sum)
        assert (point.min, point.max) == (want.min, want.max)
        for exemplar in point.exemplars:  # the newest execution of each bucket, traced
            assert (exemplar.trace_id, exemplar.span_id) in ids
        assert len(point.exemplars) == sum(1 for count in point.bucket_counts if count)
    running = _points(exporter.exported[-1], "exec.running")
    assert {dict(key)[semconv.EXEC_KIND] for key in running} == {"step", "action"}
    assert all(point.value == 0 for point in running.values())  # none runs now: 0, not gone


def test_delta_temporality_starts_again_and_exemplars_can_be_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")
    exporter = _Collected()
    histogram = DurationHistogram(metrics_setup.DURATION_BUCKETS, metrics_setup.ATTRIBUTE_NAMES)
    provider = MeterProvider(metric_readers=[DurationReader(exporter, histogram)])
    processor = metrics_setup.ExecutionMetricsProcessor(provider, histogram=histogram)
    _run_spans(processor)
    provider.force_flush()
    _run_spans(processor)
    _run_spans(processor)
    provider.force_flush()
    first, second = (_points(data, "exec.duration") for data in exporter.exported[-2:])
    assert sum(p.count for p in first.values()) == 27
    assert sum(p.count for p in second.values()) == 54
    point = next(iter(second.values()))
    assert point.start_time_unix_nano >= next(iter(first.values())).time_unix_nano
    assert all(not p.exemplars for p in second.values())
