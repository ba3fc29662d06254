"""One trace across routilux's HTTP server: the W3C trace context (and baggage) a caller sends
with a request is the parent of the jobs the request starts (``/execute``, job submission).

Where an ASGI or FastAPI instrumentation already made a span for the request, that span is
the parent and nothing here acts. Otherwise a small ASGI middleware, added to the server's app
when ``routilux.server.main`` is imported, extracts the context with the global propagator
(``OTEL_PROPAGATORS``; W3C trace context and baggage by default).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate
from opentelemetry import trace as trace_api

from otel_exec._context import attach, detach

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_logger = logging.getLogger(__name__)

SERVER_MODULE = "routilux.server.main"
active = [False]
"""Whether requests' trace context is taken (off while routilux is not instrumented)."""


class TraceContextMiddleware:
    """Pure ASGI: run each HTTP request in the context its headers carry, unless a span is
    current for it already (an instrumentation of the server made one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope.get("type") != "http" or not active[0]
                or trace_api.get_current_span().get_span_context().is_valid):
            await self.app(scope, receive, send)
            return
        try:
            carrier = {name.decode("latin-1").lower(): value.decode("latin-1")
                       for name, value in scope.get("headers") or ()}
            token = attach(propagate.extract(carrier))
        except Exception:
            _logger.debug("otel_exec: no trace context taken from a request", exc_info=True)
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            detach(token)


def add_middleware(module: Any) -> None:
    """Give the server's app the middleware (a post-import hook of ``routilux.server.main``)."""
    app = getattr(module, "app", None)
    if app is None or not callable(getattr(app, "add_middleware", None)):
        _logger.warning("otel_exec: routilux's server has no app to take callers' trace "
                        "context; its jobs start their own traces")
        return
    if any(getattr(entry, "cls", None) is TraceContextMiddleware
           for entry in getattr(app, "user_middleware", ())):
        return
    try:
        app.add_middleware(TraceContextMiddleware)
    except RuntimeError:  # Starlette refuses once the app has started
        _logger.warning("otel_exec: routilux's server started before routilux was "
                        "instrumented; its jobs do not join their callers' traces")
