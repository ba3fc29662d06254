"""Executions as OTLP JSON: a span as the collector's file exporter writes it, and a line of
them."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from otel_exec.execution import Execution


_logger = logging.getLogger(__name__)

LINE_SPANS = 1_000
"""Spans written per line by ``save`` (the collector writes one line per batch too)."""

STATUS_CODES = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
CODES_STATUS = {code: status for status, code in STATUS_CODES.items()}


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):  # past int64, OTLP has no integer for it: its digits
        return ({"intValue": str(value)} if -(2**63) <= value < 2**63
                else {"stringValue": str(value)})
    if isinstance(value, float):  # NaN and the infinities as the OTLP JSON mapping writes them
        return {"doubleValue": value if math.isfinite(value) else _NON_FINITE[str(value)]}
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
        "status": {"code": STATUS_CODES[execution._status_code]},
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
