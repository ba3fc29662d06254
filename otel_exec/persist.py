"""Save and load executions as OTLP JSON lines, the format the OpenTelemetry Collector's file
exporter writes: one ``{"resourceSpans": [...]}`` object per line, hex trace and span ids,
nanosecond times as strings, ``AnyValue`` attributes.

```python
otel_exec.configure(file="traces.jsonl")     # every finished span appended, off the hot path
otel_exec.save("run.jsonl")                  # what the store holds now
store = otel_exec.load("run.jsonl")          # any view works on it, as in-process
```
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, StatusCode, TraceFlags

from otel_exec._store import ExecutionStore
from otel_exec.execution import Execution

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

LINE_SPANS = 1_000
"""Spans written per line by ``save`` (the collector writes one line per batch too)."""

_STATUS_CODES = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
_CODES_STATUS = {code: status for status, code in _STATUS_CODES.items()}


class TraceFileError(ValueError):
    """A trace file that cannot be read, with the file and line that says why."""


# encoding -------------------------------------------------------------------------------------
def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    if isinstance(value, bytes):
        return {"bytesValue": value.hex()}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def encode_span(execution: Execution) -> dict[str, Any]:
    """One execution as an OTLP JSON span."""
    span: dict[str, Any] = {
        "traceId": execution.trace_id, "spanId": execution.span_id, "name": execution.name,
        "kind": 1, "startTimeUnixNano": str(execution.start_ns),
        "endTimeUnixNano": str(execution.end_ns or execution.start_ns),
        "attributes": _attributes(execution.attributes),
        "status": {"code": _STATUS_CODES[execution._status_code]},
    }
    if execution.parent_span_id is not None:
        span["parentSpanId"] = execution.parent_span_id
    if execution.status_description:
        span["status"]["message"] = execution.status_description
    if execution.events:
        span["events"] = [{"timeUnixNano": str(event.timestamp), "name": event.name,
                           "attributes": _attributes(event.attributes)}
                          for event in execution.events]
    if execution.links:
        span["links"] = [{"traceId": f"{link.context.trace_id:032x}",
                          "spanId": f"{link.context.span_id:016x}",
                          "attributes": _attributes(link.attributes)}
                         for link in execution.links]
    return span


def encode_line(executions: Iterable[Execution],
                resource: Mapping[str, Any] | None = None) -> str:
    """One OTLP JSON line: the executions grouped by instrumentation scope."""
    scopes: dict[str, list[dict[str, Any]]] = {}
    for execution in executions:
        scopes.setdefault(execution.scope, []).append(encode_span(execution))
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": _attributes(resource)},
        "scopeSpans": [{"scope": {"name": name}, "spans": spans}
                       for name, spans in scopes.items()],
    }]}, separators=(",", ":"), default=str)


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
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False

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
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# decoding -------------------------------------------------------------------------------------
def _decode_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return tuple(_decode_value(item) for item in value["arrayValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    if "kvlistValue" in value:
        return json.dumps({item["key"]: _decode_value(item.get("value", {}))
                           for item in value["kvlistValue"].get("values", [])})
    return None


def _decode_attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: _decode_value(item.get("value", {})) for item in items or ()}


def _id(text: str | None, width: int) -> int:
    if not text:
        return 0
    if len(text) == width:
        return int(text, 16)
    import base64  # protobuf's JSON mapping writes bytes as base64

    return int.from_bytes(base64.b64decode(text), "big")


def decode_span(span: Mapping[str, Any], scope: str) -> Execution:
    """An OTLP JSON span as an execution (not yet numbered)."""
    parent = _id(span.get("parentSpanId"), 16)
    status = span.get("status") or {}
    code = status.get("code", 0)
    if isinstance(code, str):  # "STATUS_CODE_ERROR"
        code = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    events = tuple(Event(event.get("name", ""), _decode_attributes(event.get("attributes")),
                         int(event.get("timeUnixNano", 0)))
                   for event in span.get("events") or ())
    links = tuple(Link(SpanContext(_id(link.get("traceId"), 32), _id(link.get("spanId"), 16),
                                   is_remote=True, trace_flags=TraceFlags(1)),
                       _decode_attributes(link.get("attributes")))
                  for link in span.get("links") or ())
    return Execution(name=str(span.get("name", "")), trace_id=_id(span.get("traceId"), 32),
                     span_id=_id(span.get("spanId"), 16), parent_id=parent or None,
                     start_ns=int(span.get("startTimeUnixNano", 0)),
                     end_ns=int(span.get("endTimeUnixNano", 0)),
                     attributes=_decode_attributes(span.get("attributes")), events=events,
                     links=links, status_code=_CODES_STATUS.get(int(code), StatusCode.UNSET),
                     status_description=status.get("message") or None, scope=scope)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.exists():
        raise TraceFileError(f"{path}: no such file")
    if path.is_dir():
        raise TraceFileError(f"{path}: is a directory, not a trace file")
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, line


def read(path: str | Path) -> list[Execution]:
    """Every span in an OTLP JSON lines file, in completion order.

    Raises:
        TraceFileError: The file is missing, empty, truncated or not OTLP JSON traces; the
            message names the line and what was expected there.
    """
    path = Path(path)
    executions: list[Execution] = []
    seen = False
    for number, line in _lines(path):
        seen = True
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceFileError(f"{path}:{number}: not valid JSON ({exc.msg} at column "
                                 f"{exc.colno}); the file may be truncated") from None
        if not isinstance(data, dict) or "resourceSpans" not in data:
            found = ", ".join(sorted(data)[:3]) if isinstance(data, dict) else type(data).__name__
            raise TraceFileError(f"{path}:{number}: expected an OTLP traces object with "
                                 f"'resourceSpans', found {found or 'an empty object'}")
        try:
            for resource in data["resourceSpans"]:
                for scope in resource.get("scopeSpans") or resource.get(
                        "instrumentationLibrarySpans") or ():
                    name = str((scope.get("scope") or scope.get("instrumentationLibrary")
                                or {}).get("name", ""))
                    executions.extend(decode_span(span, name) for span in scope.get("spans", ()))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TraceFileError(f"{path}:{number}: malformed OTLP span data "
                                 f"({type(exc).__name__}: {exc})") from None
    if not seen:
        raise TraceFileError(f"{path}: is empty; expected OTLP JSON lines")
    executions.sort(key=lambda item: (item.end_ns or 0, -item.start_ns))  # children first
    return executions


def load(path: str | Path) -> ExecutionStore:
    """A new store holding every span of the file, numbered in completion order."""
    executions = read(path)
    store = ExecutionStore(max_spans=max(len(executions), 1))
    for execution in executions:
        store.add(execution)
    return store
