"""SQL over traces on chDB (no mocks): every command's rows equal to the in-memory views on the
same files (the demo of the real frameworks, and generated files), the views on a table made
with the collector exporter's own DDL, the columnar copy and when it is made again, hostile
files and queries, and the extra being optional."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, StatusCode, TraceFlags

from otel_exec import semconv
from otel_exec.cli import main
from otel_exec.execution import Execution
from otel_exec.trace_files import encode_line, iter_traces
from otel_exec.trace_sql import engines, queries, schema

from .conftest import needs_fsm

# chDB is loaded by the first test that queries, not when the tests are collected: the engine
# changes the signal handling of the process that loads it, and earlier tests start processes.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.skipif(importlib.util.find_spec("chdb") is None,
                                 reason="chDB is not installed (the sql extra)")]


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


REQUESTS = (
    ["summary"], ["summary", "--status", "error"], ["summary", "--limit", "3"],
    ["summary", "--last-result"], ["summary", "--result-index", "2"], ["summary", "--index", "1"],
    ["summary", "--slowest", "4"], ["summary", "--framework", "python"],
    ["summary", "--name", "charge"], ["summary", "--index", "99999"],
    ["stats"], ["stats", "--status", "error"], ["stats", "--kind", "routine"],
    ["history"], ["history", "--status", "error"], ["jobs"], ["jobs", "--status", "error"],
    ["jobs", "--service", "worker"], ["summary", "--attr", "tenant=acme"],
    ["stats", "--since", "1790000000.5"], ["history", "--kind", "nothing"])


def _same_both_ways(files: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    """Every request through Python and through the engine; returns how many had rows."""
    with_rows = 0
    for request in REQUESTS:
        plain = _json([request[0], *files, *request[1:], "--json"], capsys)
        engine = _json([request[0], *files, *request[1:], "--json", "--sql"], capsys)
        assert engine == plain, request
        with_rows += plain[0] == 0 and bool(plain[1])
    return with_rows


# ---- the demo: the real frameworks ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    cli = Path(sys.executable).with_name("otel-exec")
    done = subprocess.run([str(cli), "demo", "--output", str(output)], capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, check=False,
                          env={"PATH": str(cli.parent), "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    return output


@needs_fsm
def test_every_command_is_the_same_through_the_engine_on_the_demo(
        demo_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _same_both_ways([str(demo_file)], capsys) >= 12


@needs_fsm
def test_the_views_answer_what_the_frameworks_recorded(demo_file: Path) -> None:
    spans = list(iter_traces(demo_file))

    def counted(framework: str, kind: str) -> list[tuple[str, int]]:
        found = Counter(span.status.value for span in spans
                        if span.framework == framework and span.kind == kind)
        return sorted(found.items())

    runs = queries.sql("SELECT status, count() FROM fsm_runs WHERE kind = 'fsm_run' "
                       "GROUP BY status ORDER BY status", str(demo_file))
    assert runs.rows == counted("dataknobs_fsm", "fsm_run") and len(runs.rows) == 2
    steps = queries.sql("SELECT status, count() FROM fsm_steps GROUP BY status ORDER BY status",
                        str(demo_file))
    assert steps.rows == counted("dataknobs_fsm", "step")
    assert queries.sql("SELECT state_name FROM fsm_steps WHERE status = 'failed'",
                       str(demo_file)).rows == [("validated",)]
    (job,) = queries.sql("SELECT * FROM routilux_jobs", str(demo_file)).dicts()
    assert job["flow_id"] == "orders" and job["status"] == "completed"
    routines = queries.sql("SELECT routine_id, count(), countIf(NOT success) FROM "
                           "routilux_routines GROUP BY routine_id ORDER BY routine_id",
                           str(demo_file))
    assert routines.rows == [("fraud_check", 3, 1), ("ledger", 3, 0), ("pricing", 3, 0),
                             ("source", 1, 0)]
    history = queries.sql("SELECT index, name, status FROM falyx_history WHERE "
                          "framework = 'falyx' ORDER BY index", str(demo_file))
    assert [row[0] for row in history.rows] == list(range(len(history.rows)))
    assert ("Publish", "failed") in {row[1:] for row in history.rows}


# ---- generated files ---------------------------------------------------------------------------
class _Spans:
    """Random traces of every framework's shape, with typed attributes."""

    def __init__(self, seed: int, start: int = 1_790_000_000_000_000_000) -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.spans: list[Execution] = []

    def span(self, name: str, trace: int, parent: int | None, attributes: dict[str, Any],
             start: int, length: int, *, failed: bool = False, scope: str = "otel_exec",
             events: tuple[Event, ...] = (), links: tuple[Link, ...] = ()) -> int:
        span_id = self.rng.getrandbits(63) + 1
        if failed:
            events += (Event(semconv.EXCEPTION_EVENT, {
                semconv.EXCEPTION_TYPE: "builtins.ValueError",
                semconv.EXCEPTION_MESSAGE: f"bad {name} 'quoted'"}, start + length - 1),)
        self.spans.append(Execution(
            name, trace, span_id, parent, start, start + length, attributes, events, links,
            StatusCode.ERROR if failed else StatusCode.UNSET, "it broke" if failed else None,
            scope))
        return span_id

    def user(self) -> dict[str, Any]:
        rng = self.rng
        return {"tenant": rng.choice(["acme", "globex"]), "attempt": rng.randint(0, 5),
                "flag": rng.random() < 0.5, "ratio": rng.choice([0.25, 1.5, 3.0]),
                "tags": ("a", "b") if rng.random() < 0.5 else ("c",)}

    def trace(self) -> None:
        rng, trace = self.rng, self.rng.getrandbits(127) + 1
        start = self.clock = self.clock + rng.randint(1_000, 10_000_000)
        shape = rng.choice(["python", "fsm", "stream", "job", "foreign"])
        if shape == "python":
            failed = rng.random() < 0.3
            attributes = {semconv.EXEC_KIND: "function", semconv.EXEC_FRAMEWORK: "python",
                          semconv.EXEC_STATUS: "failed" if failed else "completed",
                          semconv.EXEC_ARGS: "(1, 'x')", semconv.EXEC_RESULT: rng.choice(
                              ["42", "[1, 2]", "'text'", "True"]), **self.user()}
            if rng.random() < 0.2:
                attributes[semconv.EXEC_IGNORE_IN_HISTORY] = True
            if rng.random() < 0.1:
                attributes[semconv.EXEC_RECORDED] = False
            root = self.span(rng.choice(["charge", "quote", "price"]), trace, None, attributes,
                             start, rng.randint(1_000, 5_000_000), failed=failed)
            self.span("child", trace, root, {semconv.EXEC_KIND: "function",
                                             semconv.EXEC_FRAMEWORK: "python"}, start + 10, 500)
        elif shape in ("fsm", "stream"):
            fsm = {semconv.EXEC_FRAMEWORK: semconv.FRAMEWORK_DATAKNOBS_FSM}
            outer = None
            if shape == "stream":
                outer = self.span("fsm.stream p", trace, None, {
                    **fsm, semconv.EXEC_KIND: "stream", semconv.FSM_NAME: "p"}, start, 90_000)
                chunk = self.span("fsm.stream.chunk 0", trace, outer, {
                    **fsm, semconv.EXEC_KIND: "chunk", semconv.FSM_CHUNK_SIZE: 3}, start + 1,
                    80_000)
                outer = chunk
            run = self.span("fsm.run p", trace, outer, {
                **fsm, semconv.EXEC_KIND: "fsm_run", semconv.FSM_NAME: "p"}, start + 2, 70_000,
                failed=rng.random() < 0.2)
            at = start + 3
            for state in ("received", "validated", "scored"):
                status = rng.choice(["completed", "completed", "failed", "skipped"])
                step = self.span(f"step {state}", trace, run, {
                    **fsm, semconv.EXEC_KIND: "step", semconv.FSM_STATE: state,
                    semconv.FSM_NETWORK: "main", semconv.EXEC_STATUS: status,
                    semconv.FSM_ARC_TAKEN: "next", semconv.FSM_ERROR: "no"}, at, 1_000,
                    failed=status == "failed")
                self.span("resource db", trace, step, {
                    **fsm, semconv.EXEC_KIND: "resource", semconv.FSM_RESOURCE_NAME: "db",
                    semconv.FSM_RESOURCE_OWNER: state}, at + 1, 100)
                at += 2_000
        elif shape == "job":
            rx = {semconv.EXEC_FRAMEWORK: semconv.FRAMEWORK_ROUTILUX}
            job = self.span("job orders", trace, None, {
                **rx, semconv.EXEC_KIND: "job", semconv.ROUTILUX_FLOW: "orders",
                semconv.ROUTILUX_JOB_ID: f"job-{trace % 1000}"}, start, 100_000,
                events=(Event(semconv.ROUTILUX_PAUSED_EVENT, {semconv.ROUTILUX_REASON: "wait"},
                              start + 5),))
            source = self.span("routine source", trace, job, {
                **rx, semconv.EXEC_KIND: "routine", semconv.ROUTILUX_ROUTINE_ID: "source",
                semconv.EXEC_ARGS: "{'n': 1}"}, start + 10, 1_000, events=(Event(
                    semconv.ROUTILUX_EMIT_EVENT, {semconv.ROUTILUX_EVENT: "out",
                                                  semconv.EXEC_ARGS: "(1,)"}, start + 20),))
            link = Link(SpanContext(trace, source, True, TraceFlags(1)),
                        {semconv.ROUTILUX_EVENT: "out"})
            for number in range(rng.randint(1, 3)):
                status = rng.choice(["completed", "error_continued", "failed"])
                self.span("routine sink", trace, job, {
                    **rx, semconv.EXEC_KIND: "routine", semconv.ROUTILUX_ROUTINE_ID: "sink",
                    semconv.EXEC_STATUS: status}, start + 2_000 + number * 3_000, 2_000,
                    failed=status != "completed", links=(link,))
        else:
            self.span("GET /", trace, None, self.user(), start, 7_000, scope="opentelemetry.http",
                      failed=rng.random() < 0.5)


def _write(path: Path, spans: list[Execution], service: str) -> None:
    lines = [encode_line(spans[at:at + 7], {"service.name": service})
             for at in range(0, len(spans), 7)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _generated(folder: Path, seed: int, traces: int = 60) -> list[str]:
    made = _Spans(seed)
    for _ in range(traces):
        made.trace()
    half = len(made.spans) // 2
    first, second = folder / f"a{seed}.jsonl", folder / f"b{seed}.jsonl.gz"
    _write(first, made.spans[:half], "api")
    _write(second, made.spans[half:], "worker")
    return [str(first), str(second)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_command_is_the_same_through_the_engine_on_generated_files(
        seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _same_both_ways(_generated(tmp_path, seed), capsys) >= 10


def test_falyx_indices_number_the_registry_as_in_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = _Spans(7)
    for number in range(6):
        made.span(f"action{number}", 99, None, {
            semconv.EXEC_KIND: "action", semconv.EXEC_FRAMEWORK: "falyx",
            semconv.FALYX_INDEX: 5 - number}, made.clock + number * 1_000, 500)
    made.span("function", 98, None, {semconv.EXEC_KIND: "function",
                                      semconv.EXEC_FRAMEWORK: "python"}, made.clock, 100)
    path = tmp_path / "falyx.jsonl"
    _write(path, made.spans, "cli")
    for request in (["summary"], ["summary", "--index", "2"], ["summary", "--result-index", "0"],
                    ["summary", "--limit", "2"]):
        plain = _json([request[0], str(path), *request[1:], "--json"], capsys)
        assert _json([request[0], str(path), *request[1:], "--json", "--sql"], capsys) == plain
    rows = queries.sql("SELECT name, index FROM falyx_history ORDER BY end_ns", str(path)).rows
    assert rows == [*((f"action{n}", 5 - n) for n in range(6)), ("function", None)] or rows[
        0] == ("function", None)


HOSTILE_TEXTS = ['say "hi"', "back\\slash", "line\nbreak\ttab", "é 😀 中文", "\x1b[31mred",
                 '{"stringValue": "inner"}', "", "[not json", "'quoted'"]


def test_attribute_values_come_back_as_they_were_sent(tmp_path: Path) -> None:
    values = {"int": 7, "negative": -12, "bool": True, "false": False, "float": 1.5,
              "tuple": ("a", "b"), "ints": (1, 2), "text": "hello", "looks_like_int": "007",
              semconv.EXEC_RESULT: "42", "mixed": ("x", 2, True),
              **{f"hostile{n}": text for n, text in enumerate(HOSTILE_TEXTS)}}
    made = _Spans(3)
    made.span("values", 5, None, values, made.clock, 10)
    path = tmp_path / "values.jsonl"
    _write(path, made.spans, "svc")
    (row,) = queries.sql("SELECT SpanAttributes FROM otel_traces", str(path)).rows
    assert row[0] == {"int": "7", "negative": "-12", "bool": "true", "false": "false",
                      "float": "1.5", "tuple": '["a","b"]', "ints": "[1,2]", "text": "hello",
                      "looks_like_int": "007", semconv.EXEC_RESULT: "42",
                      "mixed": '["x",2,true]',
                      **{f"hostile{n}": text for n, text in enumerate(HOSTILE_TEXTS)}}
    assert {key: queries.typed(key, text) for key, text in row[0].items()} == values


# ---- the collector's table ---------------------------------------------------------------------
VIEW_QUERIES = {
    "executions": "SELECT span_id, kind, framework, status, success, duration, result, "
                  "exception_type, in_registry, own_index FROM executions ORDER BY span_id",
    "falyx_history": "SELECT span_id, name, index FROM falyx_history ORDER BY span_id",
    "fsm_runs": "SELECT * FROM fsm_runs ORDER BY run_id",
    "fsm_steps": "SELECT * FROM fsm_steps ORDER BY step_id",
    "routilux_jobs": "SELECT * FROM routilux_jobs ORDER BY span_id",
    "routilux_routines": "SELECT * FROM routilux_routines ORDER BY span_id",
}


def test_every_view_runs_on_the_collector_exporters_table(tmp_path: Path) -> None:
    files = _generated(tmp_path, 11)
    from chdb import session

    cluster = engines.Cluster.__new__(engines.Cluster)  # its SQL, without a server to send to
    cluster._table, cluster._allow_write = "otel.otel_traces", False
    with queries.open_engine(files) as engine:
        assert isinstance(engine, engines.Files)
        on_files = {name: engine.run(query, "JSONCompact") for name, query in VIEW_QUERIES.items()}
        copies = list(engine._tables or ())  # the columnar copies the engine read
        server = session.Session(str(tmp_path / "server"))
        _fill(server, copies)
    try:
        assert server.query("SELECT count() FROM otel.otel_traces", "CSV").bytes().strip() != b"0"
        for name, query in VIEW_QUERIES.items():
            answer = server.query(cluster.statement(query) + " SETTINGS "
                                  "output_format_json_quote_64bit_integers = 0", "JSONCompact")
            mine, theirs = json.loads(on_files[name]), json.loads(answer.bytes())
            assert theirs["data"] == mine["data"] and theirs["data"], name
    finally:
        server.close()


def _fill(server: Any, copies: list[str]) -> None:
    """The collector's table, holding the spans of the engine's columnar copies."""
    assert copies
    server.query("CREATE DATABASE otel")
    server.query(schema.COLLECTOR_DDL.format(table="otel.otel_traces"))
    for copy in copies:
        server.query(f"INSERT INTO otel.otel_traces SELECT * FROM file('{copy}', 'Arrow') "
                     "WHERE TraceId != ''")


def test_the_collector_config_pipes_traces_into_that_table() -> None:
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "collector-config" /
                             "clickhouse.yaml").read_text())
    exporter = config["exporters"]["clickhouse"]
    assert exporter["traces_table_name"] == schema.TABLE
    assert "password" not in json.dumps(exporter) or "${env:" in exporter["password"]
    assert "clickhouse" in config["service"]["pipelines"]["traces"]["exporters"]
    shipped = (Path(__file__).resolve().parents[1] / "collector-config" /
               "clickhouse-traces.sql").read_text()
    assert schema.COLLECTOR_DDL.format(table="otel.otel_traces").rstrip() + ";" in shipped
    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "collector-config" /
                              "docker-compose.yml").read_text())["services"]
    assert exporter["endpoint"].split("//")[1].split(":")[0] in compose
    assert "8123:8123" in compose["clickhouse"]["ports"]


# ---- the columnar copy ---------------------------------------------------------------------------
def _copies(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{engines.CACHE_SUFFIX}"))


def test_a_large_file_keeps_a_copy_made_again_when_it_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "CACHE_MIN_BYTES", 0)
    (path, _) = _generated(tmp_path, 4)
    count = "SELECT count() FROM otel_traces"
    first = queries.sql(count, path).rows
    (copy,) = _copies(tmp_path)
    made = copy.stat().st_mtime_ns
    assert queries.sql(count, path).rows == first
    assert _copies(tmp_path) == [copy] and copy.stat().st_mtime_ns == made  # read, not made
    more = _Spans(5)
    more.trace()
    with open(path, "a", encoding="utf-8") as out:
        out.write(encode_line(more.spans, {"service.name": "api"}) + "\n")
    assert queries.sql(count, path).rows == [(first[0][0] + len(more.spans),)]
    (again,) = _copies(tmp_path)
    assert again != copy and not copy.exists()  # the stale copy is gone


def test_a_read_only_folder_keeps_its_copy_in_the_cache_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    monkeypatch.setattr(engines, "CACHE_MIN_BYTES", 0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "ro"
    folder.mkdir()
    (path, _) = _generated(folder, 6)
    folder.chmod(0o555)
    try:
        assert queries.sql("SELECT count() FROM otel_traces", path).rows[0][0] > 0
    finally:
        folder.chmod(0o755)
    assert not _copies(folder)
    assert list((tmp_path / "cache" / "otel-exec").glob(f"*{engines.CACHE_SUFFIX}"))


def test_small_files_leave_nothing_behind(tmp_path: Path) -> None:
    (path, _) = _generated(tmp_path, 8)
    queries.sql("SELECT 1 FROM otel_traces LIMIT 1", path)
    assert not _copies(tmp_path)


# ---- hostile files and queries ----------------------------------------------------------------
@pytest.mark.parametrize("text", ["hello\n", '{"resourceSpans": [{"scopeSpans": [{"spans": '
                                  '[{"traceId": "zz"}]}]}]}\n', '{"foo": 1}\n',
                                  '{"resourceSpans": [\n'])
def test_a_file_that_is_not_otlp_is_the_readers_file_line_message(
        text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    good = _Spans(2)
    good.trace()
    path.write_text(encode_line(good.spans, {"service.name": "x"}) + "\n" + text)
    assert main(["summary", str(path)]) == 2
    expected = capsys.readouterr().err.split(": ", 1)[1]
    assert main(["sql", str(path), "SELECT count() FROM otel_traces"]) == 2
    err = capsys.readouterr().err
    assert err == f"otel-exec sql: {expected}" and f"{path}:2:" in err


def test_odd_file_names_are_read_literally(tmp_path: Path) -> None:
    made = _Spans(9)
    made.trace()
    path = tmp_path / "it's [a] {b} *.jsonl"
    _write(path, made.spans, "x")
    assert queries.sql("SELECT count() FROM otel_traces", str(path)).rows == [
        (len(made.spans),)]
    assert queries.sql("SELECT count() FROM otel_traces", str(tmp_path / "it*")).rows == [
        (len(made.spans),)]


def test_missing_files_and_globs_that_match_nothing(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    assert main(["sql", str(tmp_path / "none.jsonl"), "SELECT 1"]) == 2
    assert capsys.readouterr().err.endswith("none.jsonl: no such file\n")
    assert main(["sql", str(tmp_path / "*.jsonl"), "SELECT 1"]) == 2
    assert "no file matches" in capsys.readouterr().err
    assert main(["sql", "SELECT 1"]) == 2
    assert "give trace files or --clickhouse" in capsys.readouterr().err


def test_engine_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (path, _) = _generated(tmp_path, 10)
    assert main(["sql", path, "SELECT nope FROM otel_traces"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "Stack trace" not in err


def test_standard_input_and_output_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (path, _) = _generated(tmp_path, 12)
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(path).read_bytes())))
    assert main(["sql", "-", "SELECT name, count() AS n FROM executions GROUP BY name "
                 "ORDER BY name", "--csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0] == '"name","n"' and len(csv) > 2
    assert main(["sql", path, "SELECT name, count() AS n FROM executions GROUP BY name "
                 "ORDER BY name", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["name"] for row in rows] == [line.split(",")[0].strip('"') for line in csv[1:]]
    assert main(["sql", path, "SELECT '[red]x[/red]\x1b[2J' AS s"]) == 0
    shown = capsys.readouterr().out
    assert "[red]x[/red]" in shown and "\x1b[2J" not in shown


@pytest.mark.parametrize(("query", "reads"), [
    ("SELECT 1", True), ("  -- a comment\nWITH x AS (SELECT 1) SELECT * FROM x", True),
    ("select ';' AS semicolon", True), ("SHOW TABLES", True), ("DROP TABLE otel_traces", False),
    ("SELECT 1; DROP TABLE otel_traces", False), ("INSERT INTO t VALUES (1)", False),
    ("/* hi */ ALTER TABLE t DELETE WHERE 1", False), ("SYSTEM SHUTDOWN", False)])
def test_only_reads_run_on_a_server_unless_allowed(query: str, reads: bool) -> None:
    pytest.importorskip("clickhouse_connect")
    cluster = engines.Cluster("http://127.0.0.1:9/otel")
    if reads:
        assert cluster.statement(query)
    else:
        with pytest.raises(engines.SqlError, match="--allow-write"):
            cluster.statement(query)
        assert engines.Cluster("http://127.0.0.1:9", allow_write=True).statement(query)


def test_credentials_never_come_from_the_command_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("clickhouse_connect")
    assert main(["sql", "--clickhouse", "http://me:secret@127.0.0.1:9", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert "CLICKHOUSE_PASSWORD" in err and "secret" not in err
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "hunter2-secret")
    assert main(["summary", "--clickhouse", "http://127.0.0.1:9/otel"]) == 2  # nothing listens
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hunter2" not in err
    assert main(["sql", "--clickhouse", "ftp://x", "SELECT 1"]) == 2
    assert main(["sql", "--clickhouse", "http://x", "--table", "a; DROP", "SELECT 1"]) == 2


def test_the_views_become_common_table_expressions_on_a_server() -> None:
    text = schema.with_views("WITH 1 AS one SELECT * FROM fsm_steps", "otel.otel_traces")
    assert text.startswith("WITH executions AS (") and "1 AS one SELECT" in text
    assert "FROM otel.otel_traces\n" in text and "fsm_steps AS (" in text
    assert schema.with_views("SELECT 1") == "SELECT 1"


# ---- without the extra ---------------------------------------------------------------------------
def test_without_chdb_the_command_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (path, _) = _generated(tmp_path, 13)
    monkeypatch.setitem(sys.modules, "chdb", None)
    assert main(["sql", path, "SELECT 1"]) == 2
    assert "pip install 'otel-exec[sql]'" in capsys.readouterr().err
    assert main(["stats", path, "--sql"]) == 2
    assert "pip install 'otel-exec[sql]'" in capsys.readouterr().err
    assert main(["stats", path, "--json"]) == 0  # the in-memory path needs nothing more
