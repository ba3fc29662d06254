"""Execution metrics for dashboards and alerts (``configure(metrics=True)``,
``OTEL_EXEC_METRICS=1``, or ``OTEL_METRICS_EXPORTER=otlp`` on a provider otel_exec installs).

From the same executions the store sees: ``exec.duration`` (a histogram in seconds, by name,
kind, framework and status: counts by status follow from it), ``exec.running`` (executions
started and not ended, counted when the metrics are collected), ``exec.retries`` (falyx retry
attempts) and ``exec.rollbacks`` (rollback handlers that ran). Names are bounded: past
``MAX_NAMES`` distinct ones, further names count under ``_OTHER``. Exported through the SDK's
metrics pipeline to the traces' receiver and protocol; on a meter provider set up elsewhere,
recorded there (no exporter added). Each ``exec.duration`` measurement of a sampled span
carries its trace as an exemplar (the SDK's default ``trace_based`` filter), so a dashboard's
bucket opens the trace behind it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from otel_exec import semconv
from otel_exec.otlp_signals import InstalledProvider, otlp_exporter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Bucket bounds of ``exec.duration`` in seconds: from a millisecond action to a ten-minute job."""
MAX_NAMES = 1_000
"""Distinct ``exec.name`` values recorded; past them, names count under ``OTHER``."""
OTHER = "_OTHER"
EXEC_NAME = "exec.name"


class ExecutionMetricsProcessor(SpanProcessor):
    """Records the metrics of each execution span that ends (and of those running)."""

    def __init__(self, meter_provider: Any,
                 running: Callable[[], Iterable[Any]] | None = None) -> None:
        meter = meter_provider.get_meter("otel_exec")
        self._duration = meter.create_histogram(
            "exec.duration", unit="s", description="Duration of executions",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        if running is not None:  # counted when collected, not on every execution
            meter.create_observable_up_down_counter(
                "exec.running", callbacks=[partial(_running, running)], unit="{execution}",
                description="Executions started, not ended")
        self._retries = meter.create_counter(
            "exec.retries", unit="{attempt}", description="falyx retry attempts")
        self._rollbacks = meter.create_counter(
            "exec.rollbacks", unit="{handler}", description="falyx rollback handlers that ran")
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span.attributes or {}
            if semconv.EXEC_FRAMEWORK not in attributes:
                return
            start, end = span.start_time, span.end_time
            if start is None or end is None:
                return
            recorded = {EXEC_NAME: self._bounded_name(span.name), **_kind_of(attributes),
                        semconv.EXEC_STATUS: str(attributes.get(semconv.EXEC_STATUS, ""))}
            self._duration.record((end - start) / 1e9, recorded,
                                  context=_exemplar_context(span))
            retries = attributes.get(semconv.FALYX_RETRY_ATTEMPTS)
            if isinstance(retries, int) and retries > 0:
                self._retries.add(retries, recorded)
            if attributes.get(semconv.EXEC_KIND) == semconv.KIND_ROLLBACK and (
                    semconv.FALYX_ROLLBACK_COUNT not in attributes):  # a handler's own span
                self._rollbacks.add(1, recorded)
        except Exception:
            _logger.debug("otel_exec: no metrics for a span", exc_info=True)

    def _bounded_name(self, name: str) -> str:
        if name in self._names:
            return name
        with self._lock:
            if len(self._names) >= MAX_NAMES:
                return OTHER
            self._names.add(name)
        return name

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _exemplar_context(span: ReadableSpan) -> Context | None:
    """A context whose span is ``span`` (ended): the SDK's exemplar filter links the
    measurement to its trace when the span was sampled."""
    context = span.context
    if context is None or not context.trace_flags.sampled:
        return None
    return set_span_in_context(NonRecordingSpan(context))


def _running(running: Callable[[], Iterable[Any]], options: Any) -> Iterator[Any]:
    """The executions running now, by kind and framework (an observable's callback)."""
    from opentelemetry.metrics import Observation

    counts = Counter((execution.kind, execution.framework) for execution in running())
    for (kind, framework), count in counts.items():
        yield Observation(count, {semconv.EXEC_KIND: kind, semconv.EXEC_FRAMEWORK: framework})


def _kind_of(attributes: Mapping[str, Any]) -> dict[str, str]:
    return {semconv.EXEC_KIND: str(attributes.get(semconv.EXEC_KIND, "")),
            semconv.EXEC_FRAMEWORK: str(attributes.get(semconv.EXEC_FRAMEWORK, ""))}


_lock = threading.Lock()
installed = InstalledProvider()
"""The meter provider otel_exec installed (none: none, or someone else's)."""
_installed = False


def wanted(setting: bool | None, owns_provider: bool) -> bool:
    """Whether to record metrics: ``configure(metrics=...)``, else ``OTEL_EXEC_METRICS``,
    else ``OTEL_METRICS_EXPORTER=otlp`` on a provider otel_exec installs."""
    if setting is not None:
        return setting
    text = os.environ.get("OTEL_EXEC_METRICS", "").strip().lower()
    if text:
        return text in ("1", "true", "on", "yes")
    exporters = os.environ.get("OTEL_METRICS_EXPORTER", "").lower().split(",")
    return owns_provider and "otlp" in exporters


def record(tracer_provider: Any, endpoint: str | None, protocol: str,
           headers: Mapping[str, str] | None,
           running: Callable[[], Iterable[Any]] | None = None) -> None:
    """Record execution metrics from ``tracer_provider``'s spans (once per process)."""
    from opentelemetry import metrics as metrics_api
    from opentelemetry.sdk.metrics import MeterProvider

    global _installed
    with _lock:
        if _installed:
            return
        provider: Any = metrics_api.get_meter_provider()
        if not isinstance(provider, MeterProvider):  # none set: ours, exporting like traces
            exporter = otlp_exporter("metrics", endpoint, protocol, headers)
            if exporter is None:
                return
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)],
                                     resource=tracer_provider.resource, shutdown_on_exit=False)
            metrics_api.set_meter_provider(provider)
            if metrics_api.get_meter_provider() is provider:
                installed.provider = provider
            else:  # lost a race: the winner's
                provider.shutdown()
                provider = metrics_api.get_meter_provider()
        tracer_provider.add_span_processor(ExecutionMetricsProcessor(provider, running))
        _installed = True
