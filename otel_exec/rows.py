"""The store's row codec: an execution as an exact tuple of plain values, made from a span in
one call (``span_row``), and the registry numbering a row carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanContext

from otel_exec import semconv
from otel_exec._sdk.readable import IDS_BY_INDEX, read_span

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.sdk.trace import ReadableSpan

_EMPTY: tuple[Any, ...] = ()
Row = tuple[Any, ...]
"""An execution as a store keeps it: an exact tuple of plain values (name, trace id, span id,
parent id, start ns, end ns, attributes as one flat tuple of the keys then the values, events,
links, status code, status description, scope, service, index). The garbage collector stops
tracking such a tuple once it has seen that it holds nothing it tracks (a dict would keep it
tracked), so a million kept executions cost a collection almost nothing; ``Execution``
objects are made from rows when a view reads them."""
(ROW_NAME, ROW_TRACE_ID, ROW_SPAN_ID, ROW_PARENT_ID, ROW_START, ROW_END, ROW_ATTRIBUTES,
 ROW_EVENTS, ROW_LINKS, ROW_STATUS_CODE, ROW_STATUS_DESCRIPTION, ROW_SCOPE, ROW_SERVICE,
 ROW_INDEX) = range(14)
"""The position of each field in a ``Row``."""

def span_row(span: ReadableSpan, index: int | None = None) -> Row:
    """A span (finished, or still running) as a store row with this registry index.

    Runs when a store is read, for each span that ended since (and as each span ends in a
    store too large to keep its spans waiting): the fields are read in one call
    (``read_span``).
    """
    (name, context, parent, _, start_ns, end_ns, attributes, _, events, _, links, _, code,
     description, scope_name) = read_span(span)
    if context is None:
        trace_id = span_id = 0
    elif IDS_BY_INDEX and type(context) is SpanContext:
        trace_id, span_id = context[0], context[1]
    else:
        trace_id, span_id = context.trace_id, context.span_id
    if parent is not None:
        parent = parent[1] if IDS_BY_INDEX and type(parent) is SpanContext else parent.span_id
    return (name, trace_id, span_id, parent, start_ns or 0, end_ns,
            (*attributes, *attributes.values()),
            tuple(events) if events else _EMPTY, tuple(links) if links else _EMPTY,
            code, description, scope_name, None, index)


def in_registry(attributes: Mapping[str, Any]) -> bool:
    """Whether an execution with these attributes belongs in a registry: made by an otel_exec
    instrumentation and recorded by its framework (not a rollback, a declined confirmation,
    another instrumentation's span)."""
    return registry_index(attributes, False) is not None


def own_index(attributes: Mapping[str, Any]) -> int | None:
    """The index the framework itself gave an execution (falyx's ``ExecutionRegistry``), if
    it gave one."""
    index = attributes.get(semconv.FALYX_INDEX)
    return index if type(index) is int and index >= 0 else None


UNNUMBERED = -1
"""A registry entry that takes no index (a row holds it; an ``Execution`` shows None)."""
NEXT_INDEX = -2
"""``registry_index``'s answer for "the registry's next number"."""

_numbering: set[str] = set()


def set_numbering(framework: str, numbers: bool) -> None:
    """Say whether ``framework`` numbers its executions itself now (while it is instrumented:
    falyx). Its numbers are then the registry's: other executions stay in the registry
    but take no index."""
    if numbers:
        _numbering.add(framework)
    else:
        _numbering.discard(framework)


def registry_index(attributes: Mapping[str, Any], others: bool | None = None) -> int | None:
    """The registry index of an execution with these attributes: its framework's own,
    ``NEXT_INDEX`` for the registry's next number, ``UNNUMBERED`` (in the registry, no index:
    a framework numbers its own and this is another's), or None (not in a registry).
    ``others`` says whether executions without an index of their framework's are numbered;
    None: unless a framework numbers its own now."""
    if (semconv.EXEC_FRAMEWORK not in attributes
            or attributes.get(semconv.EXEC_RECORDED, True) is False):
        return None  # not an execution of an instrumentation, or one its framework dropped
    if semconv.FALYX_INDEX in attributes:
        index = own_index(attributes)
        if index is not None:
            return index
    if others is None:
        others = not _numbering
    return NEXT_INDEX if others else UNNUMBERED
