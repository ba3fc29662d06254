"""Log records with their executions: kept on the span that was current (bounded, scrubbed),
in the store, the trace file and ``tree``; exported as OTLP logs with the span's ids, once."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_exec
from otel_exec import ExecutionStore, semconv
from otel_exec.cli import main
from otel_exec.execution import Execution
from otel_exec.instrumentation import logs
from tests.conftest import needs_fsm, run_python
from tests.otlp_receiver import Receiver, receiving

app_log = logging.getLogger("app.orders")


def log_events(execution: Execution) -> list[dict[str, object]]:
    return [dict(event.attributes or {}) for event in execution.events
            if event.name == semconv.LOG_EVENT]


@pytest.fixture
def kept(store: ExecutionStore) -> Iterator[ExecutionStore]:
    logs.install()
    yield store


def test_a_record_emitted_in_an_execution_is_kept_with_it(kept: ExecutionStore) -> None:
    @otel_exec.traced(name="charge")
    def charge(amount: int) -> int:
        app_log.warning("card declined for %s, password=hunter2", amount)
        app_log.info("not kept: below WARNING")
        logging.getLogger("otel_exec.internal").warning("ours: never kept")
        return amount

    app_log.warning("outside any execution: not kept")
    charge(42)
    (execution,) = kept.by_name("charge")
    (record,) = log_events(execution)
    assert record[semconv.LOG_SEVERITY] == "WARNING"
    assert record[semconv.LOG_LOGGER] == "app.orders"
    assert record[semconv.LOG_MESSAGE] == "card declined for 42, password=[REDACTED]"
    (event,) = [e for e in execution.events if e.name == semconv.LOG_EVENT]
    assert execution.start_ns <= event.timestamp <= (execution.end_ns or 0)


def test_the_record_goes_to_the_innermost_execution(kept: ExecutionStore) -> None:
    @otel_exec.traced(name="inner")
    async def inner() -> None:
        app_log.error("inner trouble")

    @otel_exec.traced(name="outer")
    async def outer() -> None:
        await inner()
        app_log.warning("outer note")

    asyncio.run(outer())
    assert [r[semconv.LOG_MESSAGE] for r in log_events(kept.by_name("inner")[0])] == [
        "inner trouble"]
    assert [r[semconv.LOG_MESSAGE] for r in log_events(kept.by_name("outer")[0])] == [
        "outer note"]


def test_a_flood_of_records_is_bounded_and_counted(kept: ExecutionStore) -> None:
    @otel_exec.traced(name="noisy")
    def noisy() -> None:
        for i in range(1_000):
            app_log.warning("line %d %s", i, "x" * 100)

    noisy()
    (execution,) = kept.by_name("noisy")
    assert len(log_events(execution)) == logs.MAX_RECORDS
    assert execution.attributes[semconv.EXEC_LOGS_DROPPED] == 1_000 - logs.MAX_RECORDS
    assert sum(len(str(r[semconv.LOG_MESSAGE])) for r in log_events(execution)) <= logs.MAX_BYTES


def test_a_record_that_cannot_be_formatted_leaves_the_program_alone() -> None:
    """logging reports its own formatting error on stderr and goes on; so do we (pytest's
    capture handler would raise it, so this runs as a program does)."""
    done = run_python(textwrap.dedent("""
        import logging
        import otel_exec

        @otel_exec.traced(name="sloppy")
        def sloppy():
            logging.getLogger("app").warning("%d items", "not a number")
            return "done"

        print(sloppy(), otel_exec.registry.get_all()[0].status.value)
    """))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "completed"]
    assert done.stderr.count("--- Logging error ---") == 1  # logging's own report, once
    assert "instrumentation/logs.py" not in done.stderr  # nothing of ours failed


def test_the_frameworks_own_lines_sit_under_their_executions(kept: ExecutionStore) -> None:
    from falyx.action import Action, ChainedAction

    def undo() -> None:
        raise RuntimeError("could not undo")

    async def broken() -> None:
        raise ValueError("failed")

    otel_exec.instrument("falyx")
    try:
        with pytest.raises(ValueError):
            asyncio.run(ChainedAction("undoing", [Action("a", lambda: 1, rollback=undo),
                                                  Action("b", broken)])())
    finally:
        otel_exec.uninstrument("falyx")
    (rollback,) = [e for e in kept.executions() if e.name == "rollback undoing"]
    assert [r[semconv.LOG_MESSAGE] for r in log_events(rollback)] == [
        "[a] Rolling back...", "[a] Rollback failed: could not undo"]
    assert {r[semconv.LOG_LOGGER] for r in log_events(rollback)} == {"falyx"}


def test_records_travel_in_the_trace_file_and_tree_shows_them(
        kept: ExecutionStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    @otel_exec.traced(name="ship")
    def ship() -> None:
        app_log.error("carrier \x1b[31mdown\x1b[0m")

    ship()
    path = tmp_path / "t.jsonl"
    otel_exec.save(path)
    assert main(["tree", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ERROR app.orders: carrier \\x1b[31mdown\\x1b[0m" in out  # shown literally
    assert "\x1b[31m" not in out


def test_off_keeps_none(store: ExecutionStore) -> None:
    otel_exec.configure(logs=False)
    try:
        @otel_exec.traced(name="quiet")
        def quiet() -> None:
            app_log.warning("not kept: logs off")

        quiet()
        assert log_events(store.by_name("quiet")[0]) == []
    finally:
        otel_exec.configure(logs=None)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


APP = """
import json, logging
import otel_exec
otel_exec.configure(service_name="logs", {arguments})
log = logging.getLogger("app")
log.setLevel(logging.INFO)  # the program lets INFO through; what otel_exec keeps is its level

@otel_exec.traced(name="work")
def work(i):
    log.warning("working on %s token=abc123", i)
    log.info("detail %s", i)

for i in range(3):
    work(i)
log.warning("outside: never exported by otel_exec")
otel_exec.shutdown()
print(json.dumps([[e.trace_id, e.span_id] for e in otel_exec.store().by_name("work")]))
"""


@pytest.mark.parametrize(("protocol", "level", "expected"), [
    ("http/protobuf", "True", 3), ("grpc", "'INFO'", 6)])
def test_logs_are_exported_once_with_their_spans_ids(receiver: Receiver, protocol: str,
                                                     level: str, expected: int) -> None:
    receiver.clear()
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    arguments = (f"otlp_endpoint='http://127.0.0.1:{port}', otlp_protocol='{protocol}', "
                 f"logs={level}")
    done = run_python(textwrap.dedent(APP.format(arguments=arguments)))
    assert done.returncode == 0, done.stderr
    spans = {tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])}
    assert len(receiver.logs) == expected  # each record once; none from outside
    assert {(trace, span) for _, trace, span in receiver.logs} == spans
    assert all("token=[REDACTED]" in body or body.startswith("detail")
               for body, _, _ in receiver.logs)


def test_under_the_distros_logs_pipeline_records_are_exported_once(receiver: Receiver) -> None:
    """The SDK's LoggingHandler already exports the program's records: otel_exec adds none."""
    receiver.clear()
    code = textwrap.dedent(f"""
        import json, logging
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint="http://127.0.0.1:{receiver.http_port}/v1/logs")))
        set_logger_provider(provider)
        logging.getLogger().addHandler(LoggingHandler(logging.WARNING, provider))
        import otel_exec
        otel_exec.configure(logs=True)

        @otel_exec.traced(name="work")
        def work():
            logging.getLogger("app").warning("once")

        work()
        otel_exec.shutdown()
        provider.shutdown()
        print("done")
    """)
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert [body for body, _, _ in receiver.logs] == ["once"]


def test_routilux_lines_sit_under_the_routine_that_failed(kept: ExecutionStore) -> None:
    from routilux.core.error import ErrorStrategy
    from routilux.core.runtime import Runtime

    from tests.instrumentation import routilux_workload as workload

    otel_exec.instrument("routilux", quiet_period=0.05)
    runtime = Runtime()
    try:
        workload.run_fan_out(runtime, "logged_flow", ErrorStrategy.CONTINUE, 2)
    finally:
        runtime.shutdown(wait=True, timeout=5)
        otel_exec.uninstrument("routilux")
    failing = [e for e in kept.executions()
               if e.attributes.get(semconv.ROUTILUX_ROUTINE_ID) == "bad"]
    assert len(failing) == 2
    for routine in failing:
        lines = [r[semconv.LOG_MESSAGE] for r in log_events(routine)
                 if str(r[semconv.LOG_LOGGER]).startswith("routilux")]
        assert lines and all("cannot process" in str(line) for line in lines)


@needs_fsm
def test_a_line_logged_in_an_fsm_transform_sits_under_its_step(
        kept: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.instrumentation import fsm_workload as workload

    def scoring(data: dict[str, object], context: object = None) -> dict[str, object]:
        logging.getLogger("app.scoring").warning("scoring %s", data["amount"])
        return workload.score(data, context)  # type: ignore[arg-type]

    monkeypatch.setitem(workload.FUNCTIONS, "score", scoring)
    otel_exec.instrument("dataknobs_fsm")
    try:
        workload.loans().process({"amount": 3})
    finally:
        otel_exec.uninstrument("dataknobs_fsm")
    holders = [e for e in kept.executions() if log_events(e)]
    assert [(e.kind, r[semconv.LOG_MESSAGE]) for e in holders for r in log_events(e)] == [
        ("step", "scoring 3")]


def test_under_the_distro_with_its_logging_pipeline_each_record_is_exported_once(
        receiver: Receiver) -> None:
    """``opentelemetry-instrument`` with OTLP logs and its logging auto-instrumentation: the
    distro's handler exports the program's records; otel_exec keeps them with the spans and
    adds no second export."""
    import os
    import subprocess
    import sys

    receiver.clear()
    script = textwrap.dedent("""
        import logging
        import otel_exec
        otel_exec.configure(logs=True)

        @otel_exec.traced(name="work")
        def work():
            logging.getLogger("app").warning("distro once")

        work()
        assert [e.logs for e in otel_exec.store().by_name("work")] == [
            ["WARNING app: distro once"]]
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.http_port}",
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_LOGS_EXPORTER="otlp",
               OTEL_METRICS_EXPORTER="none", OTEL_TRACES_EXPORTER="none",
               OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run([str(instrument), sys.executable, "-c", script], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    bodies = [body for body, _, _ in receiver.logs]
    assert bodies.count("distro once") == 1, bodies
