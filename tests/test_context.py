"""otel_exec._context: the wrappers' view of the OpenTelemetry context is the API's, read
straight from its ContextVar on the default runtime context and through the API otherwise."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import context as context_api
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.instrumentation.utils import (
    is_instrumentation_enabled,
    suppress_instrumentation,
)

from otel_exec import _context

_KEY = context_api.create_key("otel_exec_test")


def _agrees(module: object) -> None:
    assert module.current() is context_api.get_current()  # type: ignore[attr-defined]
    token = module.attach(context_api.set_value(_KEY, 1))  # type: ignore[attr-defined]
    try:
        assert context_api.get_value(_KEY) == 1
        assert module.instrumentation_enabled() is is_instrumentation_enabled()  # type: ignore[attr-defined]
        with suppress_instrumentation():
            assert module.instrumentation_enabled() is False  # type: ignore[attr-defined]
        plain = context_api.attach(context_api.set_value("suppress_instrumentation", True))
        assert module.instrumentation_enabled() is False  # type: ignore[attr-defined]
        context_api.detach(plain)
        assert module.instrumentation_enabled() is True  # type: ignore[attr-defined]
    finally:
        module.detach(token)  # type: ignore[attr-defined]
    assert context_api.get_value(_KEY) is None


def test_the_default_runtime_context_is_read_straight() -> None:
    assert _context.VARIABLE is not None
    _agrees(_context)


@pytest.fixture
def another_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    class Runtime(ContextVarsRuntimeContext):
        """Another runtime context (what ``OTEL_PYTHON_CONTEXT`` may name)."""

    monkeypatch.setattr(context_api, "_RUNTIME_CONTEXT", Runtime())
    try:
        yield importlib.reload(_context)
    finally:
        monkeypatch.undo()
        importlib.reload(_context)


def test_another_runtime_context_goes_through_the_api(another_runtime: object) -> None:
    assert another_runtime.VARIABLE is None  # type: ignore[attr-defined]
    assert another_runtime.current is context_api.get_current  # type: ignore[attr-defined]
    _agrees(another_runtime)


def test_a_token_that_cannot_be_reset_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    import contextvars

    token = contextvars.copy_context().run(_context.attach, context_api.get_current())
    with caplog.at_level(logging.ERROR):
        _context.detach(token)  # made in another context: the API logs it
    assert "Failed to detach context" in caplog.text
