"""Patch tables: resolve every target first, apply all or nothing, restore exactly what was applied.

Every target is replaced by a plain function (a classmethod or staticmethod stays one) that
calls the wrapper with wrapt's ``(wrapped, instance, args, kwargs)`` signature: the same contract
as ``wrapt.wrap_function_wrapper`` for the functions, methods, classmethods and staticmethods
these tables name, at under half its cost per call (a wrapt layer binds a proxy on every
access). The replacement keeps the original's name, docstring, ``__wrapped__`` (so
``inspect.signature`` sees the original's) and coroutine marker.

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
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_logger = logging.getLogger(__name__)
_REPLACED = "__otel_exec_replaced__"
"""The attribute of a replacement function that holds the function it replaced."""


skipped: dict[str, tuple[str, ...]] = {}
"""Per framework, why each optional wrap point left out at its last ``apply`` was (for
``otel_exec.doctor``)."""


class UnsupportedFramework(ImportError):
    """The installed framework lacks a wrap point (or its signature changed): nothing patched."""


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""wrapt's signature: ``wrapper(wrapped, instance, args, kwargs)`` (``instance`` is the class
for a classmethod, None for a staticmethod or a module's function)."""
Maker = Callable[[Callable[..., Any]], Callable[..., Any]]
"""``make(original)`` returns the function that replaces ``original``."""


@dataclass(frozen=True)
class WrapPoint:
    """One target of a patch table.

    Args:
        module: Module that owns the target.
        attribute: ``Class.method`` (or a function name) inside it.
        params: Names of the leading parameters (after ``self``) that the wrapper reads by
            position; checked against the target's signature before anything is patched.
        optional: Whether the instrumentation still makes sense without it (skipped with a
            warning when missing, instead of refusing to instrument).
    """

    module: str
    attribute: str
    _: KW_ONLY
    params: tuple[str, ...] = ()
    optional: bool = False

    @property
    def target(self) -> str:
        """``module.Class.method``, for messages."""
        return f"{self.module}.{self.attribute}"


@dataclass(frozen=True)
class Patch(WrapPoint):
    """A target called through ``wrapper`` (wrapt's signature), which calls the original."""

    wrapper: Wrapper


@dataclass(frozen=True)
class Replace(WrapPoint):
    """A target replaced by the function ``make(original)`` returns, called with ``self``
    (the class, for a classmethod) first: no wrapper call and no bound method per call, for
    the wrap points on an execution's hot path. Not for a staticmethod."""

    make: Maker


def _owner(module: str, attribute: str) -> tuple[Any, str]:
    owner_path, _, name = attribute.rpartition(".")
    owner: Any = importlib.import_module(module)
    for part in filter(None, owner_path.split(".")):
        owner = getattr(owner, part)
    return owner, name


def check(patch: WrapPoint) -> str | None:
    """Why ``patch`` cannot be applied to the installed framework (None: it can)."""
    try:
        owner, name = _owner(patch.module, patch.attribute)
    except (ImportError, AttributeError) as exc:
        return f"{patch.target} is missing ({type(exc).__name__}: {exc})"
    target = inspect.getattr_static(owner, name, None)
    if target is None:
        return f"{patch.target} is missing"
    function = getattr(target, "__func__", target)  # classmethod / staticmethod
    replaced = isinstance(patch, Replace)
    if not inspect.isfunction(function) or (replaced and isinstance(target, staticmethod)):
        return (f"{patch.target} is not a plain function "
                f"{'or classmethod of its class' if replaced else 'of its class or module'}")
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        return f"{patch.target} is a generator function"
    ours = patch.make if isinstance(patch, Replace) else getattr(patch, "wrapper", None)
    arguments = 1 if replaced else 4
    try:
        inspect.signature(ours).bind(*range(arguments))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (f"{patch.target}: its {'make' if replaced else 'wrapper'} does not take "
                f"{arguments} argument{'s' if arguments > 1 else ''} (a Patch's wrapper is "
                "wrapt's (wrapped, instance, args, kwargs); a Replace makes the function)")
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


def apply(patches: Iterable[WrapPoint], framework: str) -> tuple[WrapPoint, ...]:
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
    skipped[framework] = tuple(problems.values())
    for reason in problems.values():
        _logger.warning("otel_exec: %s instrumented without one optional wrap point: %s",
                        framework, reason)
    applied: list[WrapPoint] = []
    try:
        for patch in table:
            if patch in problems:
                continue
            owner, name = _owner(patch.module, patch.attribute)
            original = vars(owner)[name]
            setattr(owner, name, _replacement(patch, original, inspect.isclass(owner)))
            applied.append(patch)
    except Exception:
        restore(applied)
        raise
    return tuple(applied)


def _replacement(patch: WrapPoint, original: Any, in_class: bool) -> Any:
    """The plain function (or classmethod / staticmethod) that stands in for ``original``."""
    function = getattr(original, "__func__", original)
    if isinstance(patch, Replace):
        replacement = patch.make(function)
    else:
        replacement = _calling(patch.wrapper, function, original, in_class)  # type: ignore[attr-defined]
    functools.wraps(function)(replacement)
    if inspect.iscoroutinefunction(function):
        mark_coroutine_function(replacement)
    made: Any = replacement
    if isinstance(original, (classmethod, staticmethod)):
        made = type(original)(replacement)
    setattr(replacement, _REPLACED, original)
    return made


def _calling(wrapper: Wrapper, function: Callable[..., Any], original: Any,
             in_class: bool) -> Callable[..., Any]:
    """A function calling ``wrapper`` as wrapt would for ``original``."""
    if isinstance(original, classmethod):
        def for_class(cls: Any, *args: Any, **kwargs: Any) -> Any:
            return wrapper(function.__get__(cls), cls, args, kwargs)
        return for_class
    if in_class and not isinstance(original, staticmethod):
        def for_instance(self: Any, *args: Any, **kwargs: Any) -> Any:
            return wrapper(function.__get__(self), self, args, kwargs)
        return for_instance

    def for_function(*args: Any, **kwargs: Any) -> Any:
        return wrapper(function, None, args, kwargs)
    return for_function


def mark_coroutine_function(function: Callable[..., Any]) -> None:
    """Make ``inspect.iscoroutinefunction`` true of a plain function that returns coroutines
    (Python 3.12+; on 3.11 only ``asyncio.iscoroutinefunction`` can be told)."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        mark(function)
    else:
        import asyncio.coroutines

        function._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]


def restore(patches: Sequence[WrapPoint]) -> None:
    """Put back exactly what ``apply`` replaced (classmethods and staticmethods included).

    Looks in the owner's own ``__dict__``, so a method inherited from a patched base is not
    mistaken for a patch of its own, and a target that was never patched is left alone.
    """
    for patch in reversed(patches):
        try:
            owner, name = _owner(patch.module, patch.attribute)
        except (ImportError, AttributeError):
            continue
        current = _replaced(vars(owner).get(name))
        if current is not None:
            setattr(owner, name, current)


def is_patched(module: str, attribute: str) -> bool:
    """Whether ``module.attribute`` is currently wrapped or replaced by a patch (for tests and
    diagnostics)."""
    owner, name = _owner(module, attribute)
    return _replaced(vars(owner).get(name)) is not None


def _replaced(current: Any) -> Any:
    """What a replacement made by ``apply`` stands in for (None: ``current`` is not one)."""
    return getattr(getattr(current, "__func__", current), _REPLACED, None)
