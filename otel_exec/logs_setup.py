"""OTLP export of the log records kept with executions (``configure(logs=...)``,
``OTEL_EXEC_LOGS``, or ``OTEL_LOGS_EXPORTER=otlp`` on a provider otel_exec installs).

The records go through the SDK's logs pipeline to the same receiver and protocol as the
traces, each carrying its execution's trace and span ids. On a logger provider set up
elsewhere (the distro's), otel_exec hands the records to that provider and adds no exporter;
when a ``LoggingHandler`` of the SDK already exports the program's records, otel_exec exports
none itself: they are exported once.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from otel_exec.instrumentation import logs
from otel_exec.otlp_signals import InstalledProvider, otlp_exporter

if TYPE_CHECKING:
    from collections.abc import Mapping

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
installed = InstalledProvider()
"""The logger provider otel_exec installed (none: none, or someone else's)."""

OFF = ("0", "false", "off", "no", "none")
ON = ("1", "true", "on", "yes")


def wanted(logs_setting: bool | str | int | None, owns_provider: bool) -> tuple[bool, int | None]:
    """Whether to keep log records with executions, and the level to export them at (None:
    no export), from ``configure(logs=...)``, else ``OTEL_EXEC_LOGS``, else
    ``OTEL_LOGS_EXPORTER=otlp`` on a provider otel_exec installs.

    Raises:
        ValueError: A level that ``logging`` does not know.
    """
    if logs_setting is None:
        text = os.environ.get("OTEL_EXEC_LOGS", "").strip().lower()
        if text in OFF:
            return False, None
        if text in ON:
            return True, logs.DEFAULT_LEVEL
        if text:
            return True, _level(text)
        exporters = os.environ.get("OTEL_LOGS_EXPORTER", "").lower().split(",")
        return True, logs.DEFAULT_LEVEL if owns_provider and "otlp" in exporters else None
    if logs_setting is False:
        return False, None
    if logs_setting is True:
        return True, logs.DEFAULT_LEVEL
    return True, _level(logs_setting)


def _level(value: str | int) -> int:
    level = logging.getLevelName(value.upper()) if isinstance(value, str) else value
    if not isinstance(level, int) or isinstance(level, bool):
        raise ValueError(f"logs must be True, False or a logging level, not {value!r}.")
    return level


def export(level: int, endpoint: str | None, protocol: str,
           headers: Mapping[str, str] | None, resource: Any) -> None:
    """Export the kept records at ``level`` and above as OTLP logs (once per process)."""
    from opentelemetry import _logs as logs_api
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler

    with _lock:
        handler = logs.install(level)
        if handler.exporting is not None:
            return
        provider = logs_api.get_logger_provider()
        if isinstance(provider, LoggerProvider):  # set up elsewhere: hand records to it
            if any(isinstance(h, LoggingHandler) for h in logging.getLogger().handlers):
                _logger.info("otel_exec: the program's log records are exported by the SDK's "
                             "LoggingHandler already; otel_exec exports none itself")
                return
            handler.exporting = LoggingHandler(level, provider)
            return
        exporter = otlp_exporter("logs", endpoint, protocol, headers)
        if exporter is None:
            return
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        logs_api.set_logger_provider(provider)
        if logs_api.get_logger_provider() is not provider:  # lost a race: use the winner's
            provider.shutdown()
            provider = logs_api.get_logger_provider()
        else:
            installed.provider = provider
        handler.exporting = LoggingHandler(level, provider)
