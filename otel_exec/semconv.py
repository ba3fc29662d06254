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
    RUNNING = "running"


#: Statuses that mean the execution did not succeed (falyx's "ERROR").
ERROR_STATUSES = frozenset({ExecStatus.FAILED, ExecStatus.ERROR_CONTINUED})

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
FALYX_ESCAPED_EVENT = "falyx.escaped"
FALYX_PROCESS_PROPAGATED = "falyx.process.context_propagated"

# Kinds (values of exec.kind) shared by several frameworks.
KIND_FUNCTION = "function"
KIND_SPAN = "span"
KIND_RECORD = "record"
KIND_ROLLBACK = "rollback"
