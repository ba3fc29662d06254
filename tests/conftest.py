"""Shared fixtures: one configured default store, cleared around each test."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_exec
from otel_exec import ExecutionStore, _sdk

for _variable in [name for name in os.environ if name.startswith("OTEL_")]:
    del os.environ[_variable]

if importlib.util.find_spec("hypothesis") is not None:  # not in the routilux 0.11 lane
    from hypothesis import settings

    # No deadline: a shared CI machine's pauses are not the code's; a failure prints its blob.
    settings.register_profile("otel_exec", deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "otel_exec"))

_STARTS_PROCESSES = ("run_python(", "run_app(", "subprocess.", "Popen(", "_started(")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``processes`` every test that starts a process (``-m "not processes"``: the fast
    lane), read from its source once per function."""
    seen: dict[object, bool] = {}
    for item in items:
        function = getattr(item, "function", None)
        if function is None:
            continue
        if function not in seen:
            try:
                source = inspect.getsource(function)
            except (OSError, TypeError):
                source = ""
            seen[function] = any(call in source for call in _STARTS_PROCESSES)
        if seen[function]:
            item.add_marker(pytest.mark.processes)

HAS_FSM = importlib.util.find_spec("dataknobs_fsm") is not None
needs_fsm = pytest.mark.skipif(not HAS_FSM, reason="dataknobs-fsm is not installed (it needs "
                                                   "Python >= 3.12)")


def _falyx_version() -> tuple[int, ...]:
    """falyx's (major, minor), or () where falyx is not installed (an old-routilux lane)."""
    try:
        return tuple(int(part) for part in version("falyx").split(".")[:2])
    except PackageNotFoundError:
        return ()


FALYX_02 = _falyx_version() >= (0, 2)
needs_falyx_02 = pytest.mark.skipif(not FALYX_02, reason="the workload drives falyx 0.2's CLI "
                                                         "(execute_command) and counts its rows")


def _verified_here(gate: _sdk.FastPath) -> pytest.MarkDecorator:
    installed = _installed(gate.distribution)
    return pytest.mark.skipif(
        installed not in gate.verified,
        reason=f"{gate.distribution} {installed} is not a release the {gate.name} was verified "
               "against: its gate stays closed (the public API does the work)")


def _installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


needs_span_path = _verified_here(_sdk.SPAN_PATH)
"""For a test of the fast span path itself (skipped where its gate stays closed)."""
needs_span_reader = _verified_here(_sdk.SPAN_READER)
needs_fast_encoder = _verified_here(_sdk.OTLP_ENCODER)


@pytest.fixture(autouse=True)
def _fast_paths_decided_afresh() -> Iterator[None]:
    """A test that turns a fast path's gate (its switch, its releases) leaves none behind."""
    yield
    _sdk.decide_again()


@pytest.fixture
def store() -> Iterator[ExecutionStore]:
    """The default store, configured, empty at the start of the test."""
    default = otel_exec.configure(max_spans=50_000)
    default.clear()
    yield default
    default.clear()


_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def exported(store: ExecutionStore) -> Iterator[InMemorySpanExporter]:
    """What leaves the process: every span the global provider exports during the test."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        provider._test_exporter = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60,
               ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a fresh global tracer provider) and capture output."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)
