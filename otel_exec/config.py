"""``configure()``: one tracer provider feeding the in-memory store and, when asked, OTLP export.

```python
import otel_exec
otel_exec.configure(service_name="billing-cli")                      # in-memory store only
otel_exec.configure(otlp_endpoint="http://localhost:4318")           # + OTLP over HTTP
# or: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc
```

An SDK ``TracerProvider`` that is already global (set by the application or by
``opentelemetry-instrument``) is reused, never replaced. Export never blocks the program: spans go
through a ``BatchSpanProcessor`` and, at interpreter exit, are flushed within ``exit_timeout``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_exec import semconv
from otel_exec._store import ExecutionSpanProcessor, ExecutionStore
from otel_exec.values import DEFAULT_SENSITIVE_KEYS, ValuePolicy, policy, set_policy

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_logger = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_PROTOCOL = "http/protobuf"
DEFAULT_EXIT_TIMEOUT = 5.0
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


@dataclass
class _Setup:
    provider: TracerProvider | None = None
    owns_provider: bool = False
    exporter: _BoundedBatchSpanProcessor | None = None
    files: dict[str, _BoundedBatchSpanProcessor] = field(default_factory=dict)
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT
    exit_hook: bool = False


_lock = threading.RLock()
_setup = _Setup()
_store = ExecutionStore()


def store() -> ExecutionStore:
    """The default ``ExecutionStore`` (filled once ``configure()`` has run)."""
    return _store


def configure(service_name: str | None = None, *, service_version: str | None = None,
              otlp_endpoint: str | None = None, otlp_protocol: str | None = None,
              otlp_headers: Mapping[str, str] | None = None, max_spans: int | None = None,
              capture_values: bool | None = None, max_value_length: int | None = None,
              sensitive_keys: Sequence[str] | None = None,
              exit_timeout: float | None = None,
              file: str | Path | None = None) -> ExecutionStore:
    """Set up tracing once; later calls adjust what can change and return the same store.

    Args:
        service_name: ``service.name`` of a provider we install (else ``OTEL_SERVICE_NAME``).
        service_version: ``service.version`` of a provider we install.
        otlp_endpoint: Base URL of an OTLP receiver, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` means it
            (``/v1/traces`` is appended for HTTP). Export is on when this or one of the standard
            ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` variables is set.
        otlp_protocol: ``http/protobuf`` (default) or ``grpc``; else the standard variables.
        otlp_headers: Extra export headers (the standard variables are read too).
        max_spans: How many finished executions the in-memory store keeps.
        capture_values: Whether args, kwargs and results become (scrubbed) attributes.
        max_value_length: Longest attribute text made from a user value.
        sensitive_keys: Words whose keys, argument and field names get their values redacted.
        exit_timeout: Seconds that flushing spans at interpreter exit may take at most.
        file: Also append every finished span to this file as OTLP JSON lines (the format the
            Collector's file exporter writes; ``otel_exec.load`` and ``otel-exec`` read it).

    Returns:
        The default ``ExecutionStore``.

    Raises:
        ValueError: An argument is out of range or names an unknown protocol.
    """
    protocol = _protocol(otlp_protocol)
    with _lock:
        if max_spans is not None:
            _store.max_spans = max_spans
        _apply_value_policy(capture_values, max_value_length, sensitive_keys)
        if exit_timeout is not None:
            if exit_timeout < 0:
                raise ValueError("exit_timeout must be zero or more seconds.")
            _setup.exit_timeout = exit_timeout
        if _setup.provider is None:
            _setup.provider = _attach_store(service_name, service_version)
        elif service_name is not None:
            _warn_if_renamed(service_name)
        wants_export = otlp_endpoint is not None or any(os.environ.get(v)
                                                        for v in _ENDPOINT_VARIABLES)
        if wants_export and _setup.exporter is None and _setup.provider is not None:
            exporter = _otlp_exporter(otlp_endpoint, protocol, otlp_headers)
            _setup.exporter = _BoundedBatchSpanProcessor(exporter)
            _setup.provider.add_span_processor(_setup.exporter)
        if file is not None and _setup.provider is not None:
            key = str(Path(file).resolve())
            if key not in _setup.files:
                from otel_exec.persist import FileSpanExporter

                _setup.files[key] = _BoundedBatchSpanProcessor(FileSpanExporter(file))
                _setup.provider.add_span_processor(_setup.files[key])
        if not _setup.exit_hook:
            atexit.register(shutdown)
            _setup.exit_hook = True
    return _store


def ensure_configured() -> ExecutionStore:
    """Run ``configure()`` with its defaults unless it has run already."""
    if _setup.provider is None:
        return configure()
    return _store


def _protocol(requested: str | None) -> str:
    if requested is not None:
        if requested not in PROTOCOLS:
            raise ValueError(f"otlp_protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"not {requested!r}.")
        return requested
    for variable in _PROTOCOL_VARIABLES:
        value = os.environ.get(variable)
        if value:
            if value in PROTOCOLS:
                return value
            _logger.warning("otel_exec: %s=%r is not supported (use %s); using %s",
                            variable, value, " or ".join(PROTOCOLS), DEFAULT_PROTOCOL)
            break
    return DEFAULT_PROTOCOL


def _apply_value_policy(capture: bool | None, max_length: int | None,
                        sensitive_keys: Sequence[str] | None) -> None:
    if capture is None and max_length is None and sensitive_keys is None:
        return
    current = policy()
    set_policy(ValuePolicy(
        capture=current.capture if capture is None else capture,
        max_length=current.max_length if max_length is None else max_length,
        sensitive_keys=(current.sensitive_keys if sensitive_keys is None
                        else tuple(dict.fromkeys((*DEFAULT_SENSITIVE_KEYS, *sensitive_keys)))),
    ))


def _attach_store(service_name: str | None, service_version: str | None) -> TracerProvider | None:
    """Add the store's processor to the global SDK provider, installing one if there is none."""
    current = trace_api.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.add_span_processor(ExecutionSpanProcessor(_store))
        return current
    if not isinstance(current, trace_api.ProxyTracerProvider):
        _logger.warning("otel_exec: the global tracer provider is a %s, not the SDK's; "
                        "executions will not be recorded", type(current).__name__)
        return None
    attributes: dict[str, str] = {}
    if service_name is not None:
        attributes[semconv.SERVICE_NAME] = service_name
    if service_version is not None:
        attributes[semconv.SERVICE_VERSION] = service_version
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    provider.add_span_processor(ExecutionSpanProcessor(_store))
    trace_api.set_tracer_provider(provider)
    if trace_api.get_tracer_provider() is not provider:  # lost a race with another setter
        return _attach_store(service_name, service_version)
    _setup.owns_provider = True
    return provider


def _warn_if_renamed(service_name: str) -> None:
    provider = _setup.provider
    current = None if provider is None else provider.resource.attributes.get(semconv.SERVICE_NAME)
    if provider is not None and current != service_name:
        _logger.warning("otel_exec: already configured; service.name stays %r",
                        provider.resource.attributes.get(semconv.SERVICE_NAME))


def _otlp_exporter(endpoint: str | None, protocol: str,
                   headers: Mapping[str, str] | None) -> SpanExporter:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise ValueError("OTLP over gRPC needs the grpc extra: "
                             "pip install 'otel-exec[grpc]'") from exc
        return GrpcExporter(endpoint=endpoint, headers=dict(headers) if headers else None)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )
    if endpoint is not None:
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint, headers=dict(headers) if headers else None)


class _BoundedBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose ``shutdown`` waits at most ``exit_timeout`` seconds."""

    def shutdown(self, timeout_millis: float | None = None) -> None:
        if timeout_millis is None:
            timeout_millis = _setup.exit_timeout * 1000
        self._batch_processor.shutdown(timeout_millis=int(timeout_millis))


def _batch_processors() -> list[_BoundedBatchSpanProcessor]:
    return [p for p in (_setup.exporter, *_setup.files.values()) if p is not None]


def flush(timeout: float = DEFAULT_EXIT_TIMEOUT) -> bool:
    """Export the spans still queued (OTLP and files); False if that took over ``timeout`` s."""
    processors = _batch_processors()
    if not processors:
        return True

    def flush_all() -> None:
        for processor in processors:
            processor.force_flush()

    worker = threading.Thread(target=flush_all, name="otel_exec-flush", daemon=True)
    worker.start()
    worker.join(timeout)
    return not worker.is_alive()


def shutdown(timeout: float | None = None) -> None:
    """Flush and stop export within ``timeout`` seconds (``exit_timeout`` by default).

    Runs by itself at interpreter exit. The in-memory store keeps what it has.
    """
    with _lock:
        processors = _batch_processors()
        _setup.exporter = None
        _setup.files.clear()
        provider = _setup.provider if _setup.owns_provider else None
    for processor in processors:
        processor.shutdown(None if timeout is None else timeout * 1000)
    if provider is not None:
        provider.shutdown()
