"""``otel_exec.attributes(run_id="r-42")``: attributes for a whole run.

Every execution started inside (a ``@traced`` call, a ``span()``, a falyx action, an FSM step,
a routilux job and its routines) gets them: they travel in the OpenTelemetry context, so they
follow it into asyncio tasks, ``asyncio.to_thread`` and the frameworks' own hand-offs to their
threads. Nested blocks add to (and may override) the outer ones. Values are bounded and
scrubbed like every recorded value. Spans of other instrumentations started inside get them too.

With ``baggage=True`` (or ``configure(baggage=True)`` for every block) they also go into the
W3C baggage of the context, so the standard propagator carries them over HTTP to other
services; a service with ``configure(baggage=True)`` makes the baggage it receives into the run
attributes of its executions.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import baggage as baggage_api
from opentelemetry import context as context_api

from otel_exec import _context
from otel_exec._context import attach, current, detach
from otel_exec.values import policy

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

F = TypeVar("F", bound="Callable[..., Any]")

_PLAIN = (str, bool, int, float)


class attributes:  # used like a function: with / @otel_exec.attributes(...)
    """Attributes for every execution started inside a ``with`` block or a decorated call.

    Args:
        baggage: Also put them in the W3C baggage, for other services (default: as
            ``configure(baggage=...)`` says).
        **values: Attribute names and values: str, bool, int, float or a sequence of them
            (another type is recorded as its bounded text).
    """

    __slots__ = ("_baggage", "_tokens", "_values")

    def __init__(self, *, baggage: bool | None = None, **values: Any) -> None:
        values_policy = policy()
        self._values = {name: _plain(values_policy.attribute(name, value))
                        for name, value in values.items()}
        self._baggage = baggage
        self._tokens: list[object] = []

    def __enter__(self) -> attributes:
        _context.run_attributes_used = True
        around = current()
        outer: Any = around.get(_context.RUN_ATTRIBUTES) or {}
        inside = context_api.set_value(_context.RUN_ATTRIBUTES, {**outer, **self._values},
                                        around)
        if self._baggage or (self._baggage is None
                             and _context.baggage_to_attributes is not None):
            for name, value in self._values.items():
                inside = baggage_api.set_baggage(name, _baggage_text(value), inside)
        self._tokens.append(attach(inside))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        detach(self._tokens.pop())

    async def __aenter__(self) -> attributes:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """As a decorator: the attributes for every call of ``func``."""
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)
            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return run  # type: ignore[return-value]


def _baggage_text(value: Any) -> str:
    """A baggage value: the attribute's text (a sequence joined by commas)."""
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _plain(value: Any) -> Any:
    """An attribute value the SDK takes as it is: a plain value, a tuple of them, else text."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple) and all(isinstance(item, _PLAIN) for item in value):
        return value
    return policy().text(value)
