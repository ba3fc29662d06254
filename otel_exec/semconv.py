"""Every attribute name and status value otel_exec writes or reads, in one place.

docs/semconv.md is the table users read; this module is the one place code reads.
"""

from __future__ import annotations

from enum import StrEnum


class ExecStatus(StrEnum):
    """Outcome of one execution, as stored in the ``exec.status`` attribute."""

    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR_CONTINUED = "error_continued"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    UNFINISHED = "unfinished"
    RUNNING = "running"


ERROR_STATUSES = (ExecStatus.FAILED, ExecStatus.ERROR_CONTINUED)
"""Statuses that mean the execution did not succeed (falyx's "ERROR"); a tuple, so ``in``
finds a member by identity without hashing an enum."""

# Shared by every framework.
EXEC_KIND = "exec.kind"
EXEC_FRAMEWORK = "exec.framework"
EXEC_STATUS = "exec.status"
EXEC_ARGS = "exec.args"
EXEC_KWARGS = "exec.kwargs"
EXEC_RESULT = "exec.result"
EXEC_ITEMS = "exec.items"
EXEC_IGNORE_IN_HISTORY = "exec.ignore_in_history"
#: False when the framework itself did not record the execution in its own history (a falyx
#: confirmation declined before the run, a rollback); such executions stay out of the registry.
EXEC_RECORDED = "exec.recorded"
EXEC_LOGS_DROPPED = "exec.logs.dropped"

# A log record emitted while an execution was current: a span event.
LOG_EVENT = "log"
LOG_SEVERITY = "log.severity"
LOG_LOGGER = "log.logger"
LOG_MESSAGE = "log.message"

# Standard semantic conventions.
ERROR_TYPE = "error.type"
CODE_FUNCTION_NAME = "code.function.name"
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"

# Frameworks (values of exec.framework).
FRAMEWORK_PYTHON = "python"
FRAMEWORK_FALYX = "falyx"
FRAMEWORK_DATAKNOBS_FSM = "dataknobs_fsm"
FRAMEWORK_ROUTILUX = "routilux"

# falyx.
FALYX_TYPE = "falyx.type"
FALYX_INDEX = "falyx.index"
FALYX_COMMAND_KEY = "falyx.command.key"
FALYX_COMMAND_DESCRIPTION = "falyx.command.description"
FALYX_COMMAND_ALIASES = "falyx.command.aliases"
FALYX_COMMAND_TAGS = "falyx.command.tags"
FALYX_RETRY_MAX = "falyx.retry.max_retries"
FALYX_RETRY_ATTEMPTS = "falyx.retry.attempts"
FALYX_RETRY_RECOVERED = "falyx.retry.recovered"
FALYX_RETRY_EVENT = "falyx.retry.attempt"
FALYX_RETRY_ATTEMPT = "falyx.retry.attempt_number"
FALYX_RETRY_DELAY = "falyx.retry.delay"
FALYX_RETRY_OUTCOME = "falyx.retry.outcome"
FALYX_GROUP_FAILED = "falyx.group.failed"
FALYX_ROLLBACK_COUNT = "falyx.rollback.count"
FALYX_ROLLBACK_FAILED = "falyx.rollback.failed"
FALYX_ESCAPED_EVENT = "falyx.escaped"
FALYX_PROCESS_PROPAGATED = "falyx.process.context_propagated"

# dataknobs-fsm.
FSM_NAME = "fsm.name"
FSM_PROCESSING_MODE = "fsm.processing_mode"
FSM_ERROR = "fsm.error"
FSM_FAILED_STATES = "fsm.failed_states"
FSM_STATE = "fsm.state"
FSM_NETWORK = "fsm.network"
FSM_DATA_MODE = "fsm.data_mode"
FSM_ARC_TAKEN = "fsm.arc_taken"
FSM_ARC_NAME = "fsm.arc.name"
FSM_ARC_SOURCE = "fsm.arc.source"
FSM_ARC_TARGET = "fsm.arc.target"
FSM_ARC_PUSH = "fsm.arc.push"
FSM_ARC_TARGET_NETWORK = "fsm.arc.target_network"
FSM_ARC_ATTEMPTS = "fsm.arc.attempts"
FSM_ARC_ATTEMPT_EVENT = "fsm.arc.attempt_failed"
FSM_ARC_ATTEMPT = "fsm.arc.attempt"
FSM_RESOURCE_NAME = "fsm.resource.name"
FSM_RESOURCE_OWNER = "fsm.resource.owner"
FSM_CHUNK_INDEX = "fsm.chunk.index"
FSM_CHUNK_SIZE = "fsm.chunk.size"
FSM_CHUNK_ERRORS = "fsm.chunk.errors"
FSM_CHUNKS = "fsm.chunks_processed"
FSM_RECORDS = "fsm.records_processed"
FSM_RECORD_ERRORS = "fsm.record_errors"

# routilux.
ROUTILUX_FLOW = "routilux.flow.id"
ROUTILUX_ENTRY = "routilux.entry_routine"
ROUTILUX_JOB_ID = "routilux.job.id"
ROUTILUX_WORKER_ID = "routilux.worker.id"
ROUTILUX_JOB_END = "routilux.job.ended_by"
ROUTILUX_ROUTINE_ID = "routilux.routine.id"
ROUTILUX_SLOT = "routilux.slot"
ROUTILUX_STRATEGY = "routilux.error_strategy"
ROUTILUX_EMIT_EVENT = "routilux.event.emit"
ROUTILUX_EVENT = "routilux.event.name"
ROUTILUX_TARGET_SLOTS = "routilux.event.targets"
ROUTILUX_RETRY_EVENT = "routilux.retry.requested"
ROUTILUX_RETRY_COUNT = "routilux.retry.count"
ROUTILUX_RETRY_MAX = "routilux.retry.max_retries"
ROUTILUX_PAUSED_EVENT = "routilux.job.paused"
ROUTILUX_RESUMED_EVENT = "routilux.job.resumed"
ROUTILUX_CANCELLED_EVENT = "routilux.job.cancelled"
ROUTILUX_REASON = "routilux.reason"

KIND_JOB = "job"
KIND_ROUTINE = "routine"
KIND_FSM_RUN = "fsm_run"
KIND_STEP = "step"
KIND_ARC = "arc"
KIND_SUBNETWORK = "subnetwork"
KIND_RESOURCE = "resource"
KIND_BATCH = "batch"
KIND_STREAM = "stream"
KIND_CHUNK = "chunk"

# Kinds (values of exec.kind) shared by several frameworks.
KIND_FUNCTION = "function"
KIND_BLOCK = "block"
KIND_SPAN = "span"
KIND_RECORD = "record"
KIND_ROLLBACK = "rollback"
KIND_RETRY = "retry"
