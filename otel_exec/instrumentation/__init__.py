"""Auto-instrumentation of the supported frameworks, by name.

```python
otel_exec.instrument()            # every supported framework that is installed
otel_exec.instrument("falyx")     # just one; ModuleNotFoundError if it is not installed
otel_exec.uninstrument()
```
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


@dataclass(frozen=True)
class Framework:
    """A supported framework: its import name, its instrumentor and its package's name."""

    module: str
    instrumentor: str
    distribution: str
    python: tuple[int, int] = (3, 11)
    """The oldest Python the framework runs on."""

    def install_hint(self) -> str:
        """How to get the framework, or why it cannot be had on this Python."""
        if sys.version_info < self.python:
            return (f"{self.distribution} needs Python {'.'.join(map(str, self.python))} "
                    "or newer")
        return f"pip install {self.distribution}"

    def installed(self) -> bool:
        """Whether the framework can be imported here."""
        return importlib.util.find_spec(self.module) is not None

    def load(self) -> BaseInstrumentor:
        """The framework's instrumentor (a singleton, as every ``BaseInstrumentor``)."""
        module_name, _, class_name = self.instrumentor.partition(":")
        instrumentor: BaseInstrumentor = getattr(importlib.import_module(module_name),
                                                 class_name)()
        return instrumentor


FRAMEWORKS: dict[str, Framework] = {
    "falyx": Framework("falyx", "otel_exec.instrumentation.falyx:FalyxInstrumentor", "falyx"),
    "dataknobs_fsm": Framework(
        "dataknobs_fsm", "otel_exec.instrumentation.dataknobs_fsm:DataknobsFSMInstrumentor",
        "dataknobs-fsm", python=(3, 12)),
    "routilux": Framework("routilux", "otel_exec.instrumentation.routilux:RoutiluxInstrumentor",
                          "routilux"),
}


def _resolve(names: tuple[str, ...]) -> list[str]:
    unknown = [name for name in names if name not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown framework {', '.join(map(repr, unknown))}; "
                         f"supported: {', '.join(FRAMEWORKS) or 'none'}")
    return list(names) if names else [name for name, fw in FRAMEWORKS.items() if fw.installed()]


def instrument(*frameworks: str, **options: Any) -> list[str]:
    """Instrument frameworks by name (all installed ones when none is named).

    Like any contrib instrumentor, this configures nothing: spans go to the provider given as
    ``tracer_provider=`` or to the global one (call ``otel_exec.configure()`` first for the
    embedded default). Extra keyword options go to each instrumentor's ``instrument()``.

    Returns:
        The names newly instrumented by this call (not those already instrumented, nor a
        version otel_exec cannot instrument, which is logged), so that
        ``uninstrument(*instrument())`` undoes exactly this call.

    Raises:
        ValueError: A name is not a supported framework.
        ModuleNotFoundError: A named framework is not installed.
    """
    names = _resolve(frameworks)
    for name in names:
        framework = FRAMEWORKS[name]
        if not framework.installed():
            raise ModuleNotFoundError(
                f"{name} is not installed: {framework.install_hint()}")
    instrumented = []
    for name in names:
        instrumentor = FRAMEWORKS[name].load()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**options)
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumented.append(name)
    return instrumented


def uninstrument(*frameworks: str) -> list[str]:
    """Undo ``instrument`` (for all instrumented frameworks when none is named)."""
    uninstrumented = []
    for name in _resolve(frameworks):
        framework = FRAMEWORKS[name]
        if not framework.installed():
            continue
        instrumentor = framework.load()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
            uninstrumented.append(name)
    return uninstrumented
