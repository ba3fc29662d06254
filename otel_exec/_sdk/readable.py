"""A span's fields in one call: from the SDK's own slots where its gate is open (one C call,
the bounded containers' dict and deques), else through the public properties, which answer
the same. The store reads every finished span this way, and so does the OTLP encoder."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanContext

from otel_exec._sdk import SPAN_READER

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.sdk.trace import ReadableSpan

IDS_BY_INDEX = tuple(SpanContext(1, 2, is_remote=False))[:2] == (1, 2)
"""Whether a ``SpanContext`` is the tuple (trace id, span id, ...) its properties read, so
the ids are taken by index instead of through a Python property each."""
_START_FIELDS = attrgetter("_context", "_parent", "_attributes")
_SDK_FIELDS = attrgetter("_name", "_context", "_parent", "_kind", "_start_time", "_end_time",
                         "_attributes", "_events", "_links", "_status",
                         "_instrumentation_scope")
_EMPTY: dict[str, Any] = {}
SpanFields = tuple[Any, ...]
"""(name, context, parent, kind, start ns, end ns, attributes, dropped attributes, events,
dropped events, links, dropped links, status code value or None, status description, the
instrumentation scope's name)"""


def layout_open() -> bool:
    """Whether a span's fields may be read from the SDK's own slots (its gate is open)."""
    opened = SPAN_READER.opened
    return SPAN_READER.open() if opened is None else opened


def read_span(span: ReadableSpan) -> SpanFields:
    """A span's fields, in the order ``SpanFields`` names them."""
    if layout_open():
        try:
            (name, context, parent, kind, start, end, attributes, events, links, status,
             scope) = _SDK_FIELDS(span)
            return (name, context, parent, kind, start, end,
                    attributes._dict if attributes is not None else _EMPTY,
                    attributes.dropped if attributes is not None else 0,
                    events._dq, events.dropped, links._dq, links.dropped,
                    status._status_code._value_, status._description,
                    scope._name if scope is not None else "")
        except AttributeError:  # a hand-made ReadableSpan, or another layout
            pass
    status = getattr(span, "status", None)
    return (span.name, span.context, span.parent, getattr(span, "kind", None),
            span.start_time, span.end_time, span.attributes or _EMPTY,
            getattr(span, "dropped_attributes", 0), span.events or (),
            getattr(span, "dropped_events", 0), span.links or (), getattr(span, "dropped_links", 0),
            None if status is None else status.status_code.value,
            None if status is None else status.description,
            getattr(getattr(span, "instrumentation_scope", None), "name", ""))


def started(span: ReadableSpan) -> tuple[int, int | None, Any, Mapping[str, Any]]:
    """(trace id, span id, parent context, attributes as a plain mapping) of a started span,
    (0, None, ...) without a context: what a processor's ``on_start`` reads, in one call."""
    if SPAN_READER.opened or (SPAN_READER.opened is None and SPAN_READER.open()):
        try:
            context, parent, attributes = _START_FIELDS(span)
            found = attributes._dict
            if IDS_BY_INDEX and type(context) is SpanContext and type(found) is dict:
                return context[0], context[1], parent, found
        except AttributeError:  # a hand-made span, or another layout
            pass
    context = span.context
    return (0 if context is None else context.trace_id,
            None if context is None else context.span_id, span.parent,
            span.attributes or _EMPTY)
