"""``exec.duration`` aggregated in process, for the meter provider otel_exec installs.

The SDK's histogram takes a dozen Python calls per measurement (a measurement object, the
exemplar filter and reservoir, attribute set lookups, two locks); a dashboard needs only the
buckets. ``DurationHistogram.record`` is one lock and a few list updates per execution, and
``DurationReader`` adds the buckets to the SDK's own metrics at each collection, as
the SDK's explicit-bucket histogram would (same bounds semantics, temporality as
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` says, min, max, and the newest
exemplar of each bucket as ``OTEL_METRICS_EXEMPLAR_FILTER`` says). On a meter provider set up
elsewhere the SDK's histogram is used instead: its exporters are not ours to extend.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.trace import SpanContext

_logger = logging.getLogger(__name__)

NAME = "exec.duration"
UNIT = "s"
DESCRIPTION = "Duration of executions"
SCOPE = InstrumentationScope("otel_exec")


class _Cell:
    """One attribute set's buckets."""

    __slots__ = ("count", "counts", "exemplars", "max", "min", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.exemplars: list[tuple[float, int, int, int] | None] = [None] * buckets
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")


def _delta_preferred() -> bool:
    """Histograms are delta under the ``delta`` and ``lowmemory`` preferences (the SDK's rule)."""
    preference = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "")
    return preference.strip().lower() in ("delta", "lowmemory")


def _exemplar_filter() -> str:
    chosen = os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based").strip().lower()
    return chosen if chosen in ("always_on", "always_off") else "trace_based"


class DurationHistogram:
    """Durations by attribute set (the values of ``attribute_names``, in that order)."""

    def __init__(self, bounds: Sequence[float], attribute_names: Sequence[str]) -> None:
        self.bounds = tuple(bounds)
        self.attribute_names = tuple(attribute_names)
        self.temporality = (AggregationTemporality.DELTA if _delta_preferred()
                            else AggregationTemporality.CUMULATIVE)
        filter_name = _exemplar_filter()
        self._exemplars_always = filter_name == "always_on"
        self._exemplars = filter_name != "always_off"
        self._cells: dict[tuple[str, ...], _Cell] = {}
        self._lock = threading.Lock()
        self._start = time.time_ns()

    def record(self, key: tuple[str, ...], seconds: float, end_time: int,
               context: SpanContext | None) -> None:
        """Count one execution of ``key`` that took ``seconds`` and ended at ``end_time``."""
        index = bisect_left(self.bounds, seconds)
        exemplar = None
        if self._exemplars and context is not None and (
                self._exemplars_always or context.trace_flags.sampled):
            exemplar = (seconds, end_time, context.span_id, context.trace_id)
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = _Cell(len(self.bounds) + 1)
            cell.counts[index] += 1
            cell.count += 1
            cell.sum += seconds
            cell.min = min(cell.min, seconds)
            cell.max = max(cell.max, seconds)
            if exemplar is not None:
                cell.exemplars[index] = exemplar

    def added_to(self, metrics_data: MetricsData) -> MetricsData:
        """``metrics_data`` with the histogram's points now, under the first resource's
        ``otel_exec`` scope (a delta histogram starts again)."""
        now = time.time_ns()
        with self._lock:
            cells, start = self._cells, self._start
            if self.temporality is AggregationTemporality.DELTA:
                self._cells, self._start = {}, now
            points = [self._point(key, cell, start, now) for key, cell in cells.items()]
        if not points or not metrics_data.resource_metrics:
            return metrics_data
        metric = Metric(name=NAME, description=DESCRIPTION, unit=UNIT,
                        data=Histogram(data_points=points,
                                       aggregation_temporality=self.temporality))
        first, *others = metrics_data.resource_metrics
        scopes = list(first.scope_metrics)
        ours = next((i for i, scope in enumerate(scopes) if scope.scope == SCOPE), None)
        if ours is None:
            scopes.append(ScopeMetrics(scope=SCOPE, metrics=[metric], schema_url=""))
        else:
            scopes[ours] = ScopeMetrics(scope=SCOPE, metrics=[*scopes[ours].metrics, metric],
                                        schema_url=scopes[ours].schema_url)
        return MetricsData(resource_metrics=[ResourceMetrics(
            resource=first.resource, scope_metrics=scopes, schema_url=first.schema_url),
            *others])

    def _point(self, key: tuple[str, ...], cell: _Cell, start: int,
               now: int) -> HistogramDataPoint:
        exemplars = [Exemplar(filtered_attributes={}, value=value, time_unix_nano=at,
                              span_id=span_id, trace_id=trace_id)
                     for item in cell.exemplars if item is not None
                     for value, at, span_id, trace_id in (item,)]
        return HistogramDataPoint(
            attributes=dict(zip(self.attribute_names, key, strict=True)),
            start_time_unix_nano=start, time_unix_nano=now, count=cell.count, sum=cell.sum,
            bucket_counts=tuple(cell.counts), explicit_bounds=self.bounds, min=cell.min,
            max=cell.max, exemplars=exemplars)


class DurationReader(PeriodicExportingMetricReader):
    """The SDK's periodic reader, with ``histogram``'s points added to what each collection
    exports (the interval, ``force_flush``, shutdown). The SDK hands a collection over only
    when it has points of its own: ``exec.running`` reports every kind seen, so it has."""

    def __init__(self, exporter: MetricExporter, histogram: DurationHistogram) -> None:
        super().__init__(exporter)
        self.histogram = histogram

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                         **kwargs: Any) -> None:
        try:
            metrics_data = self.histogram.added_to(metrics_data)
        except Exception:
            _logger.warning("otel_exec: exec.duration could not be collected", exc_info=True)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)
