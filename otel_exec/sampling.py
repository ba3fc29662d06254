"""Sampling: what leaves the process, while the in-process store sees every execution.

``RecordLocally`` wraps the application's head sampler. ``KeepFailed`` samples at the tail,
inside the process: every span is recorded and marked sampled when it starts, and a
``TraceBuffer`` in front of the provider's exporting processors holds each trace's finished
spans until its local root ends, then exports the whole trace if any span of it failed, and
a fixed ratio of the others (chosen by trace id, as ``TraceIdRatioBased`` does).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import StatusCode, get_current_span

from otel_exec import semconv

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span
    from opentelemetry.trace import Link, SpanKind, TraceState
    from opentelemetry.util.types import Attributes

_logger = logging.getLogger(__name__)

DEFAULT_RATIO = 0.1
DEFAULT_MAX_SPANS = 20_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
MAX_DECISIONS = 65_536
"""Decided local roots remembered, so spans ending after their root follow the decision."""


class RecordLocally(Sampler):
    """The SDK's sampler for export, every execution for the in-process store: a DROP becomes
    RECORD_ONLY (the span is recorded, not sampled, so exporters skip it)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        result = self.sampler.should_sample(parent_context, trace_id, name, kind, attributes,
                                            links, trace_state)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordLocally{{{self.sampler.get_description()}}}"


class KeepFailed(Sampler):
    """Export every trace with a failed (or error-continued) execution, complete, and
    ``ratio`` of the others.

    Usable as ``configure(sampler=KeepFailed(0.1))``, as ``TracerProvider(sampler=...)``
    before the first traced execution, or by name: ``OTEL_TRACES_SAMPLER=otel_exec_keep_failed``
    with ``OTEL_TRACES_SAMPLER_ARG=0.1``. A trace is decided when its local root ends (a root
    span, or one whose parent came from another process), so each service decides for its
    own part; the ratio, taken from the trace id, agrees across services.

    Args:
        ratio: Share of traces without a failure that are exported (0 to 1).
        max_spans: Most finished spans waiting for their trace's decision.
        max_bytes: About how many bytes of attributes and events may wait. Past either bound
            the oldest waiting trace is exported undecided (and counted), never lost.
    """

    def __init__(self, ratio: float = DEFAULT_RATIO, *, max_spans: int = DEFAULT_MAX_SPANS,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"KeepFailed ratio must be between 0 and 1, not {ratio!r}.")
        if max_spans < 1 or max_bytes < 1:
            raise ValueError("KeepFailed max_spans and max_bytes must be 1 or more.")
        self.ratio = float(ratio)
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self._bound = TraceIdRatioBased.get_bound_for_rate(ratio)

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes,
                              parent.trace_state if parent.is_valid else None)

    def keeps_unfailed(self, trace_id: int) -> bool:
        """Whether a trace without failures is among the ``ratio`` exported."""
        return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._bound

    def get_description(self) -> str:
        return f"KeepFailed{{{self.ratio}}}"


def keep_failed_from_argument(argument: str | None) -> KeepFailed:
    """``KeepFailed`` for ``OTEL_TRACES_SAMPLER=otel_exec_keep_failed``: the argument is the
    ratio (``DEFAULT_RATIO`` when unset; a value that is not one is said, not raised)."""
    if argument is None or not argument.strip():
        return KeepFailed()
    try:
        return KeepFailed(float(argument))
    except ValueError:
        _logger.warning("otel_exec: OTEL_TRACES_SAMPLER_ARG=%r is not a ratio between 0 and 1; "
                        "keeping failed traces and %s of the others", argument, DEFAULT_RATIO)
        return KeepFailed()


def keep_failed_in(sampler: Sampler | None) -> KeepFailed | None:
    """The ``KeepFailed`` a provider's sampler is (otel_exec's ``RecordLocally`` around it too)."""
    if isinstance(sampler, RecordLocally):
        sampler = sampler.sampler
    return sampler if isinstance(sampler, KeepFailed) else None


def _failed(span: ReadableSpan) -> bool:
    if span.status.status_code is StatusCode.ERROR:
        return True
    attributes = span.attributes
    return attributes is not None and attributes.get(semconv.EXEC_STATUS) in semconv.ERROR_STATUSES


def _size(span: ReadableSpan) -> int:
    """About how many bytes ``span`` holds: its name, attribute and event texts."""
    size = 200 + len(span.name)
    for attributes in (span.attributes, *(event.attributes for event in span.events)):
        for key, value in (attributes or {}).items():
            size += len(key) + (len(value) if isinstance(value, str) else 16)
    return size


@dataclass
class _Waiting:
    spans: list[ReadableSpan] = field(default_factory=list)
    size: int = 0
    failed: bool = False


@dataclass
class Counts:
    """What a ``TraceBuffer`` decided so far, per local trace (the spans under one local root)."""

    kept_failed: int = 0
    kept_by_ratio: int = 0
    dropped: int = 0
    exported_undecided: int = 0
    """Exported before their local root ended: the buffer was full, or the program ended."""


class TraceBuffer(SpanProcessor):
    """Holds finished spans under each local root until that root ends, then passes them to
    ``processors`` (the exporting ones) if ``sampler`` keeps them.

    A local root is a span without a parent, or with one from another process: each request a
    service handles is decided by itself, even when many share a trace. Spans that end after
    their local root follow its decision; a failed one is exported anyway. ``shutdown``
    exports what still waits.
    """

    def __init__(self, sampler: KeepFailed, processors: Iterable[SpanProcessor] = ()) -> None:
        self.sampler = sampler
        self.processors: tuple[SpanProcessor, ...] = tuple(processors)
        self.counts = Counts()
        self._lock = threading.Lock()
        self._roots: dict[int, int] = {}
        """The local root of each span started and not ended yet (span ids)."""
        self._waiting: dict[int, _Waiting] = {}
        self._decided: OrderedDict[int, bool] = OrderedDict()
        self._spans = 0
        self._bytes = 0

    def add(self, processor: SpanProcessor) -> None:
        """Export through ``processor`` too."""
        with self._lock:
            self.processors = (*self.processors, processor)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            context, parent = span.context, span.parent
            if context is not None:
                self._roots[context.span_id] = (
                    context.span_id if parent is None or parent.is_remote
                    else self._roots.get(parent.span_id, parent.span_id))
                if len(self._roots) > 4 * self.sampler.max_spans:  # spans never ended
                    with self._lock:
                        for span_id in list(self._roots)[:self.sampler.max_spans]:
                            self._roots.pop(span_id, None)
        except Exception:  # never into the program: the span is then decided alone
            _logger.warning("otel_exec: KeepFailed could not note a span", exc_info=True)
        for processor in self.processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            context = span.context
            if context is None:
                return
            root = self._roots.pop(context.span_id, context.span_id)
            with self._lock:
                released = self._take(root, context.trace_id, span, root == context.span_id)
                released.extend(self._overflow())
        except Exception:  # never into the program, nothing lost: exported undecided
            _logger.warning("otel_exec: KeepFailed could not decide a span; exported",
                            exc_info=True)
            released = [span]
        self._export(released)

    def _take(self, root: int, trace_id: int, span: ReadableSpan,
              is_root: bool) -> list[ReadableSpan]:
        """Buffer ``span`` or decide its local trace; the spans to export now."""
        failed = _failed(span)
        decided = self._decided.get(root)
        if decided is not None:
            return [span] if decided or failed else []
        waiting = self._waiting.get(root)
        if is_root:  # decide: with the spans waiting for this root, if any
            spans = [span]
            if waiting is not None:
                self._release(root)
                spans = [*waiting.spans, span]
                failed = failed or waiting.failed
            keep = failed or self.sampler.keeps_unfailed(trace_id)
            if failed:
                self.counts.kept_failed += 1
            elif keep:
                self.counts.kept_by_ratio += 1
            else:
                self.counts.dropped += 1
            self._remember(root, keep)
            return spans if keep else []
        if waiting is None:
            waiting = self._waiting[root] = _Waiting()
        size = _size(span)
        waiting.spans.append(span)
        waiting.size += size
        waiting.failed = waiting.failed or failed
        self._spans += 1
        self._bytes += size
        return []

    def _release(self, root: int) -> _Waiting:
        waiting = self._waiting.pop(root)
        self._spans -= len(waiting.spans)
        self._bytes -= waiting.size
        return waiting

    def _remember(self, root: int, keep: bool) -> None:
        self._decided[root] = keep
        if len(self._decided) > MAX_DECISIONS:
            self._decided.popitem(last=False)

    def _overflow(self) -> list[ReadableSpan]:
        """The oldest waiting local traces, while the buffer is over a bound: exported
        undecided (their later spans follow)."""
        released: list[ReadableSpan] = []
        while self._waiting and (self._spans > self.sampler.max_spans
                                 or self._bytes > self.sampler.max_bytes):
            root = next(iter(self._waiting))
            released.extend(self._release(root).spans)
            self._remember(root, True)
            self.counts.exported_undecided += 1
        return released

    def _export(self, spans: list[ReadableSpan]) -> None:
        for span in spans:
            for processor in self.processors:
                processor.on_end(span)

    def release_waiting(self) -> None:
        """Export every local trace still waiting for its root, undecided (the program ends)."""
        with self._lock:
            waiting = list(self._waiting)
            released = [span for root in waiting for span in self._release(root).spans]
            self.counts.exported_undecided += len(waiting)
        self._export(released)

    def shutdown(self) -> None:
        self.release_waiting()
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the exporting processors (traces still waiting for their root stay)."""
        return all([processor.force_flush(timeout_millis) for processor in self.processors])
