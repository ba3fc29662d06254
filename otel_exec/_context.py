"""The OpenTelemetry context on the wrappers' hot path, without the API's layers.

Every wrapper asks whether instrumentation is suppressed, remembers the caller's context and
makes its span current: through the API that is three Python calls each time
(``get_current`` → the runtime context → its ``ContextVar``), a fifth of the calls otel_exec
adds to an FSM transition. When the runtime context is the default one (a ``ContextVar``,
checked once at import), these functions are that variable's own methods; with any other
runtime context (``OTEL_PYTHON_CONTEXT``) they are the API's.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage
from opentelemetry import context as context_api
from opentelemetry.instrumentation import utils as instrumentation_utils

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry.context import Context


def _variable(runtime: Any) -> contextvars.ContextVar[Context] | None:
    """The ``ContextVar`` the default runtime context keeps the context in (None for another
    runtime context)."""
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    variable = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(variable,
                                                                 contextvars.ContextVar):
        return variable
    return None


_SUPPRESSED: tuple[Any, ...] = tuple(getattr(instrumentation_utils, name, None) for name in (
    "_SUPPRESS_INSTRUMENTATION_KEY", "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN"))
"""The keys ``is_instrumentation_enabled`` reads (both must be found for the fast path)."""
VARIABLE = _variable(getattr(context_api, "_RUNTIME_CONTEXT", None)) if all(
    _SUPPRESSED) else None

current: Callable[[], Context]
attach: Callable[[Context], object]
instrumentation_enabled: Callable[[], bool]

if VARIABLE is None:
    current = context_api.get_current
    attach = context_api.attach
    instrumentation_enabled = instrumentation_utils.is_instrumentation_enabled
else:
    current = VARIABLE.get
    attach = VARIABLE.set
    _first, _plain = _SUPPRESSED

    def instrumentation_enabled() -> bool:
        """``is_instrumentation_enabled()``: neither suppression key is set."""
        context = VARIABLE.get()  # type: ignore[union-attr]
        return not (context.get(_first) or context.get(_plain))


def detach(token: Any) -> None:
    """Restore the context from before ``attach``; never raises (the API logs a token that
    cannot be reset, as ``context.detach`` does)."""
    if VARIABLE is None:
        context_api.detach(token)
        return
    try:
        VARIABLE.reset(token)
    except Exception:
        context_api.detach(token)


IN_EXECUTION = context_api.create_key("otel_exec.in_execution")
"""Set (True) in the context of every otel_exec execution, so in every context started from
it (a task it spawned included, even one that outlives it): what tells a store that another
instrumentation's span belongs to a trace with an execution without looking the trace up."""

RUN_ATTRIBUTES = context_api.create_key("otel_exec.run_attributes")
"""Where ``otel_exec.attributes(...)`` keeps, in the OpenTelemetry context, the attributes
every execution started inside gets (the context carries them wherever it goes: tasks,
``asyncio.to_thread``, the frameworks' own hand-offs)."""

run_attributes_used = False
"""Whether any run attributes may be in a context: set by the first ``otel_exec.attributes``
block (or by baggage becoming attributes), so spans pay nothing for them before."""
baggage_to_attributes: Callable[[Mapping[str, object]], dict[str, Any]] | None = None
"""Set by ``configure(baggage=True)``: W3C baggage entries made into (bounded, scrubbed)
attributes for the spans started under them."""


def run_attributes(context: Context) -> Mapping[str, Any] | None:
    """The attributes every span started in ``context`` gets: ``otel_exec.attributes`` blocks
    over, when turned on, the W3C baggage that came with the context."""
    run: Mapping[str, Any] | None = context.get(RUN_ATTRIBUTES)  # type: ignore[assignment]
    if baggage_to_attributes is not None:
        entries = baggage.get_all(context)
        if entries:
            run = {**baggage_to_attributes(entries), **(run or {})}
    return run
