"""collector-config/: every file parses, and ports, protocols and pipeline names agree with each
other and with otel_exec's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from otel_exec import config

FOLDER = Path(__file__).resolve().parents[1] / "collector-config"


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
    names = sorted(p.name for p in FOLDER.iterdir() if p.suffix in (".yaml", ".yml"))
    assert names == ["docker-compose.yml", "grafana-datasources.yaml", "otel-collector.yaml",
                     "tempo.yaml"]
    for name in names:
        load(name)


def test_the_collector_pipeline_is_complete(collector: dict[str, Any]) -> None:
    pipeline = collector["service"]["pipelines"]["traces"]
    for section in ("receivers", "processors", "exporters"):
        for component in pipeline[section]:
            assert component in collector[section], f"{section}: {component} is not defined"
    for extension in collector["service"]["extensions"]:
        assert extension in collector["extensions"]
    for exporter in collector["exporters"]:
        kind = exporter.split("/")[0]
        assert kind not in ("otlp", "otlphttp"), f"{exporter}: use otlp_grpc / otlp_http (0.144+)"


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
            if source.endswith((".yaml", ".yml")):
                assert (FOLDER / source).exists(), f"{name} mounts missing {source}"
    tempo = compose["services"]["tempo"]
    config_flag = next(arg for arg in tempo["command"] if arg.startswith("-config.file="))
    mounted = {volume.split(":")[1] for volume in tempo["volumes"]}
    assert config_flag.split("=", 1)[1] in mounted
    collector = compose["services"]["otel-collector"]
    assert collector["command"][0].split("=", 1)[1] in {
        volume.split(":")[1] for volume in collector["volumes"]}


def test_grafana_reads_tempo_where_tempo_serves() -> None:
    tempo = load("tempo.yaml")
    (source,) = load("grafana-datasources.yaml")["datasources"]
    url = urlparse(source["url"])
    assert source["type"] == "tempo"
    assert url.hostname == "tempo" and url.port == tempo["server"]["http_listen_port"]


def test_otel_exec_defaults_match_the_collector(collector: dict[str, Any]) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import DEFAULT_ENDPOINT

    assert config.DEFAULT_PROTOCOL == "http/protobuf"
    http_port = port(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    assert urlparse(DEFAULT_ENDPOINT).port == http_port  # the exporter's default: :4318
    assert set(config.PROTOCOLS) == {"http/protobuf", "grpc"}
