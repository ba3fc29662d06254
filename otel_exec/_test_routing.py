"""The pytest fixture's span routing: each test's spans to that test's store, without setting
the set-once global provider (imported only when a test asks for ``exec_spans``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

    from otel_exec.execution_store import ExecutionStore


class TestRouter(SpanProcessor):
    """Routes the spans that start during a test to that test's store."""

    __test__ = False

    def __init__(self) -> None:
        self.store: ExecutionStore | None = None
        self.started: set[int] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        store = self.store
        if store is not None and span.context is not None:
            self.started.add(span.context.span_id)
            store.track(span)

    def on_end(self, span: ReadableSpan) -> None:
        store = self.store
        context = span.context
        if store is not None and context is not None and context.span_id in self.started:
            self.started.discard(context.span_id)
            store.record(span)

    def shutdown(self) -> None:
        self.store = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


router = TestRouter()
_routed: list[TracerProvider] = []
"""The SDK providers the router has been added to (at most a few in a session)."""


def route() -> TracerProvider | None:
    """Make the router see this test's spans; returns the private provider to use instead of
    the global one when the global is not an SDK provider (None: the global is routed)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = _private_provider()
    if not any(known is provider for known in _routed):
        provider.add_span_processor(router)
        _routed.append(provider)
    return None if provider is trace.get_tracer_provider() else provider


def _private_provider() -> TracerProvider:
    """The provider otel_exec's spans go to during tests when nothing global is set up (one
    per session, no exporter)."""
    global _private
    if _private is None:
        _private = TracerProvider(shutdown_on_exit=False)
    return _private


_private: TracerProvider | None = None
