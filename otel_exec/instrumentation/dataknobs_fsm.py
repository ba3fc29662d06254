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

from typing import Any

from opentelemetry.trace import Link

from otel_exec import semconv
from otel_exec.execution import MISSING
from otel_exec.instrumentation._instrumentor import ExecInstrumentor
from otel_exec.instrumentation._patching import Patch, Replace, WrapPoint
from otel_exec.instrumentation._wrappers import (
    ContextScope,
    argument,
    around,
    around_async,
    end_span,
    observe,
    replacing,
)
from otel_exec.semconv import ExecStatus
from otel_exec.spans import ExecutionSpan, exception_attributes, get_tracer
from otel_exec.values import policy

_instruments = ("dataknobs-fsm >= 0.5, < 0.6",)
_SCOPE = "otel_exec.dataknobs_fsm"
_RUN = "_otel_exec_fsm_run"


class _Step(ContextScope):
    """One state visit: its span and the verdict gathered while the engine works on it."""

    __slots__ = ("arc_taken", "description", "exception", "execution", "run", "state", "status")

    def __init__(self, execution: ExecutionSpan, state: str, run: _Run) -> None:
        self.execution = execution
        self.state = state
        self.run = run
        self.status: ExecStatus | None = None
        self.exception: BaseException | None = None
        self.description: str | None = None
        self.arc_taken: str | None = None

    def fail(self, exception: BaseException | None = None, description: str | None = None) -> None:
        if self.status is not ExecStatus.FAILED:
            self.status, self.exception = ExecStatus.FAILED, exception
            self.description = None if description is None else policy().message(description)

    def close(self) -> None:
        attributes: dict[str, Any] = {}
        if self.arc_taken is not None:
            attributes[semconv.FSM_ARC_TAKEN] = self.arc_taken
        if self.description is not None:
            attributes[semconv.FSM_ERROR] = self.description
        self.execution.finish(exception=self.exception, status=self.status,
                              attributes=attributes, description=self.description)


class _Arc:
    """One transition in flight: its span, current while the engine works on it."""

    __slots__ = ("attempts", "execution", "last_error", "name", "run", "source")

    def __init__(self, execution: ExecutionSpan, name: str, source: _Step | None,
                 run: _Run) -> None:
        self.execution = execution
        self.name = name
        self.source = source
        self.run = run
        self.attempts = 0
        self.last_error: BaseException | None = None

    def activate(self) -> None:
        self.run.arc = self
        self.execution.activate()

    def deactivate(self) -> None:
        try:
            self.execution.deactivate()
        finally:
            self.run.arc = None


class _Run(ContextScope):
    """What one FSM run (one ExecutionContext) has open: run, sub-network and step spans."""

    __slots__ = ("arc", "base_depth", "context", "execution", "failed_states", "fsm",
                 "main_network", "step", "subnetworks")

    def __init__(self, execution: ExecutionSpan, fsm: Any, context: Any) -> None:
        self.execution = execution
        self.fsm = fsm
        self.context = context
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
            span = ExecutionSpan(get_tracer(_SCOPE), f"subnetwork {name}",
                                 kind=semconv.KIND_SUBNETWORK,
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
            get_tracer(_SCOPE), f"step {state}", kind=semconv.KIND_STEP,
            framework=semconv.FRAMEWORK_DATAKNOBS_FSM, attributes=attributes,
            parent=self.container().context), state, self)

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
    if mode is None:
        return None
    value = getattr(mode, "_value_", None)  # an enum's value, without its Python descriptor
    return str(getattr(mode, "value", mode) if value is None else value)


def _arc_name(arc: Any, source: str | None) -> str:
    metadata = getattr(arc, "metadata", None) or {}
    return str(metadata.get("name") or f"{source}->{arc.target_state}")


def _start_run(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run | None:
    context = argument(args, kwargs, 0, "context") or kwargs.get("child_context")
    if context is None or getattr(context, _RUN, None) is not None:
        return None
    fsm = engine.fsm
    mode = getattr(getattr(context, "data_mode", None), "value", None)
    attributes: dict[str, Any] = {semconv.FSM_NAME: str(getattr(fsm, "name", "fsm"))}
    if mode is not None:
        attributes[semconv.FSM_PROCESSING_MODE] = str(mode)
    execution = ExecutionSpan(get_tracer(_SCOPE), f"fsm.run {attributes[semconv.FSM_NAME]}",
                              kind=semconv.KIND_FSM_RUN,
                              framework=semconv.FRAMEWORK_DATAKNOBS_FSM, attributes=attributes)
    run = _Run(execution, fsm, context)
    if context.current_state:  # set before the run (ContextFactory, batch/stream executors)
        try:
            run.enter(str(context.current_state), context)
        except Exception:
            execution.finish()  # no half-started run is left behind
            raise
    setattr(context, _RUN, run)
    return run


def _finish_run(run: _Run, raised: BaseException | None, outcome: Any) -> None:
    try:
        if raised is not None:
            run.close(False, str(raised))
            run.execution.finish(exception=raised)
            return
        try:
            ok, value = outcome
            ok = bool(ok)
        except (TypeError, ValueError):
            ok, value = True, outcome
        error = None if ok else policy().message(str(value))
        run.close(ok, error)
        attributes: dict[str, Any] = {}
        if run.failed_states:
            attributes[semconv.FSM_FAILED_STATES] = sorted(run.failed_states)
        if error is not None:
            attributes[semconv.FSM_ERROR] = error
        run.execution.finish(value if ok else None,
                             status=ExecStatus.COMPLETED if ok else ExecStatus.FAILED,
                             attributes=attributes, description=error)
    finally:
        delattr(run.context, _RUN)


def _state_set(context: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
               outcome: Any) -> None:
    run = getattr(context, _RUN, None)
    if run is not None:
        run.enter(str(args[0] if args else kwargs.get("state_name")), context)  # argument()


def _start_state_work(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                      ) -> _Step | None:
    """The state's step span is current while the engine establishes it (resources,
    pre-validators, transforms), so their spans and the user's nest under the step."""
    run = getattr(args[0] if args else kwargs.get("context"), _RUN, None)  # argument()
    return run.step if run is not None else None


def _state_work_done(step: _Step, raised: BaseException | None, entered: Any) -> None:
    if raised is None and entered is False and step.status is None:
        context = step.run.context
        step.fail(description=str(getattr(context, "last_error", None) or "entry rejected"))


def _start_transition(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                      ) -> _Arc | None:
    arc: Any = args[0] if args else kwargs.get("arc")  # argument(), without its calls
    context = args[1] if len(args) > 1 else kwargs.get("context")
    run = getattr(context, _RUN, None)
    if run is None or arc is None:
        return None
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
    return _Arc(ExecutionSpan(get_tracer(_SCOPE), f"arc {name}", kind=semconv.KIND_ARC,
                              framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                              attributes=attributes, parent=parent), name, source, run)


def _finish_transition(flight: _Arc, raised: BaseException | None, ok: Any) -> None:
    """End the arc; the source step ends with it (arc taken, or failed with the arc's error),
    unless the arc neither failed nor entered a target, in which case the step goes on."""
    if raised is not None:
        flight.execution.finish(exception=raised)
        return
    ok = bool(ok)
    run, source, context = flight.run, flight.source, flight.run.context
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


def _hooks_fired(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Error hooks fire once per failed arc attempt, with the exception: count them."""
    if len(args) < 4 or args[0] is not getattr(engine, "_error_hooks", None):
        return
    run = getattr(args[1], _RUN, None)
    flight = run.arc if run is not None else None
    if flight is not None:
        error = args[3]
        flight.attempts += 1
        flight.last_error = error
        flight.execution.add_event(semconv.FSM_ARC_ATTEMPT_EVENT, {
            semconv.FSM_ARC_ATTEMPT: flight.attempts, **exception_attributes(error)})


def _transform_failed(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                      outcome: Any) -> None:
    error = argument(args, kwargs, 0, "error")
    run = getattr(argument(args, kwargs, 1, "context"), _RUN, None)
    state = argument(args, kwargs, 2, "state_name")
    if run is not None:
        run.failed_states.add(str(state))
        if run.step is not None and run.step.state == state:
            run.step.fail(error)


def _skip_decided(engine: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  skip: Any) -> None:
    if not skip:  # the common answer: nothing to read
        return
    run = getattr(argument(args, kwargs, 0, "context"), _RUN, None)
    if run is not None and run.step is not None and run.step.status is None:
        run.step.status = ExecStatus.SKIPPED
        run.step.description = "skipped: an earlier state failed"


def _start_acquire(manager: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   ) -> ExecutionSpan:
    name = str(argument(args, kwargs, 0, "name"))
    owner = argument(args, kwargs, 1, "owner_id")
    return ExecutionSpan(get_tracer(_SCOPE), f"resource {name}", kind=semconv.KIND_RESOURCE,
                         framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                         attributes={semconv.FSM_RESOURCE_NAME: name,
                                     semconv.FSM_RESOURCE_OWNER: str(owner)})


def _start_group(executor: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 ) -> ExecutionSpan:
    """A batch or a stream: the parent of its record runs."""
    kind = semconv.KIND_BATCH if "Batch" in type(executor).__name__ else semconv.KIND_STREAM
    name = str(getattr(getattr(executor, "fsm", None), "name", "fsm"))
    return ExecutionSpan(get_tracer(_SCOPE), f"fsm.{kind} {name}", kind=kind,
                         framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                         attributes={semconv.FSM_NAME: name})


def _finish_group(execution: ExecutionSpan, raised: BaseException | None, outcome: Any) -> None:
    execution.finish(exception=raised, attributes=None if raised is not None or outcome is MISSING
                     else _progress_attributes(outcome))


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


class _Chunk(ContextScope):
    """One stream chunk in flight: its span, and the stream's error count when it began."""

    __slots__ = ("errors_before", "execution", "progress")

    def __init__(self, execution: ExecutionSpan, progress: Any) -> None:
        self.execution = execution
        self.progress = progress
        self.errors_before = _error_count(progress)


def _error_count(progress: Any) -> int:
    errors = getattr(progress, "errors", None)
    return len(errors) if isinstance(errors, list) else 0


def _start_chunk(executor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Chunk:
    items = argument(args, kwargs, 0, "items", ())
    number = argument(args, kwargs, 1, "chunk_num", 0)
    progress = argument(args, kwargs, 4, "progress")
    return _Chunk(ExecutionSpan(get_tracer(_SCOPE), f"fsm.stream.chunk {number}",
                                kind=semconv.KIND_CHUNK, framework=semconv.FRAMEWORK_DATAKNOBS_FSM,
                                attributes={semconv.FSM_CHUNK_INDEX: int(number),
                                            semconv.FSM_CHUNK_SIZE: len(items)}), progress)


def _finish_chunk(chunk: _Chunk, raised: BaseException | None, outcome: Any) -> None:
    attributes = None
    if raised is None:
        attributes = {**_progress_attributes(chunk.progress),
                      semconv.FSM_CHUNK_ERRORS: _error_count(chunk.progress) - chunk.errors_before}
    chunk.execution.finish(exception=raised, attributes=attributes)


_wrap_run = around_async(_start_run, _finish_run)
_ENGINE = "dataknobs_fsm.execution.async_engine"
_BASE_ENGINE = "dataknobs_fsm.execution.base_engine"

PATCHES: tuple[WrapPoint, ...] = (
    Replace(_ENGINE, "AsyncExecutionEngine.execute", _wrap_run, params=("context",)),
    Replace(_ENGINE, "AsyncExecutionEngine._enter_and_execute_child", _wrap_run,
          params=("child_context",)),
    Replace("dataknobs_fsm.execution.context", "ExecutionContext.set_state",
          replacing(_state_set, after=True), params=("state_name",)),
    Replace(_ENGINE, "AsyncExecutionEngine._establish_state",
          around_async(_start_state_work, _state_work_done), params=("context",)),
    Replace(_ENGINE, "AsyncExecutionEngine._execute_transition",
          around_async(_start_transition, _finish_transition), params=("arc", "context")),
    Replace(_ENGINE, "AsyncExecutionEngine._fire_hooks",  # (hooks, context, arc, error)
          replacing(_hooks_fired, least_args=4), params=("hooks",), optional=True),
    Patch(_BASE_ENGINE, "BaseExecutionEngine.handle_transform_error",
          observe(_transform_failed), params=("error", "context", "state_name"), optional=True),
    Replace(_BASE_ENGINE, "BaseExecutionEngine.should_skip_state_transforms",
          replacing(_skip_decided, after=True), params=("context",), optional=True),
    Patch("dataknobs_fsm.resources.manager", "ResourceManager.acquire",
          around(_start_acquire, end_span), params=("name", "owner_id"), optional=True),
    Replace("dataknobs_fsm.execution.async_batch", "AsyncBatchExecutor.execute_batch",
          around_async(_start_group, _finish_group), optional=True),
    Replace("dataknobs_fsm.execution.async_stream", "AsyncStreamExecutor.execute_stream",
          around_async(_start_group, _finish_group), optional=True),
    Replace("dataknobs_fsm.execution.async_stream", "AsyncStreamExecutor._process_chunk",
          around_async(_start_chunk, _finish_chunk),
          params=("items", "chunk_num", "context_template", "max_transitions", "progress"),
          optional=True),
)


class DataknobsFSMInstrumentor(ExecInstrumentor):
    """``BaseInstrumentor`` for dataknobs-fsm 0.5 (async engine).

    ``instrument(tracer_provider=...)`` sends the spans to that provider instead of the global
    one; nothing global is configured (``otel_exec.configure()`` does that).
    """

    scope = _SCOPE
    framework = "dataknobs-fsm"
    module = "dataknobs_fsm"
    instruments = _instruments

    def patches(self, **options: Any) -> tuple[WrapPoint, ...]:
        return PATCHES
