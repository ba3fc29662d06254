"""Apply and undo a table of wrapt patches: the one mechanism every instrumentor uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

try:  # wrapt 2.0.0+
    from wrapt import BaseObjectProxy
except ImportError:  # pragma: no cover - wrapt 1.x
    from wrapt import ObjectProxy as BaseObjectProxy

Patch = tuple[str, str, Callable[..., Any]]
"""(module, ``Class.method`` inside it, wrapper with the wrapt signature)."""


def apply(patches: Iterable[Patch]) -> None:
    """Wrap every target of the table."""
    for module, attribute, wrapper in patches:
        wrapt.wrap_function_wrapper(module, attribute, wrapper)


def restore(patches: Iterable[Patch]) -> None:
    """Put back exactly what ``apply`` replaced (classmethods and staticmethods included).

    Looks in the owner's own ``__dict__``, so a method inherited from a patched base is not
    mistaken for a patch of its own, and a target that was never patched is left alone.
    """
    for module, attribute, _wrapper in patches:
        owner_path, _, name = attribute.rpartition(".")
        owner: Any = importlib.import_module(module)
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part)
        current = vars(owner).get(name)
        if isinstance(current, BaseObjectProxy) and hasattr(current, "__wrapped__"):
            setattr(owner, name, current.__wrapped__)


def is_patched(module: str, attribute: str) -> bool:
    """Whether ``module.attribute`` is currently a wrapt proxy (for tests and diagnostics)."""
    owner_path, _, name = attribute.rpartition(".")
    owner: Any = importlib.import_module(module)
    for part in filter(None, owner_path.split(".")):
        owner = getattr(owner, part)
    return isinstance(vars(owner).get(name), BaseObjectProxy)
