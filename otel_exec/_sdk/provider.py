"""What a tracer provider is made of, as far as the SDK lets it be seen: its span processors,
the exporter behind each, where an exporter sends; a batch processor's bounded shutdown; and
the one change made to that layout, gathering the exporting processors behind one.
Each reads a private slot defensively: an unknown layout shows nothing (or takes the public
call), never an error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter

if TYPE_CHECKING:
    from collections.abc import Callable


def span_processors(provider: Any) -> tuple[Any, ...]:
    """``provider``'s span processors, in the order they run."""
    multi = getattr(provider, "_active_span_processor", None)
    processors = getattr(multi, "_span_processors", ())
    return tuple(processors) if isinstance(processors, (tuple, list)) else ()


def exporter_of(processor: Any) -> SpanExporter | None:
    """The exporter a simple or batch span processor hands spans to."""
    exporter = (getattr(processor, "span_exporter", None)
                or getattr(getattr(processor, "_batch_processor", None), "_exporter", None))
    return exporter if isinstance(exporter, SpanExporter) else None


def endpoint_of(exporter: Any) -> str | None:
    """Where an OTLP exporter sends (its endpoint URL), if it says."""
    endpoint = getattr(exporter, "_endpoint", None)
    return endpoint if isinstance(endpoint, str) and endpoint else None


def shutdown_within(processor: Any, timeout_millis: int) -> None:
    """Shut a ``BatchSpanProcessor`` down, flushing for at most ``timeout_millis`` (its public
    ``shutdown`` takes no bound; without the inner processor it is that public call)."""
    inner = getattr(processor, "_batch_processor", None)
    if inner is not None and callable(getattr(inner, "shutdown", None)):
        inner.shutdown(timeout_millis=timeout_millis)
    else:
        processor.shutdown()


def gather_exporting(provider: Any, gather: Callable[[tuple[Any, ...]], Any]) -> Any | None:
    """Put ``gather(exporting)`` where ``provider``'s first exporting span processor was and
    take the exporting ones (those with an exporter) out; what ``gather`` made, or None when
    the provider's layout is unknown (nothing changed then)."""
    multi: Any = getattr(provider, "_active_span_processor", None)
    lock = getattr(multi, "_lock", None)
    if lock is None or not isinstance(getattr(multi, "_span_processors", None), tuple):
        return None
    with lock:
        processors: tuple[Any, ...] = multi._span_processors
        exporting = tuple(p for p in processors if exporter_of(p) is not None)
        gathered = gather(exporting)
        kept = [gathered if p is exporting[0] else p for p in processors
                if p not in exporting[1:]] if exporting else [*processors, gathered]
        multi._span_processors = tuple(kept)
    return gathered
