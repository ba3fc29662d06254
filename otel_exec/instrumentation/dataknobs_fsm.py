"""Instrument `dataknobs-fsm`_: every FSM run a trace, every state visit a step span.

```python
import otel_exec
otel_exec.instrument("dataknobs_fsm")
fsm = SimpleFSM(config, custom_functions=functions)
fsm.process({"amount": 50})
otel_exec.history().get_summary()        # dataknobs' ExecutionHistory API, built from the spans
```

Span model (dataknobs-fsm 0.5, async engine)::

    fsm.batch / fsm.stream  (process_batch / process_stream)
    └─ fsm.stream.chunk     (one per chunk: size, records processed)
       └─ fsm.run <fsm>     (AsyncExecutionEngine.execute: one per record)
          ├─ step <state>   (state visit: completed / failed / skipped, arc taken, network, mode)
          │  ├─ resource <name>        (ResourceManager.acquire while the state or arc works)
          │  └─ arc <name>             (the outgoing transition; retries as events)
          └─ subnetwork <name>         (push arc: linked to the arc that pushed)
             └─ step <state> ...

Per-run state lives on the run's own ``ExecutionContext`` (never on the shared engine), and the
step span is made current only while the engine works for that state, so user spans nest under
the right step in every thread ``asyncio.to_thread`` uses.

.. _dataknobs-fsm: https://pypi.org/project/dataknobs-fsm/
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Link

from otel_exec import semconv
from otel_exec.instrumentation._patching import Patch, apply, restore
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, exception_type, get_tracer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from opentelemetry.trace import Tracer

_instruments = ("dataknobs-fsm >= 0.3",)
_SCOPE = "otel_exec.dataknobs_fsm"
_RUN = "_otel_exec_fsm_run"
_logger = logging.getLogger(__name__)
_options: dict[str, Any] = {}


def _tracer() -> Tracer:
    return get_tracer(_SCOPE, _options.get("provider"))


class _Step:
    """One state visit: its span and the verdict gathered while the engine works on it."""

    __slots__ = ("arc_taken", "description", "exception", "execution", "state", "status")

    def __init__(self, execution: ExecutionSpan, state: str) -> None:
        self.execution = execution
        self.state = state
        self.status: ExecStatus | None = None
        self.exception: BaseException | None = None
        self.description: str | None = None
        self.arc_taken: str | None = None

    def fail(self, exception: BaseException | None = None, description: str | None = None) -> None:
        if self.status is not ExecStatus.FAILED:
            self.status, self.exception, self.description = (
                ExecStatus.FAILED, exception, description)

    def close(self) -> None:
        attributes: dict[str, Any] = {}
        if self.arc_taken is not None:
            attributes[semconv.FSM_ARC_TAKEN] = self.arc_taken
        if self.description is not None:
            attributes[semconv.FSM_ERROR] = self.description
        self.execution.finish(exception=self.exception, status=self.status,
                              attributes=attributes, description=self.description)


class _Arc:
    __slots__ = ("attempts", "execution", "last_error", "name", "source")

    def __init__(self, execution: ExecutionSpan, name: str, source: _Step | None) -> None:
        self.execution = execution
        self.name = name
        self.source = source
        self.attempts = 0
        self.last_error: BaseException | None = None


class _Run:
    """What one FSM run (one ExecutionContext) has open: run, sub-network and step spans."""

    __slots__ = ("arc", "base_depth", "execution", "failed_states", "fsm", "main_network",
                 "step", "subnetworks")

    def __init__(self, execution: ExecutionSpan, fsm: Any, context: Any) -> None:
        self.execution = execution
        self.fsm = fsm
        self.main_network = str(getattr(fsm, "main_network_name", None) or "main")
        self.step: _Step | None = None
        self.arc: _Arc | None = None
        self.subnetworks: list[tuple[str, ExecutionSpan]] = []
        self.base_depth = len(getattr(context, "network_stack", ()) or ())
        self.failed_states: set[str] = set()

    def container(self) -> ExecutionSpan:
        return self.subnetworks[-1][1] if self.subnetworks else self.execution

    def network(self, context: Any) -> str:
        stack = getattr(context, "network_stack", None)
        return str(stack[-1][0]) if stack else self.main_network

    def sync_networks(self, context: Any) -> None:
        """Open / close sub-network spans as the context's network stack grew or shrank."""
        stack = list(getattr(context, "network_stack", ()) or ())
        depth = len(stack) - self.base_depth
        while len(self.subnetworks) > max(depth, 0):
            self.subnetworks.pop()[1].finish()
        while len(self.subnetworks) < depth:
            name = str(stack[self.base_depth + len(self.subnetworks)][0])
            links = [Link(self.arc.execution.span.get_span_context())] if self.arc else None
            span = ExecutionSpan(_tracer(), f"subnetwork {name}", kind=semconv.KIND_SUBNETWORK,
                                 framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                                 attributes={semconv.FSM_NETWORK: name},
                                 links=links, parent=self.container().context)
            self.subnetworks.append((name, span))

    def enter(self, state: str, context: Any) -> None:
        """A state was entered: the previous step ends (unless its arc is still running)."""
        previous = self.step
        if previous is not None and (self.arc is None or self.arc.source is not previous):
            previous.close()
        self.sync_networks(context)
        network = self.network(context)
        attributes: dict[str, Any] = {semconv.FSM_STATE: state, semconv.FSM_NETWORK: network}
        mode = _state_data_mode(self.fsm, network, state)
        if mode is not None:
            attributes[semconv.FSM_DATA_MODE] = mode
        self.step = _Step(ExecutionSpan(
            _tracer(), f"step {state}", kind=semconv.KIND_STEP,
            framework=semconv.FRAMEWORK_DATAKNOBS_FSM, attributes=attributes,
            parent=self.container().context), state)

    def close(self, ok: bool, error: str | None) -> None:
        """The run ended: close what is still open, blaming the last step for a failure nobody
        else took (no valid transition, too many transitions)."""
        step, self.step = self.step, None
        if step is not None:
            if not ok and not self.failed_states and step.status is None:
                step.fail(description=error)
            step.close()
        while self.subnetworks:
            self.subnetworks.pop()[1].finish()


def _state_data_mode(fsm: Any, network: str, state: str) -> str | None:
    try:
        mode = fsm.networks[network].states[state].data_mode
    except (AttributeError, KeyError, TypeError):
        return None
    return None if mode is None else str(getattr(mode, "value", mode))


def _arc_name(arc: Any, source: str | None) -> str:
    metadata = getattr(arc, "metadata", None) or {}
    return str(metadata.get("name") or f"{source}->{arc.target_state}")


async def _wrap_run(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                    args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    context = args[0] if args else kwargs.get("context") or kwargs.get("child_context")
    if (not is_instrumentation_enabled() or context is None
            or getattr(context, _RUN, None) is not None):
        return await wrapped(*args, **kwargs)
    try:
        fsm = instance.fsm
        mode = getattr(getattr(context, "data_mode", None), "value", None)
        attributes: dict[str, Any] = {semconv.FSM_NAME: str(getattr(fsm, "name", "fsm"))}
        if mode is not None:
            attributes[semconv.FSM_PROCESSING_MODE] = str(mode)
        execution = ExecutionSpan(_tracer(), f"fsm.run {attributes[semconv.FSM_NAME]}",
                                  kind=semconv.KIND_FSM_RUN,
                                  framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                                  attributes=attributes)
        run = _Run(execution, fsm, context)
        setattr(context, _RUN, run)
        if context.current_state:  # set before the run (ContextFactory, batch/stream executors)
            run.enter(str(context.current_state), context)
    except Exception:
        _logger.warning("otel_exec: could not start an FSM run span", exc_info=True)
        return await wrapped(*args, **kwargs)
    execution.activate()
    try:
        outcome = await wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.deactivate()
        run.close(False, str(exc))
        execution.finish(exception=exc)
        delattr(context, _RUN)
        raise
    execution.deactivate()
    _finish_run(run, outcome)
    delattr(context, _RUN)
    return outcome


def _finish_run(run: _Run, outcome: Any) -> None:
    try:
        ok, value = outcome
        ok = bool(ok)
    except (TypeError, ValueError):
        ok, value = True, outcome
    error = None if ok else str(value)
    run.close(ok, error)
    attributes: dict[str, Any] = {}
    if run.failed_states:
        attributes[semconv.FSM_FAILED_STATES] = sorted(run.failed_states)
    if error is not None:
        attributes[semconv.FSM_ERROR] = error
    run.execution.finish(value if ok else None,
                         status=ExecStatus.COMPLETED if ok else ExecStatus.FAILED,
                         attributes=attributes, description=error)


def _wrap_set_state(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    run = getattr(instance, _RUN, None)
    if run is not None and is_instrumentation_enabled():
        try:
            run.enter(str(args[0] if args else kwargs["state_name"]), instance)
        except Exception:
            _logger.warning("otel_exec: could not open an FSM step span", exc_info=True)
    return outcome


async def _wrap_state_work(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Make the state's step span current while the engine establishes it (resources,
    pre-validators, transforms), so their spans and the user's nest under the step."""
    context = args[0] if args else kwargs.get("context")
    run = getattr(context, _RUN, None)
    step = run.step if run is not None else None
    if step is None:
        return await wrapped(*args, **kwargs)
    step.execution.activate()
    try:
        entered = await wrapped(*args, **kwargs)
    finally:
        step.execution.deactivate()
    if entered is False and step.status is None:
        step.fail(description=str(getattr(context, "last_error", None) or "entry rejected"))
    return entered


async def _wrap_transition(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    arc: Any = args[0] if args else kwargs.get("arc")
    context = args[1] if len(args) > 1 else kwargs.get("context")
    run = getattr(context, _RUN, None)
    if run is None or arc is None or not is_instrumentation_enabled():
        return await wrapped(*args, **kwargs)
    source = run.step
    name = _arc_name(arc, source.state if source else getattr(context, "current_state", None))
    target_network = getattr(arc, "target_network", None)
    attributes: dict[str, Any] = {semconv.FSM_ARC_NAME: name,
                                  semconv.FSM_ARC_TARGET: str(arc.target_state),
                                  semconv.FSM_ARC_PUSH: target_network is not None}
    if source is not None:
        attributes[semconv.FSM_ARC_SOURCE] = source.state
    if target_network is not None:
        attributes[semconv.FSM_ARC_TARGET_NETWORK] = str(target_network)
    parent = source.execution.context if source is not None else run.container().context
    flight = _Arc(ExecutionSpan(_tracer(), f"arc {name}", kind=semconv.KIND_ARC,
                                framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                                attributes=attributes, parent=parent), name, source)
    run.arc = flight
    flight.execution.activate()
    try:
        ok = await wrapped(*args, **kwargs)
    except BaseException as exc:
        flight.execution.deactivate()
        run.arc = None
        flight.execution.finish(exception=exc)
        raise
    flight.execution.deactivate()
    run.arc = None
    _finish_transition(run, flight, bool(ok), context)
    return ok


def _finish_transition(run: _Run, flight: _Arc, ok: bool, context: Any) -> None:
    """End the arc; the source step ends with it (arc taken, or failed with the arc's error),
    unless the arc neither failed nor entered a target, in which case the step goes on."""
    source = flight.source
    entered = run.step if run.step is not source else None
    attributes = {semconv.FSM_ARC_ATTEMPTS: (flight.attempts + ok) or 1}
    reason = None
    if ok:
        flight.execution.finish(status=ExecStatus.COMPLETED, attributes=attributes)
    else:
        reason = (None if flight.last_error is not None
                  else str(getattr(context, "last_error", None) or "transition failed"))
        flight.execution.finish(exception=flight.last_error, status=ExecStatus.FAILED,
                                attributes=attributes, description=reason)
        if entered is not None:  # the target rejected entry (pre-validation)
            entered.fail(description=str(getattr(context, "last_error", None) or reason))
    if source is None:
        return
    if ok or entered is not None:
        source.arc_taken = flight.name
    else:
        source.fail(flight.last_error, reason)
    if entered is not None or not ok:
        source.close()
        if run.step is source:
            run.step = None


async def _wrap_fire_hooks(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Error hooks fire once per failed arc attempt, with the exception: count them."""
    if len(args) >= 4 and args[0] is getattr(instance, "_error_hooks", None):
        run = getattr(args[1], _RUN, None)
        flight = run.arc if run is not None else None
        if flight is not None:
            error = args[3]
            flight.attempts += 1
            flight.last_error = error
            flight.execution.add_event(semconv.FSM_ARC_ATTEMPT_EVENT, {
                semconv.FSM_ARC_ATTEMPT: flight.attempts,
                semconv.EXCEPTION_TYPE: exception_type(error),
                semconv.EXCEPTION_MESSAGE: str(error)})
    return await wrapped(*args, **kwargs)


def _wrap_transform_error(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Any:
    outcome = wrapped(*args, **kwargs)
    error = args[0] if args else kwargs.get("error")
    context = args[1] if len(args) > 1 else kwargs.get("context")
    state = args[2] if len(args) > 2 else kwargs.get("state_name")
    run = getattr(context, _RUN, None)
    if run is not None:
        run.failed_states.add(str(state))
        if run.step is not None and run.step.state == state:
            run.step.fail(error)
    return outcome


def _wrap_should_skip(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
    skip = wrapped(*args, **kwargs)
    context = args[0] if args else kwargs.get("context")
    run = getattr(context, _RUN, None)
    if skip and run is not None and run.step is not None and run.step.status is None:
        run.step.status = ExecStatus.SKIPPED
        run.step.description = "skipped: an earlier state failed"
    return skip


def _wrap_acquire(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    name = str(args[0] if args else kwargs.get("name"))
    owner = args[1] if len(args) > 1 else kwargs.get("owner_id")
    with ExecutionSpan(_tracer(), f"resource {name}", kind=semconv.KIND_RESOURCE,
                       framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                       attributes={semconv.FSM_RESOURCE_NAME: name,
                                   semconv.FSM_RESOURCE_OWNER: str(owner)}):
        return wrapped(*args, **kwargs)


async def _wrap_group(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A batch or a stream: the parent of its record runs."""
    if not is_instrumentation_enabled():
        return await wrapped(*args, **kwargs)
    kind = semconv.KIND_BATCH if "Batch" in type(instance).__name__ else semconv.KIND_STREAM
    name = str(getattr(getattr(instance, "fsm", None), "name", "fsm"))
    with ExecutionSpan(_tracer(), f"fsm.{kind} {name}", kind=kind,
                       framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                       attributes={semconv.FSM_NAME: name}) as execution:
        outcome = await wrapped(*args, **kwargs)
        execution.set_attributes(_progress_attributes(outcome))
        return outcome


def _progress_attributes(progress: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for field, attribute in ((("chunks_processed", "total_chunks"), semconv.FSM_CHUNKS),
                             (("records_processed", "total_processed", "total_records"),
                              semconv.FSM_RECORDS)):
        for name in field:
            value = getattr(progress, name, None)
            if isinstance(value, int):
                attributes[attribute] = value
                break
    errors = getattr(progress, "errors", None)
    if isinstance(errors, (list, tuple)):
        attributes[semconv.FSM_RECORD_ERRORS] = len(errors)
    elif isinstance(errors, int):
        attributes[semconv.FSM_RECORD_ERRORS] = errors
    return attributes


async def _wrap_chunk(wrapped: Callable[..., Awaitable[Any]], instance: Any,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not is_instrumentation_enabled():
        return await wrapped(*args, **kwargs)
    items = args[0] if args else kwargs.get("items", ())
    number = args[1] if len(args) > 1 else kwargs.get("chunk_num", 0)
    progress = args[4] if len(args) > 4 else kwargs.get("progress")
    before = getattr(progress, "errors", None)
    errors_before = len(before) if isinstance(before, list) else 0
    with ExecutionSpan(_tracer(), f"fsm.stream.chunk {number}", kind=semconv.KIND_CHUNK,
                       framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                       attributes={semconv.FSM_CHUNK_INDEX: int(number),
                                   semconv.FSM_CHUNK_SIZE: len(items)}) as execution:
        outcome = await wrapped(*args, **kwargs)
        after = getattr(progress, "errors", None)
        execution.set_attributes({
            **_progress_attributes(progress),
            semconv.FSM_CHUNK_ERRORS: (len(after) if isinstance(after, list) else 0)
            - errors_before})
        return outcome


PATCHES: tuple[Patch, ...] = (
    ("dataknobs_fsm.execution.async_engine", "AsyncExecutionEngine.execute", _wrap_run),
    ("dataknobs_fsm.execution.async_engine", "AsyncExecutionEngine._enter_and_execute_child",
     _wrap_run),
    ("dataknobs_fsm.execution.context", "ExecutionContext.set_state", _wrap_set_state),
    ("dataknobs_fsm.execution.async_engine", "AsyncExecutionEngine._establish_state",
     _wrap_state_work),
    ("dataknobs_fsm.execution.async_engine", "AsyncExecutionEngine._execute_transition",
     _wrap_transition),
    ("dataknobs_fsm.execution.async_engine", "AsyncExecutionEngine._fire_hooks",
     _wrap_fire_hooks),
    ("dataknobs_fsm.execution.base_engine", "BaseExecutionEngine.handle_transform_error",
     _wrap_transform_error),
    ("dataknobs_fsm.execution.base_engine", "BaseExecutionEngine.should_skip_state_transforms",
     _wrap_should_skip),
    ("dataknobs_fsm.resources.manager", "ResourceManager.acquire", _wrap_acquire),
    ("dataknobs_fsm.execution.async_batch", "AsyncBatchExecutor.execute_batch", _wrap_group),
    ("dataknobs_fsm.execution.async_stream", "AsyncStreamExecutor.execute_stream", _wrap_group),
    ("dataknobs_fsm.execution.async_stream", "AsyncStreamExecutor._process_chunk", _wrap_chunk),
)


class DataknobsFSMInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """``BaseInstrumentor`` for dataknobs-fsm (0.3+, async engine).

    ``instrument(tracer_provider=...)`` sends the spans to that provider instead of the global
    one. Configures otel_exec (the in-memory store on the global provider) if that has not been
    done, so ``otel_exec.history()`` works under ``opentelemetry-instrument`` too.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from otel_exec.config import ensure_configured

        ensure_configured()
        _options["provider"] = kwargs.get("tracer_provider")
        apply(PATCHES)

    def _uninstrument(self, **kwargs: Any) -> None:
        restore(PATCHES)
