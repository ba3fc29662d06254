"""One trace from an HTTP client through routilux's real server (FastAPI under uvicorn, on
127.0.0.1, started and stopped here) to the job and its routines: under FastAPI's own
telemetry where it has it, under the contrib FastAPI instrumentation, and by otel_exec's own
extraction when neither makes a span; baggage becomes run attributes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("routilux.server.main", reason="routilux's server extra is not installed")
pytest.importorskip("uvicorn")

from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider

import otel_exec
from tests.integration.pipeline import free_port, stop, wait_for_port
from tests.otlp_receiver import Receiver, receiving

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test-key-for-this-server"
NATIVE_TELEMETRY = importlib.util.find_spec("fastapi.telemetry") is not None
"""Whether FastAPI traces requests itself (newer releases; else only otel_exec joins them)."""
HEADERS = {"Content-Type": "application/json", "X-API-Key": API_KEY}

SERVER = """
import otel_exec
otel_exec.configure(service_name="routilux-server", otlp_endpoint="http://127.0.0.1:{otlp}",
                    baggage=True)
otel_exec.instrument("routilux")
from tests.instrumentation.routilux_workload import fan_out_flow
fan_out_flow("orders", None)
import uvicorn
from routilux.server.main import app
if "{mode}" != "native" and hasattr(app, "_telemetry"):  # FastAPI's own tracing off
    app._telemetry.update(tracing=False, metrics=False, logs=False)
if "{mode}" == "contrib":
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    FastAPIInstrumentor.instrument_app(app)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def _server(receiver: Receiver, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(
        ("OTEL_", "ROUTILUX_"))}
    env.update({"PYTHONPATH": str(ROOT), "OTEL_BSP_SCHEDULE_DELAY": "100",
                "ROUTILUX_API_KEY": API_KEY})
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SERVER.format(
            otlp=receiver.http_port, port=port, mode=mode))],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process, timeout=60)
    except Exception:
        stop(process)
        raise
    return process, port


def _execute(port: int, headers: dict[str, str], count: int) -> str:
    """POST /api/v1/execute of the "orders" flow with a real HTTP client; the job id."""
    body = json.dumps({"flow_id": "orders", "routine_id": "src", "slot_name": "trigger",
                       "data": {"count": count}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/execute", data=body,
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200
        job_id: str = json.loads(response.read())["job_id"]
    return job_id


def _spans_named(receiver: Receiver, prefix: str, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [span for span, name in dict(receiver.names).items() if name.startswith(prefix)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"{count} span(s) named {prefix}* did not arrive in {timeout}s")


@pytest.mark.parametrize("mode", ["native", "own", "contrib"])
def test_the_job_and_its_routines_join_the_callers_trace(receiver: Receiver, mode: str) -> None:
    if mode == "contrib":
        pytest.importorskip("opentelemetry.instrumentation.fastapi")
    receiver.clear()
    process, port = _server(receiver, mode)
    try:
        client = TracerProvider().get_tracer("client")
        headers = dict(HEADERS)
        with client.start_as_current_span("checkout") as span, otel_exec.attributes(
                run_id="r-42", baggage=True):
            propagate.inject(headers)
        job_id = _execute(port, headers, count=2)
        (job,) = _spans_named(receiver, "job orders", 1)
        routines = _spans_named(receiver, "routine ", 5)  # src, ok ×2, bad ×2; agg after ok
    finally:
        stop(process)
    caller = span.get_span_context()
    trace_id = f"{caller.trace_id:032x}"
    assert receiver.traces[job] == trace_id
    assert all(receiver.traces[routine] == trace_id for routine in routines)
    between = []  # the server's own spans between the caller and the job, if any
    parent = receiver.parents[job]
    while parent in receiver.names:
        between.append(receiver.names[parent])
        parent = receiver.parents[parent]
    assert parent == f"{caller.span_id:016x}"
    if mode == "own" or (mode == "native" and not NATIVE_TELEMETRY):
        assert between == []
    else:  # the HTTP server span is the caller's child
        assert between and between[-1].startswith("POST"), between
    assert receiver.attributes[job]["routilux.job.id"] == job_id
    assert all(receiver.attributes[s]["run_id"] == "r-42" for s in (job, *routines))


def test_a_request_without_trace_context_starts_its_own_trace(receiver: Receiver) -> None:
    receiver.clear()
    process, port = _server(receiver, "own")
    try:
        _execute(port, HEADERS, count=1)
        (job,) = _spans_named(receiver, "job orders", 1)
    finally:
        stop(process)
    assert receiver.parents[job] == ""
    assert "run_id" not in receiver.attributes[job]
