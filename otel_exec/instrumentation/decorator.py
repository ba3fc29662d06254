"""``@traced``: any Python callable as an execution span.

```python
import otel_exec

@otel_exec.traced()
async def fetch(n: int) -> list[int]: ...

@otel_exec.traced(name="load", kind="step")
def load(path: str) -> bytes: ...
```

Functions, methods, coroutines, generators and async generators keep their signature, their
sync/async nature and their return value; exceptions pass through unchanged. A generator's span
covers the whole iteration, but is current only while the generator's own code runs, so the
consumer's work between items is not counted as its child.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from otel_exec import semconv
from otel_exec._context import attach, detach, instrumentation_enabled
from otel_exec.execution import MISSING
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, get_tracer, write_value_texts
from otel_exec.values import ValuePolicy, policy

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator, Mapping

_SCOPE = "otel_exec.traced"
P = ParamSpec("P")
R = TypeVar("R")
_logger = logging.getLogger(__name__)


@overload
def traced(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced(func: None = None, /, *, name: str | None = None,
           kind: str = semconv.KIND_FUNCTION, framework: str = semconv.FRAMEWORK_PYTHON,
           capture_args: bool = True, capture_result: bool = True,
           attributes: Mapping[str, Any] | None = None,
           ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def traced(func: Callable[P, R] | None = None, /, *, name: str | None = None,
           kind: str = semconv.KIND_FUNCTION, framework: str = semconv.FRAMEWORK_PYTHON,
           capture_args: bool = True, capture_result: bool = True,
           attributes: Mapping[str, Any] | None = None,
           ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Trace every call of a function as an execution span.

    ```python
    @traced
    def step(x): ...

    @traced(name="charge", capture_args=False)
    async def charge(card, amount): ...
    ```

    Args:
        name: Span and registry name; the function's qualified name by default.
        kind: ``exec.kind`` of the span.
        framework: ``exec.framework`` of the span.
        capture_args: Keep args/kwargs (real objects in-process, scrubbed text on the span).
        capture_result: Keep the result the same way.
        attributes: Extra constant span attributes.
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        if isinstance(target, (classmethod, staticmethod)):
            return cast("Callable[P, R]", type(target)(decorate(target.__func__)))
        if not callable(target):
            raise TypeError(f"@traced needs a callable, not {type(target).__name__}")
        return _wrap(target, _Plan(target, name, kind, framework, capture_args, capture_result,
                                   attributes))

    if func is not None:
        return decorate(func)
    return decorate


class _Plan:
    """Everything about a traced function that is known at decoration time."""

    __slots__ = ("_sensitive", "attributes", "capture_args", "capture_result", "framework",
                 "kind", "name", "parameters")

    def __init__(self, func: Callable[..., Any], name: str | None, kind: str, framework: str,
                 capture_args: bool, capture_result: bool,
                 attributes: Mapping[str, Any] | None) -> None:
        qualname = getattr(func, "__qualname__", None) or repr(func)
        module = getattr(func, "__module__", None)
        self.name = name or qualname
        self.kind = kind
        self.framework = framework
        self.capture_args = capture_args
        self.capture_result = capture_result
        self.attributes = {semconv.CODE_FUNCTION_NAME: f"{module}.{qualname}" if module
                           else qualname, **(attributes or {})}
        self.parameters = _positional_parameters(func)
        self._sensitive: tuple[ValuePolicy, frozenset[int]] | None = None

    def _sensitive_positions(self, values: ValuePolicy) -> frozenset[int]:
        """Positions of the parameters whose names say secret under ``values``."""
        return frozenset(position for position, name in enumerate(self.parameters)
                         if values.is_sensitive(name))

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ExecutionSpan | None:
        """Start the span, or None when tracing is suppressed or our own code fails."""
        if not instrumentation_enabled():
            return None
        try:
            tracer = get_tracer(_SCOPE)
            if not self.capture_args:
                return ExecutionSpan(tracer, self.name, kind=self.kind,
                                     framework=self.framework, attributes=self.attributes)
            values = policy()
            known = self._sensitive
            if known is None or known[0] is not values:  # under the policy in force now, so
                # configure(sensitive_keys=...) applies to functions decorated before it
                known = self._sensitive = (values, self._sensitive_positions(values))
            attributes = dict(self.attributes)
            write_value_texts(attributes, values, args, kwargs, known[1])
            return ExecutionSpan(tracer, self.name, kind=self.kind, framework=self.framework,
                                 attributes=attributes, args=args, kwargs=kwargs)
        except Exception:
            _logger.warning("otel_exec: could not start a span for %r", self.name, exc_info=True)
            return None


def _positional_parameters(func: Callable[..., Any]) -> tuple[str, ...]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(parameter.name for parameter in parameters
                 if parameter.kind in (parameter.POSITIONAL_ONLY,
                                       parameter.POSITIONAL_OR_KEYWORD))


def _wrap(func: Callable[P, R], plan: _Plan) -> Callable[P, R]:
    if inspect.isasyncgenfunction(func):
        wrapper: Callable[..., Any] = _async_generator_wrapper(func, plan)
    elif inspect.isgeneratorfunction(func):
        wrapper = _generator_wrapper(func, plan)
    elif inspect.iscoroutinefunction(func):
        wrapper = _coroutine_wrapper(func, plan)
    else:
        wrapper = _function_wrapper(func, plan)
    return cast("Callable[P, R]", functools.wraps(func)(wrapper))


def _function_wrapper(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        execution = plan.begin(args, kwargs)
        if execution is None:
            return func(*args, **kwargs)
        token = attach(execution.context)  # current while it runs, as activate() makes it
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            detach(token)
            execution.finish(exception=exc)
            raise
        detach(token)
        execution.finish(result if plan.capture_result else MISSING)
        return result

    return wrapper


def _coroutine_wrapper(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        execution = plan.begin(args, kwargs)
        if execution is None:
            return await func(*args, **kwargs)
        token = attach(execution.context)  # current while it runs, as activate() makes it
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            detach(token)
            execution.finish(exception=exc)
            raise
        detach(token)
        execution.finish(result if plan.capture_result else MISSING)
        return result

    return wrapper


class _Untraced:
    """Stands in for the span of a generator whose tracing is suppressed."""

    def activate(self) -> None:
        pass

    def deactivate(self) -> None:
        pass

    def finish(self, *args: Any, **kwargs: Any) -> None:
        pass


_UNTRACED: Any = _Untraced()


class _GeneratorRun:
    """The span of one run of a traced generator (sync or async): current while the generator
    runs, counting the items it yields, finished by its end, its failure or its closing."""

    __slots__ = ("execution", "items")

    def __init__(self, execution: Any) -> None:
        self.execution = execution
        self.items = 0

    def resumed(self) -> None:
        self.execution.activate()

    def yielded(self) -> None:
        self.execution.deactivate()
        self.items += 1

    def ended(self, result: Any = MISSING) -> None:
        self.execution.deactivate()
        self.execution.finish(result, attributes={semconv.EXEC_ITEMS: self.items})

    def failed(self, exc: BaseException) -> None:
        self.execution.deactivate()
        self.execution.finish(exception=exc, attributes={semconv.EXEC_ITEMS: self.items})

    def closed(self) -> None:
        self.execution.deactivate()
        self.execution.finish(status=ExecStatus.CANCELLED,
                              attributes={semconv.EXEC_ITEMS: self.items})


def _generator_wrapper(func: Callable[..., Generator[Any, Any, Any]],
                       plan: _Plan) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        generator = func(*args, **kwargs)
        run = _GeneratorRun(plan.begin(args, kwargs) or _UNTRACED)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            run.resumed()
            try:
                item = generator.send(sent) if thrown is None else generator.throw(thrown)
            except StopIteration as stop:
                run.ended(stop.value if plan.capture_result else MISSING)
                return stop.value
            except BaseException as exc:
                run.failed(exc)
                raise
            run.yielded()
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                run.resumed()
                try:
                    generator.close()
                except BaseException as exc:
                    run.failed(exc)
                    raise
                run.closed()
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _async_generator_wrapper(func: Callable[..., AsyncGenerator[Any, Any]],
                             plan: _Plan) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        generator = func(*args, **kwargs)
        run = _GeneratorRun(plan.begin(args, kwargs) or _UNTRACED)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            run.resumed()
            try:
                item = await (generator.asend(sent) if thrown is None
                              else generator.athrow(thrown))
            except StopAsyncIteration:
                run.ended()
                return
            except BaseException as exc:
                run.failed(exc)
                raise
            run.yielded()
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                run.resumed()
                try:
                    await generator.aclose()
                except BaseException as exc:
                    run.failed(exc)
                    raise
                run.closed()
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper
