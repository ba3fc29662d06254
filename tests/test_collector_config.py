"""collector-config/: every file parses, and ports, protocols and pipeline names agree with each
other and with otel_exec's defaults; the Grafana dashboard queries metrics and attributes
otel_exec emits; the fleet's agents and gateways fit together and use the tail sampling
processor's documented settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from otel_exec import config, semconv

FOLDER = Path(__file__).resolve().parents[1] / "collector-config"
DASHBOARD = "grafana-dashboard-executions.json"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FOLDER / name).read_text())
    assert isinstance(data, dict), name
    return data


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return load("otel-collector.yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load("docker-compose.yml")


def port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_every_file_parses() -> None:
    names = sorted(str(p.relative_to(FOLDER)) for p in FOLDER.rglob("*.y*ml"))
    assert names == ["clickhouse.yaml", "docker-compose.yml", "fleet/agent.yaml",
                     "fleet/gateway.yaml",
                     "grafana-dashboards.yaml", "grafana-datasources.yaml", "otel-collector.yaml",
                     "tempo.yaml"]
    for name in names:
        load(name)
    json.loads((FOLDER / DASHBOARD).read_text())


def assert_pipelines_complete(collector: dict[str, Any]) -> None:
    """Every component a pipeline names is defined, and every one defined is used."""
    used: set[tuple[str, str]] = set()
    for pipeline in collector["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in collector[section], f"{section}: {component} is not defined"
                used.add((section, component))
    for section in ("receivers", "processors", "exporters"):
        for component in collector.get(section, {}):
            assert (section, component) in used, f"{section}: {component} is never used"
    for extension in collector["service"].get("extensions", []):
        assert extension in collector["extensions"]
    for exporter in collector["exporters"]:
        kind = exporter.split("/")[0]
        assert kind not in ("otlp", "otlphttp"), f"{exporter}: use otlp_grpc / otlp_http (0.144+)"


def test_the_collector_pipelines_are_complete(collector: dict[str, Any]) -> None:
    assert_pipelines_complete(collector)
    assert set(collector["service"]["pipelines"]) == {"traces", "metrics"}


def test_receivers_listen_in_containers_on_the_standard_ports(
        collector: dict[str, Any], compose: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    published = compose["services"]["otel-collector"]["ports"]
    assert "4317:4317" in published and "4318:4318" in published
    health = port(collector["extensions"]["health_check"]["endpoint"])
    assert f"{health}:{health}" in published


def test_exporters_reach_services_on_their_otlp_ports(collector: dict[str, Any],
                                                      compose: dict[str, Any]) -> None:
    tempo = load("tempo.yaml")
    tempo_grpc = port(tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    for name, exporter in collector["exporters"].items():
        if not name.startswith("otlp_grpc/"):
            continue
        host, exporter_port = exporter["endpoint"].rsplit(":", 1)
        assert host in compose["services"], f"{name} points at an unknown service {host}"
        assert exporter["tls"]["insecure"] is True
        expected = tempo_grpc if host == "tempo" else 4317  # Jaeger v2 takes OTLP on 4317
        assert int(exporter_port) == expected


def test_compose_is_pinned_and_mounts_existing_files(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.endswith((".yaml", ".yml", ".json")):
                assert (FOLDER / source).exists(), f"{name} mounts missing {source}"
    tempo = compose["services"]["tempo"]
    config_flag = next(arg for arg in tempo["command"] if arg.startswith("-config.file="))
    mounted = {volume.split(":")[1] for volume in tempo["volumes"]}
    assert config_flag.split("=", 1)[1] in mounted
    collector = compose["services"]["otel-collector"]
    assert collector["command"][0].split("=", 1)[1] in {
        volume.split(":")[1] for volume in collector["volumes"]}


def test_grafana_reads_tempo_and_prometheus_where_they_serve(compose: dict[str, Any],
                                                             collector: dict[str, Any]) -> None:
    tempo = load("tempo.yaml")
    sources = {source["type"]: source for source in load("grafana-datasources.yaml")["datasources"]}
    url = urlparse(sources["tempo"]["url"])
    assert url.hostname == "tempo" and url.port == tempo["server"]["http_listen_port"]
    prometheus = urlparse(sources["prometheus"]["url"])
    assert prometheus.hostname in compose["services"]
    assert f"{prometheus.port}:{prometheus.port}" in compose["services"]["prometheus"]["ports"]
    (destination,) = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["datasourceUid"] == sources["tempo"]["uid"]
    assert "--web.enable-otlp-receiver" in compose["services"]["prometheus"]["command"]
    pushed = urlparse(collector["exporters"]["otlp_http/prometheus"]["endpoint"])
    assert (pushed.hostname, pushed.port) == (prometheus.hostname, prometheus.port)
    assert pushed.path == "/api/v1/otlp"  # Prometheus's OTLP receiver; /v1/metrics is appended


def test_otel_exec_defaults_match_the_collector(collector: dict[str, Any]) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import DEFAULT_ENDPOINT

    assert config.DEFAULT_PROTOCOL == "http/protobuf"
    http_port = port(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    assert urlparse(DEFAULT_ENDPOINT).port == http_port  # the exporter's default: :4318
    assert set(config.PROTOCOLS) == {"http/protobuf", "grpc"}


def _emitted_series() -> tuple[set[str], set[str]]:
    """The Prometheus series names and labels of the metrics otel_exec records (a failed falyx
    action with retries, a rollback handler, one running), as Prometheus's OTLP receiver names
    them by default: dots become underscores, the unit and the type add their suffixes."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
    from opentelemetry.sdk.trace import TracerProvider

    from otel_exec.execution_store import ExecutionSpanProcessor, ExecutionStore
    from otel_exec.metrics_setup import ExecutionMetricsProcessor

    reader = InMemoryMetricReader()
    store = ExecutionStore()
    provider = TracerProvider()
    provider.add_span_processor(ExecutionSpanProcessor(store))
    provider.add_span_processor(ExecutionMetricsProcessor(MeterProvider(metric_readers=[reader]),
                                                          running=store.running))
    tracer = provider.get_tracer("dashboard")
    falyx = {semconv.EXEC_FRAMEWORK: semconv.FRAMEWORK_FALYX}
    tracer.start_span("deploy", attributes={**falyx, semconv.EXEC_KIND: "action",
                                            semconv.EXEC_STATUS: "failed",
                                            semconv.FALYX_RETRY_ATTEMPTS: 2}).end()
    tracer.start_span("undo", attributes={**falyx, semconv.EXEC_KIND: semconv.KIND_ROLLBACK,
                                          semconv.EXEC_STATUS: "completed"}).end()
    running = tracer.start_span("serve", attributes={**falyx, semconv.EXEC_KIND: "action"})
    data = reader.get_metrics_data()
    running.end()
    assert data is not None
    names: set[str] = set()
    labels: set[str] = set()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                base = metric.name.replace(".", "_") + {"s": "_seconds"}.get(metric.unit or "", "")
                if isinstance(metric.data, Histogram):
                    names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
                    labels.add("le")
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    names.add(f"{base}_total")
                else:
                    names.add(base)
                for point in metric.data.data_points:
                    labels |= {key.replace(".", "_") for key in point.attributes or {}}
    return names, labels


def test_the_dashboard_queries_what_otel_exec_emits() -> None:
    dashboard = json.loads((FOLDER / DASHBOARD).read_text())
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel["targets"] if "expr" in target]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"]]
    names, labels = _emitted_series()
    assert {"exec_duration_seconds_bucket", "exec_running", "exec_retries_total",
            "exec_rollbacks_total"} <= names
    used_names: set[str] = set()
    used_labels: set[str] = set()
    for query in queries:
        for name, label in re.findall(r"label_values\((\w+)(?:\{[^}]*\})?,\s*(\w+)\)", query):
            used_names.add(name)
            used_labels.add(label)
        used_names |= set(re.findall(r"(\w+)\{", query)) | set(re.findall(r"(\w+)\[", query))
        for grouping in re.findall(r"by \(([^)]*)\)", query):
            used_labels |= {label.strip() for label in grouping.split(",")}
        for selector in re.findall(r"\{([^}]*)\}", query):
            used_labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
        for statuses in re.findall(r'exec_status=~"([^"]*)"', query):
            assert set(statuses.split("|")) == set(semconv.ERROR_STATUSES)
    assert used_names and used_names <= names, used_names - names
    assert used_labels and used_labels <= labels, used_labels - labels
    assert {"exec_duration_seconds_count", "exec_duration_seconds_bucket"} <= used_names
    assert {"exec_name", "exec_kind", "exec_status"} <= used_labels
    written = {value for value in vars(semconv).values() if isinstance(value, str)}
    traceql = [target["query"] for panel in dashboard["panels"] for target in panel["targets"]
               if target.get("queryType") == "traceql"]
    assert traceql
    for query in traceql:
        for attribute in re.findall(r"span\.([\w.]+)", query):
            assert attribute in written, attribute
    uids = {source["uid"] for source in load("grafana-datasources.yaml")["datasources"]}
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids


TAIL_SAMPLING_SETTINGS = {"decision_wait", "num_traces", "expected_new_traces_per_sec",
                          "decision_cache", "policies", "sample_on_first_match",
                          "drop_pending_traces_on_shutdown", "block_on_overflow"}
"""The tail sampling processor's top-level settings (contrib 0.159)."""
POLICY_SETTINGS = {
    "always_sample": set(),
    "latency": {"threshold_ms", "upper_threshold_ms"},
    "status_code": {"status_codes"},
    "string_attribute": {"key", "values", "enabled_regex_matching", "cache_max_size",
                         "invert_match"},
    "probabilistic": {"hash_salt", "sampling_percentage"},
    "numeric_attribute": {"key", "min_value", "max_value", "invert_match"},
    "rate_limiting": {"spans_per_second"},
    "span_count": {"min_spans", "max_spans"},
}
"""The policy types used or likely next, with the settings each takes."""


@pytest.fixture(scope="module")
def agent() -> dict[str, Any]:
    return load("fleet/agent.yaml")


@pytest.fixture(scope="module")
def gateway() -> dict[str, Any]:
    return load("fleet/gateway.yaml")


def test_agents_send_whole_traces_to_one_gateway(agent: dict[str, Any],
                                                 gateway: dict[str, Any]) -> None:
    assert_pipelines_complete(agent)
    assert_pipelines_complete(gateway)
    balancer = agent["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "traceID"
    assert set(balancer["protocol"]) == {"otlp"}  # the balancer speaks OTLP over gRPC
    assert set(balancer["resolver"]) in ({"dns"}, {"static"}, {"k8s"})
    gateway_grpc = port(gateway["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert int(balancer["resolver"]["dns"]["port"]) == gateway_grpc
    assert agent["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]
    protocols = agent["receivers"]["otlp"]["protocols"]
    assert port(protocols["http"]["endpoint"]) == urlparse(
        config._otlp_exporter(None, "http/protobuf", None)._endpoint).port  # type: ignore[union-attr]


def test_gateways_keep_what_keep_failed_keeps(gateway: dict[str, Any]) -> None:
    sampling = gateway["processors"]["tail_sampling"]
    assert set(sampling) <= TAIL_SAMPLING_SETTINGS
    kinds: dict[str, dict[str, Any]] = {}
    for policy in sampling["policies"]:
        kind = policy["type"]
        assert kind in POLICY_SETTINGS, kind
        assert set(policy) == {"name", "type"} | ({kind} if POLICY_SETTINGS[kind] else set())
        assert set(policy.get(kind, {})) <= POLICY_SETTINGS[kind], policy
        kinds[kind] = policy.get(kind, {})
    assert set(kinds["status_code"]["status_codes"]) == {"ERROR"}
    assert kinds["string_attribute"]["key"] == semconv.EXEC_STATUS
    assert set(kinds["string_attribute"]["values"]) == set(semconv.ERROR_STATUSES)
    assert 0 < kinds["probabilistic"]["sampling_percentage"] <= 100
    processors = gateway["service"]["pipelines"]["traces"]["processors"]
    assert processors[0] == "memory_limiter"
    assert processors.index("tail_sampling") < processors.index("batch")
