"""Patch tables: resolve every target first, apply all or nothing, restore exactly what was applied.

A framework release that renames a private method (or reorders the parameters a wrapper reads
by position) must not leave half the table applied: ``apply`` checks every target before it
wraps any, skips an *optional* target that is missing with one warning, and raises
``UnsupportedFramework`` (an ``ImportError``, which ``opentelemetry-instrument`` logs and skips)
when an essential one is, leaving nothing patched.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wrapt

try:  # wrapt 2.0.0+
    from wrapt import BaseObjectProxy
except ImportError:  # pragma: no cover - wrapt 1.x
    from wrapt import ObjectProxy as BaseObjectProxy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

_logger = logging.getLogger(__name__)
_REPLACED = "__otel_exec_replaced__"
"""The attribute of a replacement function that holds the function it replaced."""


class UnsupportedFramework(ImportError):
    """The installed framework lacks a wrap point (or its signature changed): nothing patched."""


@dataclass(frozen=True)
class Patch:
    """One wrap point.

    Args:
        module: Module that owns the target.
        attribute: ``Class.method`` (or a function name) inside it.
        wrapper: The wrapper, with wrapt's ``(wrapped, instance, args, kwargs)`` signature.
        params: Names of the leading parameters (after ``self``) that the wrapper reads by
            position; checked against the target's signature before anything is patched.
        optional: Whether the instrumentation still makes sense without it (skipped with a
            warning when missing, instead of refusing to instrument).
        replace: ``wrapper(original)`` makes a plain function that replaces the target (for
            a method called several times per execution whose wrapper mostly passes the call
            through: a wrapt layer costs about a microsecond per call, a plain one a tenth).
    """

    module: str
    attribute: str
    wrapper: Callable[..., Any]
    params: tuple[str, ...] = ()
    optional: bool = False
    replace: bool = False

    @property
    def target(self) -> str:
        """``module.Class.method``, for messages."""
        return f"{self.module}.{self.attribute}"


def _owner(module: str, attribute: str) -> tuple[Any, str]:
    owner_path, _, name = attribute.rpartition(".")
    owner: Any = importlib.import_module(module)
    for part in filter(None, owner_path.split(".")):
        owner = getattr(owner, part)
    return owner, name


def check(patch: Patch) -> str | None:
    """Why ``patch`` cannot be applied to the installed framework (None: it can)."""
    try:
        owner, name = _owner(patch.module, patch.attribute)
    except (ImportError, AttributeError) as exc:
        return f"{patch.target} is missing ({type(exc).__name__}: {exc})"
    target = inspect.getattr_static(owner, name, None)
    if target is None:
        return f"{patch.target} is missing"
    function = getattr(target, "__func__", target)  # classmethod / staticmethod
    if not callable(function):
        return f"{patch.target} is not callable"
    if patch.replace and not inspect.isfunction(target):
        return f"{patch.target} is not a plain function of its class"
    if not patch.params:
        return None
    try:
        parameters = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return f"{patch.target} has no readable signature"
    if inspect.isclass(owner) and not isinstance(target, staticmethod):
        parameters = parameters[1:]
    if tuple(parameters[:len(patch.params)]) != patch.params:
        return (f"{patch.target} takes ({', '.join(parameters)}), the wrapper expects "
                f"({', '.join(patch.params)}, ...)")
    return None


def apply(patches: Iterable[Patch], framework: str) -> tuple[Patch, ...]:
    """Wrap every target of the table, or none of them.

    Returns:
        The patches applied (optional targets that are missing are skipped with a warning).

    Raises:
        UnsupportedFramework: An essential target is missing or its signature changed.
    """
    table = tuple(patches)
    problems = {patch: reason for patch in table if (reason := check(patch)) is not None}
    essential = [reason for patch, reason in problems.items() if not patch.optional]
    if essential:
        raise UnsupportedFramework(
            f"otel_exec cannot instrument this {framework} (left uninstrumented): "
            + "; ".join(essential))
    for reason in problems.values():
        _logger.warning("otel_exec: %s instrumented without one optional wrap point: %s",
                        framework, reason)
    applied: list[Patch] = []
    try:
        for patch in table:
            if patch in problems:
                continue
            if patch.replace:
                owner, name = _owner(patch.module, patch.attribute)
                original = vars(owner)[name]
                replacement = functools.wraps(original)(patch.wrapper(original))
                setattr(replacement, _REPLACED, original)
                setattr(owner, name, replacement)
            else:
                wrapt.wrap_function_wrapper(patch.module, patch.attribute, patch.wrapper)
            applied.append(patch)
    except Exception:
        restore(applied)
        raise
    return tuple(applied)


def restore(patches: Sequence[Patch]) -> None:
    """Put back exactly what ``apply`` replaced (classmethods and staticmethods included).

    Looks in the owner's own ``__dict__``, so a method inherited from a patched base is not
    mistaken for a patch of its own, and a target that was never patched is left alone.
    """
    for patch in reversed(patches):
        try:
            owner, name = _owner(patch.module, patch.attribute)
        except (ImportError, AttributeError):
            continue
        current = vars(owner).get(name)
        if isinstance(current, BaseObjectProxy) and hasattr(current, "__wrapped__"):
            setattr(owner, name, current.__wrapped__)
        elif hasattr(current, _REPLACED):
            setattr(owner, name, getattr(current, _REPLACED))


def is_patched(module: str, attribute: str) -> bool:
    """Whether ``module.attribute`` is currently wrapped or replaced by a patch (for tests and
    diagnostics)."""
    owner, name = _owner(module, attribute)
    current = vars(owner).get(name)
    return isinstance(current, BaseObjectProxy) or hasattr(current, _REPLACED)
