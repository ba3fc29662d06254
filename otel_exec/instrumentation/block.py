"""``otel_exec.span``: any block of code as an execution span, sync or async.

```python
with otel_exec.span("load batch", batch=n) as block:
    rows = load(n)
    block.result = len(rows)          # optional: shown as the result, as @traced shows one

async with otel_exec.span("publish"):
    await publish()
```

The same rules as ``@traced``: the span is current inside the block (spans started there are
its children), an exception is recorded (failed, ``error.type``, the bounded and scrubbed
exception event) and re-raised untouched, keyword values become scrubbed ``exec.kwargs``, and
the execution is in every view. Nothing of ours ever raises into the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_exec import semconv
from otel_exec._context import current, instrumentation_enabled
from otel_exec.execution import MISSING
from otel_exec.instrumentation._wrappers import failed, leave
from otel_exec.spans import ExecutionSpan, get_tracer, write_value_texts
from otel_exec.values import policy

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

_SCOPE = "otel_exec.span"


class span:
    """A block of code as an execution span (``with`` or ``async with``).

    Args:
        name: Span and registry name.
        kind: ``exec.kind`` of the span (``block`` by default).
        framework: ``exec.framework`` of the span.
        attributes: Extra constant span attributes: texts bounded and scrubbed like every
            recorded text (a value under a sensitive name redacted whole).
        scrub: False sets ``attributes`` exactly as given (what you know holds no secret).
        **values: Values the block works on: recorded like a function's keyword arguments
            (real objects in-process, scrubbed and bounded text on the span).
    """

    __slots__ = ("_attributes", "_before", "_execution", "_framework", "_kind", "_name",
                 "_scrub", "_values", "result")

    def __init__(self, name: str, /, *, kind: str = semconv.KIND_BLOCK,
                 framework: str = semconv.FRAMEWORK_PYTHON,
                 attributes: Mapping[str, Any] | None = None, scrub: bool = True,
                 **values: Any) -> None:
        self._name = name
        self._scrub = scrub
        self._kind = kind
        self._framework = framework
        self._attributes = attributes
        self._values = values
        self._execution: ExecutionSpan | None = None
        self.result: Any = MISSING
        """Set it inside the block to record a result."""

    def __enter__(self) -> span:
        if not instrumentation_enabled():
            return self
        self._before = current()
        try:  # each piece of ours contained as ``contained`` does, without its call
            execution = self._execution = self._start()
        except Exception:
            failed(self._start)
            return self
        try:
            execution.activate()
        except Exception:
            failed(execution.activate)
        return self

    def _start(self) -> ExecutionSpan:
        values = policy()
        given = self._attributes or {}
        attributes = ({key: values.attribute(key, value) for key, value in given.items()}
                      if self._scrub else dict(given))
        write_value_texts(attributes, values, kwargs=self._values)
        return ExecutionSpan(get_tracer(_SCOPE), self._name, kind=self._kind,
                             framework=self._framework, attributes=attributes,
                             kwargs=self._values)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        execution, self._execution = self._execution, None
        if execution is not None:
            leave(execution, self._before)
            try:
                execution.finish(self.result, exception=exc)
            except Exception:
                failed(execution.finish)

    async def __aenter__(self) -> span:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)
