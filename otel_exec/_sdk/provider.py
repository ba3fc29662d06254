"""What a tracer provider is made of, as far as the SDK lets it be seen: its span processors,
the exporter behind each, where an exporter sends; and a batch processor's bounded shutdown.
Each reads a private slot defensively: an unknown layout shows nothing (or takes the public
call), never an error."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter


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
