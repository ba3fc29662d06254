"""The wrapper kit every instrumentation builds its wrappers from.

Our bookkeeping never reaches the program: each piece of it runs *contained* (an exception of
ours is logged once per function and the user's call goes on untouched), and whatever we make
current is restored whatever happens (``ContextScope`` resets its context variables in
``finally``; the caller's OpenTelemetry context is current again after every call). Three
shapes cover every wrap point:

- ``around(start, finish)`` / ``around_async``: ``start`` returns a scope (anything with
  ``activate``/``deactivate``, usually an ``ExecutionSpan``) or None to stay out of the way; the
  scope is current while the framework's call runs; ``finish(scope, exception, result)`` after.
  ``around_async`` makes the coroutine function replacing the method itself
  (``Replace``): one coroutine and no wrapper call per execution.
- ``observe(hook)``: the framework's call first, untouched; then ``hook(instance, args, kwargs,
  outcome)`` reads what happened.
- ``before(hook)``: ``hook(instance, args, kwargs)`` first, then the call (sync or async: the
  call's own return value, a coroutine included, is handed back as is).

For a wrap point that only carries a value into the work it calls (which job a task belongs to,
which routine is being activated), ``binding`` sets a context variable around the call from a
plain function replacing the method, without a scope.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from otel_exec._context import VARIABLE, attach, current, instrumentation_enabled
from otel_exec.execution import MISSING
from otel_exec.instrumentation._patching import mark_coroutine_function

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextvars import ContextVar, Token

    from opentelemetry.context import Context

    from otel_exec.spans import ExecutionSpan

_logger = logging.getLogger(__name__)
_reported: set[str] = set()


class Scope(Protocol):
    """What ``around`` makes current while the framework's call runs."""

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...


SELF: Any = object()
"""In ``ContextScope.bindings``: the value is the scope itself."""


class ContextScope:
    """A scope that sets context variables while it is current (``bindings``, none by
    default), its span's OpenTelemetry context among them when it has one (``execution``);
    ``deactivate`` resets them whatever happens.

    The span's context is set in the default runtime context's ``ContextVar`` with the rest,
    without a call to the span (``ExecutionSpan.activate`` for any other runtime context)."""

    __slots__ = ("_tokens",)

    bindings: ClassVar[tuple[tuple[ContextVar[Any], Any], ...]] = ()
    """The (variable, value) pairs set while this scope is current; ``SELF`` for the scope."""

    def activate(self) -> None:
        tokens = [variable.set(self if value is SELF else value)
                  for variable, value in self.bindings]
        self._tokens: list[Token[Any]] = tokens
        execution: ExecutionSpan | None = getattr(self, "execution", None)
        if execution is not None:
            if VARIABLE is None:
                execution.activate()
            else:
                tokens.append(VARIABLE.set(execution.context))

    def deactivate(self) -> None:
        tokens, self._tokens = getattr(self, "_tokens", ()), []
        try:
            if VARIABLE is None:
                execution: ExecutionSpan | None = getattr(self, "execution", None)
                if execution is not None:
                    execution.deactivate()
        finally:
            for token in reversed(tokens):
                token.var.reset(token)


def contained(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``, or None if it raised: logged with its traceback the first time for
    each function, at debug level after that."""
    try:
        return func(*args)
    except Exception:
        failed(func)
        return None


def failed(func: Callable[..., Any]) -> None:
    """Log the exception our ``func`` raised (in an ``except`` block of ours): what
    ``contained`` does when it catches one, for a hot path that catches it itself."""
    name = getattr(func, "__qualname__", repr(func))
    if name in _reported:
        _logger.debug("otel_exec: %s failed again", name, exc_info=True)
    else:
        _reported.add(name)
        _logger.warning("otel_exec: %s failed; the program goes on, this execution's "
                        "span may be incomplete", name, exc_info=True)


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str,
             default: Any = None) -> Any:
    """The argument a framework passed at ``position`` or as ``name``."""
    if len(args) > position:
        return args[position]
    return kwargs.get(name, default)


def around(start: Callable[[Any, tuple[Any, ...], dict[str, Any]], Scope | None],
           finish: Callable[[Any, BaseException | None, Any], None] | None, *,
           always: bool = False) -> Callable[..., Any]:
    """A wrapper for a synchronous call: ``start``, the call under the scope, ``finish``
    (None: the scope's ``deactivate`` is all there is to do).

    ``always``: run even while instrumentation is suppressed (bookkeeping that must match
    what was counted earlier, such as a task delivered after it was counted).
    """

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if not always and not instrumentation_enabled():
            return wrapped(*args, **kwargs)
        entered = _enter(start, instance, args, kwargs)
        if entered is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _exit(entered, finish, exc, MISSING)
            raise
        _exit(entered, finish, None, result)
        return result

    return wrapper


def around_async(start: Callable[[Any, tuple[Any, ...], dict[str, Any]], Scope | None],
                 finish: Callable[[Any, BaseException | None, Any], None],
                 arguments: Callable[[Any, tuple[Any, ...], dict[str, Any]],
                                     tuple[tuple[Any, ...], dict[str, Any]]] | None = None,
                 ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """``around`` for a coroutine method, as the coroutine function replacing it
    (``Replace``): the scope is current while the method is awaited.

    ``arguments(scope, args, kwargs)`` gives the arguments the method is called with under a
    scope (stand-ins that report to it); failing, it leaves the call's own."""

    def replace(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def replacement(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not instrumentation_enabled():
                return await original(self, *args, **kwargs)
            entered = _enter(start, self, args, kwargs)
            if entered is None:
                return await original(self, *args, **kwargs)
            if arguments is not None:
                try:
                    args, kwargs = arguments(entered[0], args, kwargs)
                except Exception:
                    failed(arguments)
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                _exit(entered, finish, exc, MISSING)
                raise
            _exit(entered, finish, None, result)
            return result

        return replacement

    return replace


def _enter(start: Callable[[Any, tuple[Any, ...], dict[str, Any]], Scope | None],
           instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
           ) -> tuple[Scope, Context] | None:
    """``start``, then the scope made current; the scope and the caller's context, or None
    to stay out of the way (``start`` said so, or failed)."""
    try:
        scope = start(instance, args, kwargs)
    except Exception:
        failed(start)
        return None
    if scope is None:
        return None
    before = current()
    try:
        scope.activate()
    except Exception:
        failed(scope.activate)
    return scope, before


def _exit(entered: tuple[Scope, Context],
          finish: Callable[[Any, BaseException | None, Any], None] | None,
          exception: BaseException | None, result: Any) -> None:
    """``leave`` the scope, then ``finish`` it with the call's outcome."""
    scope = entered[0]
    leave(scope, entered[1])
    if finish is not None:
        try:
            finish(scope, exception, result)
        except Exception:
            failed(finish)


def leave(scope: Scope, before: Context) -> None:
    """Deactivate the scope; whatever happened there, the caller's context is current again."""
    try:
        scope.deactivate()
    except Exception:
        failed(scope.deactivate)
    if current() is not before:
        attach(before)


def end_span(execution: Any, exception: BaseException | None, result: Any) -> None:
    """The ``finish`` of an ``around`` whose scope is a plain ``ExecutionSpan``."""
    execution.finish(exception=exception)


def observe(hook: Callable[[Any, tuple[Any, ...], dict[str, Any], Any], None], *,
            always: bool = False) -> Callable[..., Any]:
    """A wrapper that lets the call run, then shows ``hook`` what it returned."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        outcome = wrapped(*args, **kwargs)
        if always or instrumentation_enabled():
            contained(hook, instance, args, kwargs, outcome)
        return outcome

    return wrapper


def replacing(hook: Callable[..., None], *, after: bool = False, always: bool = False,
              least_args: int = 0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``before(hook)`` (or ``observe(hook)`` when ``after``) as a plain function replacing the
    method or classmethod (``Replace``), for a wrap point on an execution's hot
    path: the hook is called from the replacement itself, without a wrapper call or a bound
    method. ``least_args``: the hook sees only the calls with at least that many positional
    arguments (after ``self``); the others go straight through."""

    def replace(original: Callable[..., Any]) -> Callable[..., Any]:
        if after:
            def replacement(self: Any, *args: Any, **kwargs: Any) -> Any:
                outcome = original(self, *args, **kwargs)
                if len(args) >= least_args and (always or instrumentation_enabled()):
                    try:  # contained(), without its call
                        hook(self, args, kwargs, outcome)
                    except Exception:
                        failed(hook)
                return outcome
        else:
            def replacement(self: Any, *args: Any, **kwargs: Any) -> Any:
                if len(args) >= least_args and instrumentation_enabled():
                    try:
                        hook(self, args, kwargs)
                    except Exception:
                        failed(hook)
                return original(self, *args, **kwargs)

        if inspect.iscoroutinefunction(original):
            mark_coroutine_function(replacement)
        return replacement

    return replace


def binding(variable: ContextVar[Any], value: Callable[[tuple[Any, ...], dict[str, Any]], Any],
            done: Callable[[Any], None] | None = None, *, always: bool = False,
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A plain function replacing a synchronous function or method (``Replace``):
    ``variable`` is ``value(args, kwargs)`` while the call runs (``args`` as the call gave
    them, a method's ``self`` first), then ``done(that value)`` runs, whatever the call did.

    For a wrap point with nothing to make current but a context variable it is what ``around``
    with a scope does, with less work per call (no wrapper call, bound method, scope object
    or OpenTelemetry context to restore). ``value`` failing leaves the
    call untouched; ``done`` failing is logged. ``always``: also while instrumentation is
    suppressed (bookkeeping that must match what was counted earlier).
    """

    def replace(original: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(original):
            raise TypeError(f"binding() needs a synchronous function, not {original!r}")

        def replacement(*args: Any, **kwargs: Any) -> Any:
            if not (always or instrumentation_enabled()):
                return original(*args, **kwargs)
            try:
                bound = value(args, kwargs)
            except Exception:
                failed(value)
                return original(*args, **kwargs)
            token = variable.set(bound)
            try:
                return original(*args, **kwargs)
            finally:
                variable.reset(token)
                if done is not None:
                    try:  # contained(), without its call
                        done(bound)
                    except Exception:
                        failed(done)

        return replacement

    return replace


def before(hook: Callable[[Any, tuple[Any, ...], dict[str, Any]], None],
           ) -> Callable[..., Any]:
    """A wrapper that shows ``hook`` the call's arguments, then lets the call run."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if instrumentation_enabled():
            contained(hook, instance, args, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper
