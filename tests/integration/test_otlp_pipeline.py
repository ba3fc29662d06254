"""A traced falyx / dataknobs-fsm / routilux run arrives whole in a real backend, through a real
collector, over gRPC and over HTTP; a down or restarted collector costs the program nothing."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from otel_exec import semconv
from otel_exec.execution import Execution
from otel_exec.trace_files import load
from tests.integration.conftest import Phoenix, backends_python, run_traced
from tests.integration.pipeline import Rotel, free_port, start_rotel

pytestmark = pytest.mark.integration
_projects = itertools.count()

DEMO = """
import sys
from rich.console import Console
from otel_exec import demo
sys.exit(demo.run(console=Console(file=open("/dev/null", "w")), output=sys.argv[-1]))
"""


def value(item: dict[str, Any]) -> Any:
    """A Phoenix (snake_case OTLP) AnyValue as Python."""
    for key in ("string_value", "bool_value", "double_value", "bytes_value"):
        if item.get(key) is not None:
            return item[key]
    if item.get("int_value") is not None:
        return int(item["int_value"])
    if item.get("array_value") is not None:
        return tuple(value(v) for v in item["array_value"].get("values") or [])
    return None


def wait_for_spans(phoenix: Phoenix, project: str, trace_id: str, count: int,
                   timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = phoenix.spans(project, trace_id)
        if len(spans) >= count:
            return spans
        time.sleep(0.25)
    raise AssertionError(f"{len(spans)} of {count} spans of {trace_id} reached the backend")


def assert_same(ours: Execution, theirs: dict[str, Any]) -> None:
    assert theirs["name"] == ours.name
    assert theirs["parent_span_id"] == ours.parent_span_id
    assert theirs["status"]["code"] == {"UNSET": 0, "OK": 1, "ERROR": 2}[
        ours._status_code.name]
    exported = {a["key"]: value(a["value"]) for a in theirs["attributes"] or []}
    for key, expected in ours.attributes.items():
        assert exported.get(key) == expected, (ours.name, key)
    assert [e["name"] for e in theirs["events"] or []] == [e.name for e in ours.events]
    for event, mine in zip(theirs["events"] or [], ours.events, strict=True):
        if event["name"] == semconv.EXCEPTION_EVENT:
            attributes = {a["key"]: value(a["value"]) for a in event["attributes"]}
            assert attributes[semconv.EXCEPTION_TYPE] == mine.attributes[semconv.EXCEPTION_TYPE]
            assert attributes[semconv.EXCEPTION_STACKTRACE]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_every_framework_run_arrives_whole(phoenix: Phoenix, rotel: Rotel, tmp_path: Path,
                                           protocol: str) -> None:
    project = f"it-{next(_projects)}"
    output = tmp_path / "run.jsonl"
    done = run_traced(DEMO.replace("sys.argv[-1]", repr(str(output))), {
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint(protocol),
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project},"
                                    "deployment.environment=integration"})
    assert done.returncode == 0, done.stderr
    ours = load(output)
    frameworks = {e.framework for e in ours.executions()}
    assert frameworks >= {"python", "falyx", "dataknobs_fsm", "routilux"}
    for trace_id in ours.trace_ids():
        mine = {e.span_id: e for e in ours.by_trace(trace_id)}
        theirs = {s["span_id"]: s for s in wait_for_spans(phoenix, project, trace_id, len(mine))}
        assert set(theirs) == set(mine), trace_id
        for span_id, execution in mine.items():
            assert_same(execution, theirs[span_id])
    wire = rotel.log.read_text(errors="replace")
    assert "service.name: Str(otel-exec-demo)" in wire  # resource: checked on the collector
    assert "deployment.environment: Str(integration)" in wire


def test_a_down_backend_costs_the_program_nothing(tmp_path: Path) -> None:
    backends_python()
    collector = start_rotel(tmp_path, f"http://127.0.0.1:{free_port()}")  # nothing listens
    try:
        started = time.monotonic()
        done = run_traced("""
import otel_exec
store = otel_exec.configure(exit_timeout=2)

@otel_exec.traced
def work(i):
    return i

print(sum(work(i) for i in range(500)), len(store))
""", {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint("grpc"),
      "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
        elapsed = time.monotonic() - started
    finally:
        collector.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(sum(range(500))), "500"]
    assert elapsed < 30
    assert "Traceback" not in done.stderr


def test_a_collector_restarted_mid_run(phoenix: Phoenix, tmp_path: Path) -> None:
    collector = start_rotel(tmp_path, f"http://127.0.0.1:{phoenix.grpc}")
    project = f"it-restart-{next(_projects)}"
    script = """
import sys
import otel_exec
store = otel_exec.configure(exit_timeout=3)

@otel_exec.traced
def work(i):
    return i

for i in range(50):
    work(i)
otel_exec.flush(5)
print("half", flush=True)
sys.stdin.readline()
for i in range(50, 100):
    work(i)
print(len(store), flush=True)
"""
    import subprocess
    import sys

    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint("http/protobuf"),
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    program = subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        assert program.stdout is not None and program.stdin is not None
        assert program.stdout.readline().strip() == "half"
        collector.stop()
        collector.start()  # same ports
        started = time.monotonic()
        out, err = program.communicate("go\n", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        program.kill()
        collector.stop()
    assert program.returncode == 0, err
    assert out.split()[-1] == "100"
    assert elapsed < 30
    assert "Traceback" not in err
