"""Execution metrics for dashboards and alerts (``configure(metrics=True)``,
``OTEL_EXEC_METRICS=1``, or ``OTEL_METRICS_EXPORTER=otlp`` on a provider otel_exec installs).

From the same executions the store sees: ``exec.duration`` (a histogram in seconds, by name,
kind, framework and status: counts by status follow from it), ``exec.running`` (executions
started and not ended, counted when the metrics are collected), ``exec.retries`` (falyx retry
attempts) and ``exec.rollbacks`` (rollback handlers that ran). Names are bounded: past
``MAX_NAMES`` distinct ones, further names count under ``_OTHER``.

Exported through the SDK's metrics pipeline to the traces' receiver and protocol, with
``exec.duration`` aggregated in process (``duration_histogram``: a fraction of the SDK
histogram's cost per execution); on a meter provider set up elsewhere, recorded there with the
SDK's instruments (no exporter added). Each duration of a sampled span carries its trace as an
exemplar (``OTEL_METRICS_EXEMPLAR_FILTER``, ``trace_based`` by default), so a dashboard's
bucket opens the trace behind it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from otel_exec import duration_histogram, semconv
from otel_exec.duration_histogram import DurationHistogram, DurationReader
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


ATTRIBUTE_NAMES = (EXEC_NAME, semconv.EXEC_KIND, semconv.EXEC_FRAMEWORK, semconv.EXEC_STATUS)
"""The attributes of ``exec.duration``, in the order of a histogram key."""


class ExecutionMetricsProcessor(SpanProcessor):
    """Records the metrics of each execution span that ends (and of those running).

    ``histogram``: aggregate ``exec.duration`` there (a reader otel_exec installed exports it)
    instead of through ``meter_provider``'s histogram.
    """

    def __init__(self, meter_provider: Any,
                 running: Callable[[], Iterable[Any]] | None = None,
                 histogram: DurationHistogram | None = None) -> None:
        meter = meter_provider.get_meter("otel_exec")
        self._histogram = histogram
        if histogram is None:
            self._duration = meter.create_histogram(
                duration_histogram.NAME, unit=duration_histogram.UNIT,
                description=duration_histogram.DESCRIPTION,
                explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self._running = running
        self._kinds: set[tuple[str, str]] = set()
        """(kind, framework) of every execution ended: exec.running says 0 for them, not
        nothing, when none runs."""
        meter.create_observable_up_down_counter(  # counted when collected
            "exec.running", callbacks=[self._observe_running], unit="{execution}",
            description="Executions started, not ended")
        self._retries = meter.create_counter(
            "exec.retries", unit="{attempt}", description="falyx retry attempts")
        self._rollbacks = meter.create_counter(
            "exec.rollbacks", unit="{handler}", description="falyx rollback handlers that ran")
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span.attributes
            if attributes is None:
                return
            framework = attributes.get(semconv.EXEC_FRAMEWORK)
            start, end = span.start_time, span.end_time
            if framework is None or start is None or end is None:
                return
            name = span.name
            key = (name if name in self._names else self._bounded_name(name),
                   str(attributes.get(semconv.EXEC_KIND, "")), str(framework),
                   str(attributes.get(semconv.EXEC_STATUS, "")))
            if key[1:3] not in self._kinds:
                self._kinds.add(key[1:3])
            if self._histogram is not None:
                self._histogram.record(key, (end - start) / 1e9, end, span.context)
            else:
                self._duration.record((end - start) / 1e9, self._attributes(key),
                                      context=_exemplar_context(span))
            retries = attributes.get(semconv.FALYX_RETRY_ATTEMPTS)
            if isinstance(retries, int) and retries > 0:
                self._retries.add(retries, self._attributes(key))
            if key[1] == semconv.KIND_ROLLBACK and (
                    semconv.FALYX_ROLLBACK_COUNT not in attributes):  # a handler's own span
                self._rollbacks.add(1, self._attributes(key))
        except Exception:
            _logger.debug("otel_exec: no metrics for a span", exc_info=True)

    @staticmethod
    def _attributes(key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(ATTRIBUTE_NAMES, key, strict=True))

    def _observe_running(self, options: Any) -> Iterator[Any]:
        """The executions running now, by kind and framework (0 for kinds that ran before)."""
        from opentelemetry.metrics import Observation

        counts = Counter(dict.fromkeys(self._kinds, 0))
        if self._running is not None:
            counts.update((execution.kind, execution.framework)
                          for execution in self._running())
        for (kind, framework), count in counts.items():
            yield Observation(count, {semconv.EXEC_KIND: kind, semconv.EXEC_FRAMEWORK: framework})

    def _bounded_name(self, name: str) -> str:
        with self._lock:
            if name in self._names:
                return name
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
        histogram = None
        if not isinstance(provider, MeterProvider):  # none set: ours, exporting like traces
            exporter = otlp_exporter("metrics", endpoint, protocol, headers)
            if exporter is None:
                return
            histogram = DurationHistogram(DURATION_BUCKETS, ATTRIBUTE_NAMES)
            reader = DurationReader(exporter, histogram)
            provider = MeterProvider(metric_readers=[reader], resource=tracer_provider.resource,
                                     shutdown_on_exit=False)
            metrics_api.set_meter_provider(provider)
            if metrics_api.get_meter_provider() is provider:
                installed.provider = provider
            else:  # lost a race: the winner's
                provider.shutdown()
                provider, histogram = metrics_api.get_meter_provider(), None
        tracer_provider.add_span_processor(ExecutionMetricsProcessor(provider, running,
                                                                     histogram))
        _installed = True
