"""What the logs and metrics pipelines share on their way out: the OTLP exporter of a signal
(the traces' receiver and protocol), and the provider otel_exec installed for it, flushed and
shut down with the traces."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

_logger = logging.getLogger(__name__)

_EXPORTERS = {"logs": ("_log_exporter", "OTLPLogExporter"),
              "metrics": ("metric_exporter", "OTLPMetricExporter")}


def otlp_exporter(signal: str, endpoint: str | None, protocol: str,
                  headers: Mapping[str, str] | None) -> Any:
    """The OTLP exporter of ``signal`` (``logs``, ``metrics``) for ``protocol``; None (said
    once) when its package is not installed. ``endpoint`` is the base URL, as for traces."""
    module, name = _EXPORTERS[signal]
    transport = "grpc" if protocol == "grpc" else "http"
    try:
        exporter = getattr(importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{transport}.{module}"), name)
    except (ImportError, AttributeError):
        _logger.warning("otel_exec: the OTLP %s exporter of %s is not installed; none are "
                        "exported", protocol, signal)
        return None
    if transport == "http" and endpoint is not None:
        endpoint = endpoint.rstrip("/") + f"/v1/{signal}"
    return exporter(endpoint=endpoint, headers=dict(headers) if headers else None)


class InstalledProvider:
    """The provider otel_exec installed for a signal (none until it does)."""

    def __init__(self) -> None:
        self.provider: Any = None
        self._lock = threading.Lock()

    def flush(self, timeout_millis: int) -> None:
        """Export what is still queued."""
        provider = self.provider
        if provider is not None:
            provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Export what is left and stop the provider."""
        with self._lock:
            provider, self.provider = self.provider, None
        if provider is not None:
            provider.shutdown()
