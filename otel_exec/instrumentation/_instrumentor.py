"""The base of otel_exec's three instrumentors: dependencies, the provider option, a patch
table applied all-or-nothing and restored exactly, thread-safe instrument / uninstrument, and
patching deferred until the program imports the framework."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_exec.instrumentation._patching import (
    UnsupportedFramework,
    WrapPoint,
    apply,
    restore,
)
from otel_exec.rows import set_numbering
from otel_exec.spans import use_provider

if TYPE_CHECKING:
    from collections.abc import Collection

_logger = logging.getLogger(__name__)
_lock = threading.RLock()


class ExecInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """A contrib-style instrumentor: it never configures the SDK.

    ``instrument(tracer_provider=p)`` sends its spans to ``p`` and touches nothing global;
    without it, spans go to the global provider as it is when each span starts. A framework
    release missing an essential wrap point is logged and left uninstrumented (nothing
    patched), as ``BaseInstrumentor`` does for a version conflict.

    ``instrument`` never imports the framework: a framework the program has not imported yet
    is patched by a post-import hook when it is, so instrumenting every installed framework
    costs a program only the ones it uses.
    """

    scope: ClassVar[str]
    """Instrumentation scope of the spans (``otel_exec.<framework>``)."""
    framework: ClassVar[str]
    """The framework's name, for messages."""
    module: ClassVar[str]
    """The framework's top-level package: patched once it is imported."""
    instruments: ClassVar[tuple[str, ...]]
    """Supported versions, as in the ``instruments-any`` extra."""
    numbers_own: ClassVar[bool] = False
    """Whether the framework numbers its executions itself (falyx's registry): while it is
    patched, the registry's indices are the framework's and no other execution takes one."""

    _applied: tuple[WrapPoint, ...] = ()
    _pending: object | None = None
    """The hook waiting for the framework's import (only the latest one patches)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def patches(self, **options: Any) -> tuple[WrapPoint, ...]:
        """The wrap points for the installed version and these options."""
        raise NotImplementedError

    def instrument(self, **kwargs: Any) -> None:
        """Instrument the framework (safe from several threads at once)."""
        with _lock:
            try:
                super().instrument(**kwargs)
            except UnsupportedFramework as exc:
                _logger.error("%s", exc)

    def uninstrument(self, **kwargs: Any) -> None:
        """Remove every wrapper ``instrument`` applied (safe from several threads at once)."""
        with _lock:
            super().uninstrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        if self.module in sys.modules:  # a table that cannot apply raises: not instrumented
            self._apply(**kwargs)
            use_provider(self.scope, kwargs.get("tracer_provider"))
            return
        use_provider(self.scope, kwargs.get("tracer_provider"))
        pending = self._pending = object()

        def on_import(_module: object) -> None:
            with _lock:
                if self._pending is not pending:  # uninstrumented (or instrumented again)
                    return
                self._pending = None
                try:
                    self._apply(**kwargs)
                except Exception as exc:  # never into the program's import statement
                    _logger.error("%s", exc, exc_info=not isinstance(exc, UnsupportedFramework))
                    self.uninstrument()

        wrapt.register_post_import_hook(on_import, self.module)

    def _apply(self, **kwargs: Any) -> None:
        self._applied = apply(self.patches(**kwargs), self.framework)
        if self.numbers_own:
            set_numbering(self.framework, True)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._pending = None
        restore(self._applied)
        self._applied = ()
        set_numbering(self.framework, False)
        use_provider(self.scope, None)
