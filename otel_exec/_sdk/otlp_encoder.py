"""OTLP export with the same request built in place (docs/performance.md has the cost).

The OTLP exporters encode a batch with ``encode_spans``, which reads each span through its
properties, builds every attribute as two protobuf messages, gathers them in lists and copies
each list into its span, then copies every span into its scope: with the upb runtime each copy
is a deep one, which costs the export thread as much as making the span. ``encode_spans``
here reads an SDK span's fields in one call and builds the same ``ExportTraceServiceRequest``
field by field where it will live (resource, scope and unusual values still go through the
exporters' own helpers), so the bytes on the wire are the same (tested against the exporters'
encoder).

``HttpSpanExporter`` and ``grpc_exporter()`` are the OTLP exporters with this encoder where its
gate is open (``otel_exec._sdk.OTLP_ENCODER``); elsewhere they encode as the exporters do.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from otel_exec._sdk import OTLP_ENCODER
from otel_exec._sdk.readable import read_span

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import SpanContext

_logger = logging.getLogger(__name__)

_KINDS = {kind._value_: encoded for kind, encoded in (
    (SpanKind.INTERNAL, PB2Span.SpanKind.SPAN_KIND_INTERNAL),
    (SpanKind.SERVER, PB2Span.SpanKind.SPAN_KIND_SERVER),
    (SpanKind.CLIENT, PB2Span.SpanKind.SPAN_KIND_CLIENT),
    (SpanKind.PRODUCER, PB2Span.SpanKind.SPAN_KIND_PRODUCER),
    (SpanKind.CONSUMER, PB2Span.SpanKind.SPAN_KIND_CONSUMER))}
"""OTLP's kind of each ``SpanKind``, by its value (no enum hash per span)."""
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_INT64 = (-(1 << 63), 1 << 63)


def encode_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The request the OTLP exporters' ``encode_spans`` makes of ``spans``, equal to it (made
    by theirs where this one is not ``usable()``)."""
    if not usable():
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
            encode_spans as exporters_encode_spans,
        )

        return exporters_encode_spans(spans)
    request = ExportTraceServiceRequest()
    resources: dict[Any, dict[Any, Any]] = {}  # resource -> scope -> ScopeSpans, first seen
    seen: dict[tuple[int, int], Any] = {}  # (id(resource), id(scope)) -> ScopeSpans
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        target = seen.get((id(resource), id(scope)))
        if target is None:  # grouped by equality, as the exporters do; hashed once per object
            scopes = resources.get(resource)
            if scopes is None:
                scopes = resources[resource] = {}
                group = request.resource_spans.add(schema_url=resource.schema_url)
                group.resource.CopyFrom(_encode_resource(resource))
                scopes[_RESOURCE_SPANS] = group
            target = scopes.get(scope)
            if target is None:
                target = scopes[scope] = scopes[_RESOURCE_SPANS].scope_spans.add(
                    schema_url=scope.schema_url if scope else None)
                target.scope.CopyFrom(_encode_instrumentation_scope(scope))
            seen[(id(resource), id(scope))] = target
        try:
            _encode_span(target.spans.add(), span)
        except Exception as error:  # this span only: never the batch it came in
            del target.spans[-1]
            _left_out(span, error)
    return request


left_out = 0
"""Spans the encoder could not take (each left out of its batch, the rest sent)."""


def _left_out(span: ReadableSpan, error: Exception) -> None:
    global left_out
    left_out += 1
    if left_out == 1:
        _logger.error("otel_exec: span %r left out of its export batch (%s: %s); the rest of "
                      "the batch is sent (said once; otel-exec doctor counts them)",
                      getattr(span, "name", "?"), type(error).__name__, error)


_RESOURCE_SPANS = object()
"""The key under which a resource's scopes keep their ``ResourceSpans``."""


def _encode_span(message: Any, span: ReadableSpan) -> None:
    (name, context, parent, kind, start, end, attributes, dropped_attributes, events,
     dropped_events, links, dropped_links, code, description, _) = read_span(span)
    message.trace_id = context.trace_id.to_bytes(16, "big")
    message.span_id = context.span_id.to_bytes(8, "big")
    trace_state = context.trace_state
    if trace_state is not None and trace_state is not DEFAULT_TRACE_STATE:
        message.trace_state = ",".join([f"{key}={value}" for key, value in trace_state.items()])
    if parent:
        message.parent_span_id = parent.span_id.to_bytes(8, "big")
    message.name = name
    message.kind = _KINDS[kind._value_]
    if start is not None:
        message.start_time_unix_nano = start
    if end is not None:
        message.end_time_unix_nano = end
    if attributes:
        _encode_attributes(message.attributes, attributes)
    for event in events:
        encoded = message.events.add(name=event.name, time_unix_nano=event.timestamp,
                                     dropped_attributes_count=event.dropped_attributes)
        if event.attributes:
            _encode_attributes(encoded.attributes, event.attributes)
    for link in links:
        encoded = message.links.add(
            trace_id=link.context.trace_id.to_bytes(16, "big"),
            span_id=link.context.span_id.to_bytes(8, "big"),
            dropped_attributes_count=link.dropped_attributes, flags=_flags(link.context))
        if link.attributes:
            _encode_attributes(encoded.attributes, link.attributes)
    if code is not None:
        message.status.SetInParent()
        message.status.code = code
        if description is not None:
            message.status.message = description
    message.dropped_attributes_count = dropped_attributes
    message.dropped_events_count = dropped_events
    message.dropped_links_count = dropped_links
    message.flags = _flags(parent)


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent and parent.is_remote else _HAS_IS_REMOTE


def _encode_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    """Append each attribute to ``target`` (a repeated ``KeyValue``) where it will live; a value
    that is not a plain string, bool, int64 or float goes through the exporters' own encoder
    (a value it refuses is left out and logged, as the exporters do)."""
    for key, value in attributes.items():
        kind = type(value)
        if kind is str:
            target.add(key=key).value.string_value = value
        elif kind is bool:
            target.add(key=key).value.bool_value = value
        elif kind is int and _INT64[0] <= value < _INT64[1]:
            target.add(key=key).value.int_value = value
        elif kind is float:
            target.add(key=key).value.double_value = value
        else:
            try:
                encoded = _encode_value(value)
            except Exception as error:
                _logger.exception("Failed to encode key %s: %s", key, error)
                continue
            target.add(key=key, value=encoded)


def usable() -> bool:
    """Whether this encoder may replace the exporters' own: its gate is open and the
    exporters' helpers it borrows (resource, scope and unusual values) are where it found
    them in the verified releases."""
    global _encode_instrumentation_scope, _encode_resource, _encode_value
    opened = OTLP_ENCODER.opened
    if opened is None:
        opened = OTLP_ENCODER.open()
    if not opened:
        return False
    if _encode_value is not None:
        return True
    try:
        from opentelemetry.exporter.otlp.proto.common import _internal
    except ImportError:
        return False
    found = [getattr(_internal, name, None) for name in (
        "_encode_instrumentation_scope", "_encode_resource", "_encode_value")]
    if not all(callable(helper) for helper in found):
        return False
    _encode_instrumentation_scope, _encode_resource, _encode_value = found
    return True


_encode_instrumentation_scope: Any = None
_encode_resource: Any = None
_encode_value: Any = None


class HttpSpanExporter(HttpExporter):
    """The OTLP/HTTP span exporter, encoding with ``encode_spans`` where ``usable()``: its
    ``export`` is the verified releases' own with that one change (``HTTP_EXPORT_SHA256``
    fingerprints the copied source). Elsewhere it is exactly the exporter's ``export``."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not usable():
            return super().export(spans)
        http: Any = sys.modules[HttpExporter.__module__]  # the names its export reads
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                serialized_data = encode_spans(spans).SerializePartialToString()
            except Exception as error:
                _logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if http._is_request_too_large(serialized_data, self._max_request_size):
                _logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.", len(serialized_data), self._max_request_size)
                result.error = http.RequestPayloadTooLargeError(
                    f"Serialized span request size {len(serialized_data)} bytes exceeds "
                    f"max_request_size {self._max_request_size} bytes.")
                return SpanExportResult.FAILURE
            export_result = self._client.export(serialized_data)
            if not export_result.success:
                result.error = export_result.error
                result.error_attrs = (
                    {http.HTTP_RESPONSE_STATUS_CODE: export_result.status_code}
                    if export_result.status_code is not None else None)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


HTTP_EXPORT_SHA256 = "0968825cd72fb0bde91a72f0607e4e71d622816a087107f6a7053d679aa02f8e"
"""The SHA-256 of the verified releases' ``OTLPSpanExporter.export`` source, which
``HttpSpanExporter.export`` repeats (checked by the boundary's tests)."""


def grpc_exporter(endpoint: str | None, headers: dict[str, str] | None) -> SpanExporter:
    """The OTLP/gRPC span exporter, encoding with ``encode_spans`` when its
    version is one this encoder repeats."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    if not (usable() and callable(getattr(GrpcExporter, "_translate_data", None))):
        return GrpcExporter(endpoint=endpoint, headers=headers)
    exporter: SpanExporter = _grpc_class(GrpcExporter)(endpoint=endpoint, headers=headers)
    return exporter


@functools.cache
def _grpc_class(base: type[Any]) -> type[Any]:
    def _translate_data(self: Any, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return encode_spans(data)

    return type("GrpcSpanExporter", (base,), {
        "__doc__": "The OTLP/gRPC span exporter encoding with otel_exec.otlp.encode_spans.",
        "__module__": __name__, "_translate_data": _translate_data})
