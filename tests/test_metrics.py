"""Execution metrics: exec.duration counts equal the executions by status, exported like the
traces (HTTP and gRPC) to a real receiver; bounded names; nothing when off."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterator

import pytest

from otel_exec import ExecutionStore, metrics_setup, semconv
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
