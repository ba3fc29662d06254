"""OTLP export with the same request written as bytes (docs/performance.md has the cost).

The OTLP exporters encode a batch with ``encode_spans``, which reads each span through its
properties, builds every attribute as two protobuf messages, gathers them in lists and copies
each list into its span, then copies every span into its scope: with the upb runtime each copy
is a deep one, which costs the export thread as much as making the span, and the request is
then serialized. ``encode_request`` here reads an SDK span's fields in one call and writes
the serialized request directly, field by field in the wire format (resource, scope and
unusual values still go through the exporters' own helpers); an attribute with a short text
value, as most of a span's are, is written once and reused. The bytes on the wire are the same
(tested against the exporters' encoder, for every shape of span).

``HttpSpanExporter`` and ``grpc_exporter()`` are the OTLP exporters with this encoder where its
gate is open (``otel_exec._sdk.OTLP_ENCODER``); elsewhere they encode as the exporters do.
"""

from __future__ import annotations

import functools
import logging
import struct
import sys
from typing import TYPE_CHECKING, Any, cast

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from otel_exec._sdk import OTLP_ENCODER
from otel_exec._sdk.readable import IDS_BY_INDEX, read_span

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

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
    by theirs where this encoder is not ``usable()``)."""
    if not usable():
        return _exporters_encode_spans(spans)
    return cast("ExportTraceServiceRequest",
                ExportTraceServiceRequest.FromString(encode_request(spans)))


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """``encode_spans(spans)`` serialized: the bytes the OTLP exporters send, written
    directly (spans grouped by resource, then scope, each in the order first seen)."""
    if not usable():
        return cast("bytes", _exporters_encode_spans(spans).SerializePartialToString())
    resources: dict[Any, dict[Any, list[bytes]]] = {}  # resource -> scope -> encoded spans
    seen: dict[tuple[int, int], list[bytes]] = {}  # (id(resource), id(scope)) -> the same
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        target = seen.get((id(resource), id(scope)))
        if target is None:  # grouped by equality, as the exporters do; hashed once per object
            scopes = resources.get(resource)
            if scopes is None:
                scopes = resources[resource] = {}
            target = scopes.get(scope)
            if target is None:
                target = scopes[scope] = []
            seen[(id(resource), id(scope))] = target
        try:
            target.append(_span(span))
        except Exception as error:  # this span only: never the batch it came in
            _left_out(span, error)
    request = []
    for resource, scopes in resources.items():
        group = [_field(b"\x0a", _encode_resource(resource).SerializePartialToString())]
        for scope, encoded in scopes.items():
            scope_spans = [
                _field(b"\x0a", _encode_instrumentation_scope(scope).SerializePartialToString()),
                *encoded]
            if scope is not None and scope.schema_url:
                scope_spans.append(_field(b"\x1a", scope.schema_url.encode()))
            group.append(_field(b"\x12", b"".join(scope_spans)))
        if resource.schema_url:
            group.append(_field(b"\x1a", resource.schema_url.encode()))
        request.append(_field(b"\x0a", b"".join(group)))
    return b"".join(request)


def _exporters_encode_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
        encode_spans as exporters_encode_spans,
    )

    return exporters_encode_spans(spans)


left_out = 0
"""Spans the encoder could not take (each left out of its batch, the rest sent)."""


def _left_out(span: ReadableSpan, error: Exception) -> None:
    global left_out
    left_out += 1
    if left_out == 1:
        _logger.error("otel_exec: span %r left out of its export batch (%s: %s); the rest of "
                      "the batch is sent (said once; otel-exec doctor counts them)",
                      getattr(span, "name", "?"), type(error).__name__, error)


# Protocol buffers' wire format: each field is its tag (field number << 3 | wire type) then its
# value: a varint, 8 or 4 little-endian bytes, or a varint length then that many bytes. A field
# holding its type's default (0, empty) is left out, except in a oneof (``AnyValue``'s value).
_VARINTS = [bytes((number,)) for number in range(128)]


def _varint(number: int) -> bytes:
    if number < 128:
        return _VARINTS[number]
    if number < 16384:  # a span's length, mostly
        return bytes((number & 0x7F | 0x80, number >> 7))
    encoded = bytearray()
    while number >= 128:
        encoded.append(number & 0x7F | 0x80)
        number >>= 7
    encoded.append(number)
    return bytes(encoded)


def _field(tag: bytes, value: bytes) -> bytes:
    """A length-delimited field: its tag, the length, the bytes."""
    return tag + _varint(len(value)) + value


_SPAN_KINDS = {value: b"\x30" + _varint(kind) for value, kind in _KINDS.items()}
"""Each ``SpanKind`` value's ``Span.kind`` field."""
_pack_double = struct.Struct("<d").pack
_UINT64 = (1 << 64) - 1


def _span(span: ReadableSpan) -> bytes:
    """``ScopeSpans.spans`` field holding ``span``, as the exporters encode it."""
    (name, context, parent, kind, start, end, attributes, dropped_attributes, events,
     dropped_events, links, dropped_links, code, description, _) = read_span(span)
    if IDS_BY_INDEX and type(context) is SpanContext:
        trace_id, span_id = context[0], context[1]
    else:
        trace_id, span_id = context.trace_id, context.span_id
    encoded = [b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big")]
    trace_state = context.trace_state
    if trace_state is not None and trace_state is not DEFAULT_TRACE_STATE:
        text = ",".join([f"{key}={value}" for key, value in trace_state.items()])
        if text:
            encoded.append(_field(b"\x1a", text.encode()))
    if parent:
        parent_id = parent[1] if IDS_BY_INDEX and type(parent) is SpanContext else parent.span_id
        encoded += (b"\x22\x08", parent_id.to_bytes(8, "big"))
    if name:
        encoded.append(_field(b"\x2a", name.encode()))
    encoded.append(_SPAN_KINDS[kind._value_])
    if start:
        encoded += (b"\x39", start.to_bytes(8, "little"))
    if end:
        encoded += (b"\x41", end.to_bytes(8, "little"))
    if attributes:
        _attributes(encoded, b"\x4a", attributes)
    if dropped_attributes:
        encoded += (b"\x50", _varint(dropped_attributes))
    for event in events:
        fields = [b"\x09", event.timestamp.to_bytes(8, "little")] if event.timestamp else []
        if event.name:
            fields.append(_field(b"\x12", event.name.encode()))
        if event.attributes:
            _attributes(fields, b"\x1a", event.attributes)
        if event.dropped_attributes:
            fields += (b"\x20", _varint(event.dropped_attributes))
        encoded.append(_field(b"\x5a", b"".join(fields)))
    if dropped_events:
        encoded += (b"\x60", _varint(dropped_events))
    for link in links:
        linked = link.context
        fields = [b"\x0a\x10", linked.trace_id.to_bytes(16, "big"),
                  b"\x12\x08", linked.span_id.to_bytes(8, "big")]
        if link.attributes:
            _attributes(fields, b"\x22", link.attributes)
        if link.dropped_attributes:
            fields += (b"\x28", _varint(link.dropped_attributes))
        fields += (b"\x35", _flags(linked).to_bytes(4, "little"))
        encoded.append(_field(b"\x6a", b"".join(fields)))
    if dropped_links:
        encoded += (b"\x70", _varint(dropped_links))
    if code is not None:  # the status is set (even to its defaults) wherever a span has one
        status = _field(b"\x12", description.encode()) if description else b""
        encoded.append(_field(b"\x7a", status + b"\x18" + _varint(code) if code else status))
    encoded.append(_REMOTE_PARENT if parent and parent.is_remote else _LOCAL_PARENT)
    return _field(b"\x12", b"".join(encoded))


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent and parent.is_remote else _HAS_IS_REMOTE


_LOCAL_PARENT, _REMOTE_PARENT = (b"\x85\x01" + flags.to_bytes(4, "little")  # field 16, 4 bytes
                                 for flags in (_HAS_IS_REMOTE, _HAS_IS_REMOTE | _IS_REMOTE))
"""``Span.flags`` of a span whose parent is local (or which has none), and of one whose parent
is remote."""


_KEY_VALUES: dict[tuple[str, str], bytes] = {}
"""Attributes with a short text value, encoded as a length and a ``KeyValue`` (the same few
recur on every span)."""
_MOST_KEY_VALUES = 1024
_LONGEST_KEPT = 64


def _attributes(encoded: list[bytes], tag: bytes, attributes: Mapping[str, Any]) -> None:
    """Append each attribute as a ``KeyValue`` field ``tag``; a value that is not a plain
    string, bool, int64 or float goes through the exporters' own encoder. An attribute that
    cannot be encoded (a key or text UTF-8 cannot carry, a value of no OTLP type) is left out
    and logged, as the exporters do: the span keeps the others."""
    kept = _KEY_VALUES
    for key, value in attributes.items():
        kind = type(value)
        try:
            if kind is str:
                found = kept.get((key, value))
                if found is not None:
                    encoded += (tag, found)
                    continue
                any_value = _field(b"\x0a", value.encode())
            elif kind is bool:
                any_value = b"\x10\x01" if value else b"\x10\x00"
            elif kind is int and _INT64[0] <= value < _INT64[1]:
                any_value = b"\x18" + _varint(value & _UINT64)
            elif kind is float:
                any_value = b"\x21" + _pack_double(value)
            else:
                any_value = _encode_value(value).SerializePartialToString()
            key_value = _field(b"\x0a", str.encode(key)) + _field(b"\x12", any_value)
        except Exception as error:
            _logger.exception("Failed to encode key %r: %s", key, error)  # %r: shown literally
            continue
        key_value = _varint(len(key_value)) + key_value
        if kind is str and len(value) <= _LONGEST_KEPT:
            if len(kept) >= _MOST_KEY_VALUES:
                kept.clear()
            kept[(key, value)] = key_value
        encoded += (tag, key_value)


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
                serialized_data = encode_request(spans)
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
