"""``otel_exec.attributes(run_id="r-42")``: attributes for a whole run.

Every execution started inside (a ``@traced`` call, a ``span()``, a falyx action, an FSM step,
a routilux job and its routines) gets them: they travel in the OpenTelemetry context, so they
follow it into asyncio tasks, ``asyncio.to_thread`` and the frameworks' own hand-offs to their
threads. Nested blocks add to (and may override) the outer ones. Values are bounded and
scrubbed like every recorded value.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as context_api

from otel_exec._context import RUN_ATTRIBUTES, attach, current, detach
from otel_exec.values import policy

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

F = TypeVar("F", bound="Callable[..., Any]")

_PLAIN = (str, bool, int, float)


class attributes:  # used like a function: with / @otel_exec.attributes(...)
    """Attributes for every execution started inside a ``with`` block or a decorated call.

    Args:
        **values: Attribute names and values: str, bool, int, float or a sequence of them
            (another type is recorded as its bounded text).
    """

    __slots__ = ("_tokens", "_values")

    def __init__(self, **values: Any) -> None:
        values_policy = policy()
        self._values = {name: _plain(values_policy.attribute(name, value))
                        for name, value in values.items()}
        self._tokens: list[object] = []

    def __enter__(self) -> attributes:
        around = current()
        outer: Any = around.get(RUN_ATTRIBUTES) or {}
        merged = {**outer, **self._values}
        self._tokens.append(attach(context_api.set_value(RUN_ATTRIBUTES, merged, around)))
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


def _plain(value: Any) -> Any:
    """An attribute value the SDK takes as it is: a plain value, a tuple of them, else text."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple) and all(isinstance(item, _PLAIN) for item in value):
        return value
    return policy().text(value)
