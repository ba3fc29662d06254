"""Hostile trace files: every input ends, within a bound, as a loaded store or a one-line
``TraceFileError`` naming file:line; the CLI exits 2 with that line and never a traceback. A
property-based fuzz test mutates real files; targeted tests cover the cases that used to hang,
exhaust memory or be accepted silently."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.trace_files import MAX_DEPTH, TraceFileError, read_traces, store_of
from otel_exec.views import Views


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real trace file: nested @traced calls, a failure, events and a retry-like loop."""
    store = otel_exec.configure()
    store.clear()

    @otel_exec.traced(name="child")
    def child(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    @otel_exec.traced(name="parent")
    def parent() -> list[int]:
        out = []
        for n in range(4):
            try:
                out.append(child(n))
            except ValueError:
                out.append(-1)
        return out

    for _ in range(3):
        parent()
    path = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    otel_exec.save(path)
    store.clear()
    return path.read_bytes()


def every_view(store: ExecutionStore) -> None:
    """Run every view the CLI offers on a store (they must all end)."""
    views = Views(store)
    console = Console(file=io.StringIO(), width=120)
    views.registry.summary(console=console)
    from otel_exec.render import stats_table, trace_trees
    from otel_exec.views.stats import stats
    from otel_exec.views.tree import forest

    console.print(*trace_trees(store))
    console.print(stats_table(stats(store.executions())))
    for trace in store.trace_ids():
        forest(store.by_trace(trace))
    [history.to_dict() for history in views.history.histories()]
    [views.job_state(job.span_id).serialize() for job in views.job_state.jobs()]


def mutate(data: bytes, seed: int, edits: int) -> bytes:
    rng = random.Random(seed)
    buffer = bytearray(data)
    for _ in range(edits):
        choice = rng.randrange(6)
        position = rng.randrange(len(buffer) or 1)
        if choice == 0 and buffer:
            buffer[position] = rng.randrange(256)
        elif choice == 1:
            buffer[position:position] = rng.choice(
                [b"{", b"}", b"[", b"]", b'"', b",", b":", b"\n", b"0", b"-1", b"1e999",
                 b'"false"', b"null", b'{"kvlistValue":{"values":[]}}'])
        elif choice == 2:
            del buffer[position:position + rng.randrange(1, 64)]
        elif choice == 3:
            buffer = buffer[:position]
        elif choice == 4:
            lines = bytes(buffer).splitlines(keepends=True)
            if lines:
                buffer += rng.choice(lines)  # a duplicated line: duplicate spans
        else:
            buffer = buffer.replace(b'"spanId":"', b'"spanId":"0', 1)
    return bytes(buffer)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), edits=st.integers(1, 8))
def test_any_mutation_loads_or_is_one_trace_file_error(sample: bytes, tmp_path: Path,
                                                      seed: int, edits: int) -> None:
    path = tmp_path / f"fuzz-{seed}.jsonl"
    path.write_bytes(mutate(sample, seed, edits))
    try:
        data = read_traces(path)
    except TraceFileError as error:
        message = str(error)
        assert message.startswith(str(path)) and "\n" not in message
        return
    every_view(store_of(data.executions))


def write(tmp_path: Path, spans: list[dict[str, Any]], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    line = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]}
    path.write_text(json.dumps(line) + "\n")
    return path


def span(span_id: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"traceId": "1" * 32, "spanId": span_id, "name": f"s{span_id[-1]}",
                            "startTimeUnixNano": "1000", "endTimeUnixNano": "2000",
                            "attributes": [{"key": "exec.framework",
                                            "value": {"stringValue": "python"}}]}
    if parent:
        item["parentSpanId"] = parent
    item.update(extra)
    return item


OTEL_EXEC = str(Path(sys.executable).with_name("otel-exec"))


def cli(*args: str) -> tuple[int, str, str]:
    done = subprocess.run([OTEL_EXEC, *args], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "120"})
    return done.returncode, done.stdout, done.stderr


def test_nested_key_value_lists_stay_linear_and_bounded(tmp_path: Path) -> None:
    value: dict[str, Any] = {"stringValue": '\\"' * 200}  # each level used to re-escape
    for _ in range(MAX_DEPTH):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    path = write(tmp_path, [span("a" * 16, attributes=[{"key": "deep", "value": value}])])
    tracemalloc.start()
    (execution,) = read_traces(path).executions
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(execution.attributes["deep"]) <= 65_536
    assert peak < 200_000_000
    deeper = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    deeper = {"kvlistValue": {"values": [{"key": "k", "value": deeper}]}}
    path = write(tmp_path, [span("a" * 16, attributes=[{"key": "deep", "value": deeper}])])
    with pytest.raises(TraceFileError, match=r":1: .*nested deeper than"):
        read_traces(path)


def test_duplicated_files_and_parent_cycles_load_and_every_view_ends(tmp_path: Path) -> None:
    path = write(tmp_path, [span("a" * 16, "b" * 16), span("b" * 16, "a" * 16),
                            span("c" * 16, "c" * 16), span("d" * 16, "a" * 16)])
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text(path.read_text() * 2)
    data = read_traces(doubled)
    assert len(data.executions) == 4
    assert any("4 duplicate span(s)" in note for note in data.notes)
    assert any("2 parent cycle(s) broken" in note for note in data.notes)
    every_view(store_of(data.executions))
    for command in ("summary", "tree", "stats", "history", "jobs"):
        code, _, err = cli(command, str(doubled))
        assert code == 0, err
        assert "duplicate span(s) ignored" in err and "Traceback" not in err


@pytest.mark.parametrize(("spans_or_text", "expected"), [
    ("[" * 100_000 + "]" * 100_000, "expected a JSON object"),
    ('{"resourceSpans": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ([span("a" * 16, startTimeUnixNano=str(10 ** 40))], "startTimeUnixNano"),
    ([span("a" * 16, startTimeUnixNano="3000")], "ends before it starts"),
    ([span("abc")], "spanId 'abc' is not 16 hex digits"),
    ([span("a" * 16, traceId="12")], "traceId '12' is not 32 hex digits"),
    ([span("a" * 16, attributes=[{"key": "ok", "value": {"boolValue": "false"}}])],
     "boolValue must be a JSON true or false"),
    ([span("a" * 16, status={"code": 7})], "status code"),
    ([span("a" * 16, events=[{"name": "e", "timeUnixNano": "soon"}])], "timeUnixNano"),
    ([span("0" * 16)], "spanId is all zeros"),
])
def test_invalid_content_is_one_line_naming_file_and_line(
        tmp_path: Path, spans_or_text: Any, expected: str) -> None:
    if isinstance(spans_or_text, str):
        path = tmp_path / "t.jsonl"
        path.write_text('{"resourceSpans": []}\n' + spans_or_text + "\n")
        where = ":2: "
    else:
        path = write(tmp_path, spans_or_text)
        where = ":1: "
    with pytest.raises(TraceFileError) as caught:
        read_traces(path)
    assert f"{path}{where}" in str(caught.value) and expected in str(caught.value)
    code, out, err = cli("summary", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_pipes_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(TraceFileError, match="not a regular file"):
            read_traces(path)
        assert cli("stats", str(path))[0] == 2


def test_a_long_line_that_is_not_json_fails_at_its_first_character(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * 30_000_000 + b"\n")
    tracemalloc.start()
    with pytest.raises(TraceFileError, match=":1: expected a JSON object"):
        read_traces(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # one chunk, not the 30 MB line


def test_several_files_stdin_and_gzip(sample: bytes, tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(sample)
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(sample.replace(b'"traceId":"', b'"traceId":"f', 0)))
    one = len(read_traces(plain).executions)
    assert len(read_traces(plain, packed).executions) == one  # the same spans: deduplicated
    done = subprocess.run([OTEL_EXEC, "stats", "-", "--json"],
                          input=sample, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert {row["name"] for row in json.loads(done.stdout)} == {"child", "parent"}
    assert cli("--version")[1].startswith("otel-exec ")


def test_filters_work_on_every_command(sample: bytes, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(sample)
    executions = read_traces(path).executions
    trace = executions[0].trace_id
    code, out, _ = cli("summary", str(path), "--json", "--trace", trace)
    assert code == 0 and {e["trace_id"] for e in json.loads(out)} == {trace}
    code, out, _ = cli("stats", str(path), "--json", "--status", "error")
    assert code == 0 and [(r["name"], r["count"]) for r in json.loads(out)] == [("child", 3)]
    code, out, _ = cli("summary", str(path), "--json", "--slowest", "2")
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = cli("tree", str(path), "--json", "--name", "parent")
    assert code == 0 and all(len(roots) == 1 for roots in json.loads(out).values())
    start = min(e.start_time for e in executions)
    code, out, err = cli("summary", str(path), "--json", "--until", str(start))
    assert code == 2 and out == "" and "no executions match --until" in err
    code, out, _ = cli("summary", str(path), "--json", "--since", str(start), "--kind",
                       "function", "--framework", "python")
    assert code == 0 and len(json.loads(out)) == len(executions)
    assert cli("summary", str(path), "--since", "yesterday")[0] == 2
    service = next(e.service for e in executions)
    assert service  # the resource's service.name, kept per span
    code, out, _ = cli("summary", str(path), "--json", "--service", service)
    assert code == 0 and len(json.loads(out)) == len(executions)
    assert cli("summary", str(path), "--json", "--service", "another-service")[0] == 2


def test_lookups_that_find_nothing_behave_the_same_in_table_and_json(sample: bytes,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(sample)
    for extra in (["--result-index", "9999"], ["--index", "9999"], ["--name", "nobody"]):
        table, json_out = cli("summary", str(path), *extra), cli("summary", str(path), "--json",
                                                                 *extra)
        assert table[0] == json_out[0] == 2
        assert table[2] == json_out[2]
    table = cli("summary", str(path), "--name", "child", "--index", "0")
    as_json = cli("summary", str(path), "--json", "--name", "child", "--index", "0")
    assert table[0] == as_json[0] == 0
    assert len(json.loads(as_json[1])) == 12  # --name is checked first, as falyx does
    for command in ("history", "jobs"):
        code, out, err = cli(command, str(path))
        assert code == 0 and "nothing to show" in out and err == ""


def test_the_demo_skip_hint_names_the_package(monkeypatch: pytest.MonkeyPatch,
                                                      store: ExecutionStore) -> None:
    from otel_exec import demo
    from otel_exec.instrumentation import FRAMEWORKS, Framework

    for name, framework in list(FRAMEWORKS.items()):
        monkeypatch.setitem(FRAMEWORKS, name, Framework(
            "no_such_module_here", framework.instrumentor, framework.distribution))
    stream = io.StringIO()
    assert demo.run(Console(file=stream, width=200), output=None) == 0
    assert "pip install dataknobs-fsm" in stream.getvalue()


def _started(command: list[str], timeout: float = 30) -> subprocess.Popen[str]:
    """``otel-exec tail ...`` started, returned once it says it is following (bounded)."""
    # Ctrl-C reaches it even when the tests run as a background job: such a job inherits
    # SIGINT ignored, and so would the process (a handled signal is reset at exec instead).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env={**os.environ, "COLUMNS": "200"})
    finally:
        signal.signal(signal.SIGINT, previous)
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], timeout)
    line = process.stderr.readline() if ready else ""
    if "following" not in line:
        process.kill()
        raise AssertionError(f"tail did not start following within {timeout}s: {line!r}")
    return process


def _grown(path: Path, size: int, timeout: float = 10) -> None:
    """Wait (bounded) until ``path`` holds ``size`` bytes."""
    deadline = time.monotonic() + timeout
    while path.stat().st_size < size and time.monotonic() < deadline:
        time.sleep(0.01)


def test_tail_follows_appends_and_rotation_and_ends_cleanly(sample: bytes,
                                                            tmp_path: Path) -> None:
    import signal

    lines = sample.splitlines(keepends=True)
    path = tmp_path / "live.jsonl"
    path.write_bytes(lines[0])  # already there: not printed without --from-start
    follower = _started([OTEL_EXEC, "tail", str(path), "--idle", "3"])
    try:
        other = [line.replace(b'"name":"child"', b'"name":"appended"') for line in lines]
        with path.open("ab") as out:
            out.write(other[0][:40])  # half a line: waited for
            out.flush()
            time.sleep(0.5)  # polls (every 0.2 s) see the half line
            out.write(other[0][40:] + b"not json\n")
        _grown(path, len(lines[0]) + len(other[0]) + 9)
        time.sleep(0.5)  # polls read it before the file is rotated
        path.rename(tmp_path / "live.1.jsonl")  # rotated: a new file takes its place
        path.write_bytes(b"".join(line.replace(b'"name":"parent"', b'"name":"rotated"')
                                  for line in lines))
        out_text, err_text = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err_text
    assert "appended" in out_text and "rotated" in out_text
    assert out_text.count("appended") == sum(line.count(b'"name":"child"') for line in lines)
    assert "not valid JSON" in err_text and "(skipped)" in err_text
    assert "Traceback" not in err_text

    waiting = _started([OTEL_EXEC, "tail", str(path)])
    waiting.send_signal(signal.SIGINT)
    _, err_text = waiting.communicate(timeout=30)
    assert waiting.returncode == 0 and "Traceback" not in err_text


def test_tree_holds_and_draws_only_the_newest_traces(tmp_path: Path) -> None:
    """``tree`` of a whole file holds the newest ``--limit`` traces, not the file: a span of a
    trace already left out does not bring it back."""
    spans = []
    for n in range(50):
        trace = f"{n + 1:032x}"
        spans.append(span(f"{2 * n + 1:016x}", traceId=trace, name=f"root {n}"))
        spans.append(span(f"{2 * n + 2:016x}", f"{2 * n + 1:016x}", traceId=trace,
                          name=f"child {n}"))
    spans.append(span(f"{1000:016x}", f"{1:016x}", traceId=f"{1:032x}", name="late child 0"))
    path = write(tmp_path, spans)

    data = read_traces(path, most_traces=3)
    assert sorted({execution.name for execution in data.executions}) == [
        "child 47", "child 48", "child 49", "root 47", "root 48", "root 49"]
    assert data.older_traces == 47
    assert len(read_traces(path).executions) == 101

    code, out, err = cli("tree", str(path), "--limit", "3")
    assert code == 0, err
    assert [line for line in out.splitlines() if "root" in line] == [
        line for line in out.splitlines() if "root 4" in line]
    assert out.count("Trace ") == 3
    assert "the newest 3 of 50 traces shown" in err
    code, out, err = cli("tree", str(path), "--limit", "0")
    assert out.count("Trace ") == 50 and "newest" not in err
    code, out, err = cli("tree", str(path), "--trace", f"{2:032x}")
    assert out.count("Trace ") == 1 and "root 1" in out and "newest" not in err
    code, out, _ = cli("tree", str(path), "--json")
    assert len(json.loads(out)) == 50
