"""What the span path calls that the set-up layer provides: the package wires it at import, so
the lower layers never import the upper ones.

``route(provider)`` is given the provider a tracer resolves to and returns the one its spans
go to (the set-up layer's answer: a local provider while none is set, and the default store's
processor added to an SDK provider, once). ``before_shutdown`` are run first by ``shutdown()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.trace import TracerProvider


def _unrouted(provider: TracerProvider) -> TracerProvider:
    return provider


route: Callable[[TracerProvider], TracerProvider] = _unrouted
"""Replaced by the package with the set-up layer's routing."""

before_shutdown: list[Callable[[], None]] = []
"""Called at the start of ``shutdown()``, in order: ending what is still open (a routilux job),
so it is exported with the rest."""


def run_before_shutdown(callback: Callable[[], None]) -> None:
    """Have ``shutdown()`` call ``callback`` first (once, however often this is asked)."""
    if callback not in before_shutdown:
        before_shutdown.append(callback)
