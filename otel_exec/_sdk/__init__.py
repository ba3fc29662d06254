"""The one boundary for what otel_exec reads that the OpenTelemetry SDK, its OTLP exporters, the
API or pydantic do not publish.

Each fast path has a gate. A gate opens only for the versions verified here (exact releases),
never with ``OTEL_EXEC_FAST_PATHS=0`` (the switch for an incident), and only where the path's
own probe then confirms the layout it relies on. A closed gate costs speed, not correctness:
the public API does the same work. A gate closed by an unverified version says so once in the
log; ``fast_paths()`` reports every gate (``otel-exec doctor`` prints it).

Modules: ``span_path`` (spans started and ended without the SDK's per-span checks),
``readable`` (a finished span's fields in one call), ``otlp_encoder`` (the OTLP request built
in place), ``provider`` (a provider's processors and exporters), ``pydantic_private`` (a
private attribute read without pydantic's lookup).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

_logger = logging.getLogger(__name__)

SWITCH = "OTEL_EXEC_FAST_PATHS"
"""Set to ``0`` (or ``false``, ``off``) to keep every fast path closed."""


@dataclass
class FastPath:
    """One fast path's gate.

    Args:
        name: What it is, as the doctor says it.
        distribution: The package whose private layout it reads.
        verified: The exact releases of that package it was verified against.
    """

    name: str
    distribution: str
    verified: tuple[str, ...]
    opened: bool | None = None
    """The decision once made (None before): what a hot path reads."""
    _decision: tuple[bool, str] | None = field(default=None, repr=False)

    def open(self) -> bool:
        """Whether the path may be tried (decided once, with every other gate, at the first
        use of any: where the stack is shallow; its probe may still refuse)."""
        decision = self._decision
        if decision is None:
            for gate in GATES:
                gate._decide()
            decision = self._decide()
        return decision[0]

    @property
    def why(self) -> str:
        """Why the gate is open or closed, for the doctor."""
        if self._decision is None:
            self._decide()
        assert self._decision is not None
        return self._decision[1]

    def _decide(self) -> tuple[bool, str]:
        with _lock:
            if self._decision is not None:
                return self._decision
            installed = _version(self.distribution)
            if not switched_on():
                decision = (False, f"off: {SWITCH}={os.environ.get(SWITCH)}")
            elif installed is None:
                decision = (False, f"off: {self.distribution} is not installed")
            elif installed not in self.verified:
                decision = (False, f"off: {self.distribution} {installed} is not a verified "
                                   f"release ({', '.join(self.verified)})")
                _logger.info("otel_exec: the %s is off: %s %s is not a release it was verified "
                             "against (%s); the public API does its work", self.name,
                             self.distribution, installed, ", ".join(self.verified))
            else:
                decision = (True, f"on ({self.distribution} {installed})")
            self._decision = decision
            self.opened = decision[0]
            return decision


_lock = threading.Lock()

SDK_RELEASES = ("1.45.0", "1.45.1", "1.45.2")
"""The opentelemetry-sdk releases the span path and the span reader were verified against."""
EXPORTER_RELEASES = ("1.45.0", "1.45.1", "1.45.2")
"""The OTLP exporter releases the encoder was verified against."""

SPAN_PATH = FastPath("fast span path", "opentelemetry-sdk", SDK_RELEASES)
SPAN_READER = FastPath("fast span reader", "opentelemetry-sdk", SDK_RELEASES)
OTLP_ENCODER = FastPath("fast OTLP encoder", "opentelemetry-exporter-otlp-proto-common",
                        EXPORTER_RELEASES)
PYDANTIC_PRIVATE = FastPath("fast falyx context reader", "pydantic", ("2.14.4",))
GATES = (SPAN_PATH, SPAN_READER, OTLP_ENCODER, PYDANTIC_PRIVATE)


def switched_on() -> bool:
    """Whether ``OTEL_EXEC_FAST_PATHS`` leaves the fast paths allowed."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "off", "no")


def fast_paths() -> list[tuple[str, bool, str]]:
    """Each gate: its name, whether it is open, and why."""
    return [(gate.name, gate.open(), gate.why) for gate in GATES]


def decide_again() -> None:
    """Forget every gate's decision (after the switch changed; tests use it). Paths already
    taken for a tracer or an exporter class stay as they were decided."""
    with _lock:
        for gate in GATES:
            gate._decision = gate.opened = None


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
