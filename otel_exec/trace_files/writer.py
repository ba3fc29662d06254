"""Writing trace files: ``save`` (what a store holds) and ``FileSpanExporter`` (every finished
span appended as it ends, off the hot path)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_exec.execution import Execution
from otel_exec.trace_files.encode import LINE_SPANS, encode_line

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

def save(path: str | Path, executions: Sequence[Execution],
         resource: Mapping[str, Any] | None = None) -> int:
    """Write ``executions`` (finished ones) to ``path``; returns how many were written."""
    finished = [item for item in executions if item.end_ns is not None]
    with Path(path).open("w", encoding="utf-8") as out:
        for start in range(0, len(finished), LINE_SPANS):
            out.write(encode_line(finished[start:start + LINE_SPANS], resource) + "\n")
    return len(finished)


class FileSpanExporter(SpanExporter):
    """Append finished spans to a file as OTLP JSON lines (one line per export batch).

    Use behind a ``BatchSpanProcessor`` so the file I/O happens off the program's threads.

    Raises:
        OSError: The file cannot be opened for appending (the message names the path).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self.lost_spans = 0
        """Spans of batches that could not be written (the first failure is logged)."""
        try:
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot write the trace file {str(self.path)!r}: "
                                       f"{exc.strerror or exc}") from None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        resource = dict(spans[0].resource.attributes) if spans[0].resource else None
        line = encode_line((Execution.from_span(span) for span in spans), resource)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            if not self.lost_spans:
                _logger.error("otel_exec: could not write %d span(s) to the trace file %r: %s "
                              "(later failures are only counted)", len(spans), str(self.path),
                              exc.strerror or exc)
            self.lost_spans += len(spans)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
