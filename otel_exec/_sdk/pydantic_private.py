"""A pydantic model's private attribute read straight from ``__pydantic_private__``: through
the model's property, pydantic looks the private attribute up in Python, on a hot path
(falyx's ``ExecutionContext.exception``, read at every recorded call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_exec._sdk import PYDANTIC_PRIVATE

if TYPE_CHECKING:
    from collections.abc import Callable


def kept_privately(make: Callable[[], Any], name: str) -> bool:
    """Whether the model attribute ``name`` is stored as the private ``_name``: set on an
    instance ``make()`` returns and read back both ways. False where the gate is closed."""
    if not PYDANTIC_PRIVATE.open():
        return False
    try:
        probe = make()
        marker = RuntimeError("probe")
        setattr(probe, name, marker)
        private = getattr(probe, "__pydantic_private__", None)
        return (type(private) is dict and private.get(f"_{name}") is marker
                and getattr(probe, name) is marker)
    except Exception:
        return False


def private_reader(name: str) -> Callable[[Any], Any]:
    """A function reading ``name`` of a model whose ``kept_privately`` said so: from the
    private dict when it holds the value, else through the attribute."""
    key = f"_{name}"

    def read(instance: Any) -> Any:
        private = getattr(instance, "__pydantic_private__", None)
        if type(private) is dict and key in private:
            return private[key]
        return getattr(instance, name)

    return read
