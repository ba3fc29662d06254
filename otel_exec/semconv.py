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

# Kinds (values of exec.kind) shared by several frameworks.
KIND_FUNCTION = "function"
KIND_SPAN = "span"
KIND_RECORD = "record"
