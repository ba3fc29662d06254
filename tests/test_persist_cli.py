"""Saved traces: save → load → every view as in-process, foreign and broken files, the CLI."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.cli import main
from otel_exec.trace_files import TraceFileError, load
from otel_exec.views.registry import ExecutionRegistry
from tests.conftest import needs_fsm


@otel_exec.traced(name="parse")
def parse(text: str) -> dict[str, int]:
    if not text:
        raise ValueError("empty input")
    return {"length": len(text)}


@otel_exec.traced(name="job")
def job() -> list[object]:
    out: list[object] = []
    for text in ("abc", "", "hello"):
        try:
            out.append(parse(text))
        except ValueError as error:
            out.append(error)
    return out


def captured(registry: ExecutionRegistry, **kwargs: object) -> str:
    """The summary output without the Index column (a loaded file numbers from 0), spacing
    folded (the index's width moves the other columns)."""
    console = Console(color_system=None, width=140)
    with console.capture() as capture:
        registry.summary(console=console, **kwargs)  # type: ignore[arg-type]
    return "\n".join(" ".join(re.sub(r"^\s*\d+ ", "", line).split())
                     for line in capture.get().splitlines()
                     if "evicted (max_spans=" not in line)  # earlier tests' evictions


def test_save_load_summary_is_identical(store: ExecutionStore, tmp_path: Path) -> None:
    job()
    path = tmp_path / "run.jsonl"
    assert otel_exec.save(path) == 4
    loaded = load(path)
    ours, theirs = otel_exec.registry, ExecutionRegistry(loaded)
    first = store.executions()[0].index
    for kwargs in ({}, {"status": "error"}, {"name": "parse"}):
        assert captured(ours, **kwargs) == captured(theirs, **kwargs)
    # indices restart at 0 in a loaded file: compare the same executions by position
    assert captured(ours, result_index=first + 1) == captured(theirs, result_index=1)
    assert [e.to_dict() | {"index": 0} for e in store.executions()] == [
        e.to_dict() | {"index": 0} for e in loaded.executions()]


def test_configure_file_appends_every_span(tmp_path: Path) -> None:
    from tests.conftest import run_python

    path = tmp_path / "live.jsonl"
    done = run_python(f"""
import otel_exec
otel_exec.configure(file={str(path)!r})

@otel_exec.traced
def step(i):
    return i

for i in range(25):
    step(i)
""")
    assert done.returncode == 0, done.stderr
    loaded = load(path)
    assert len(loaded) == 25
    assert [e.result for e in loaded.executions()] == [str(i) for i in range(25)]


def test_a_protobuf_json_file_loads(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("foreign")
    with tracer.start_as_current_span("outer"):
        try:
            with tracer.start_as_current_span("inner", attributes={"n": 3, "ok": True}):
                raise KeyError("k")
        except KeyError:
            pass
    message = MessageToDict(encode_spans(exporter.get_finished_spans()))
    path = tmp_path / "proto.jsonl"
    path.write_text(json.dumps(message) + "\n")
    loaded = load(path)
    inner, outer = loaded.executions()
    assert (inner.name, outer.name) == ("inner", "outer")
    assert inner.parent_span_id == outer.span_id
    assert inner.attributes == {"n": 3, "ok": True}
    assert not inner.success and inner.exception_text == "KeyError('k')"
    raw = exporter.get_finished_spans()[0].context.span_id
    assert inner.span_id == f"{raw:016x}"
    assert base64.b64decode(message["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"])


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no such file"),
    ("", "is empty"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"', ":1: not valid JSON"),
    ('{"metrics": []}\n', ":1: expected an OTLP traces object with 'resourceSpans'"),
    ('{"resourceSpans": []}\n[1, 2]\n', ":2: expected a JSON object"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "x"}]}]}]}',
     ":1: malformed OTLP span data"),
])
def test_broken_files_are_one_line_errors_and_exit_2(tmp_path: Path, content: str | None,
                                                     expected: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "traces.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TraceFileError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load(path)
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


@needs_fsm
def test_every_command_reads_the_demo_file(tmp_path: Path) -> None:
    output = tmp_path / "demo.jsonl"
    cli = Path(sys.executable).with_name("otel-exec")
    env = {"COLUMNS": "160", "PATH": str(cli.parent)}
    done = subprocess.run([str(cli), "demo", "--output", str(output)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, env=env, check=False)
    assert done.returncode == 0, done.stderr
    for expected in ("order_batch", "integration_tests", "falyx.retry.attempt×3", "step validated",
                     "subnetwork scoring", "job orders", "error_continued"):
        assert expected in done.stdout, expected
    results = {}
    for command in ("summary", "tree", "stats", "history", "jobs"):
        run = subprocess.run([str(cli), command, str(output), "--json"], capture_output=True,
                             text=True, timeout=60, env=env, check=False)
        assert run.returncode == 0, (command, run.stderr)
        results[command] = json.loads(run.stdout)
        plain = subprocess.run([str(cli), command, str(output)], capture_output=True,
                               text=True, timeout=60, env=env, check=False)
        assert plain.returncode == 0 and plain.stdout.strip(), (command, plain.stderr)
        assert "Success" not in plain.stdout, command  # one status vocabulary
        if command == "history":
            assert "{'" not in plain.stdout  # no raw dict
            assert "streamed: 1 stream(s), 2 chunk(s), 6 record(s)" in plain.stdout
        if command == "jobs":
            assert re.search(r"job \S+: completed in 0\.\d{3}s", plain.stdout), plain.stdout
    assert {row["name"] for row in results["summary"]} >= {"Build", "charge", "job orders"}
    assert any(row["failures"] for row in results["stats"])
    assert len(results["history"]) == 3
    (job,) = results["jobs"]
    assert job["routine_states"]["fraud_check"]["errors"] == 1
    assert results["jobs"][0]["performance"]["flow"]["total_routines"] == 4
    first_trace = next(iter(results["tree"]))
    assert main(["tree", str(output), "--trace", first_trace]) == 0
    assert main(["tree", str(output), "--trace", "0" * 32]) == 2


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["summary", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) if command else _null():
            main(command)
        assert "example" in capsys.readouterr().out


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _trace_file() -> Path:
    """A small real trace file (made once per session)."""
    path = Path(tempfile.gettempdir()) / f"otel-exec-cli-{os.getpid()}.jsonl"
    if not path.exists():
        otel_exec.configure()

        @otel_exec.traced(name="cli_probe")
        def probe(i: int) -> int:
            return i

        probe(1)
        otel_exec.save(path)
    return path


MISTAKES = [
    ["summary", "{file}", "--trace", "xyz"],
    ["view", "{file}", "-o", "{missing}/x.html"],
    ["demo", "--output", "{missing}/x.jsonl"],
    ["tree", "{file}", "--kind", "no_such_kind"],
    ["stats", "{file}", "--name", "no_such_name"],
    ["summary", "{file}", "--framework", "nothing"],
    ["view", "{file}", "--kind", "no_such_kind", "-o", "{dir}/x.html"],
    ["tail", "{missing}/x.jsonl", "--idle", "0.1"],
    ["tail", "-", "--idle", "0.1"],
    ["tail", "{file}", "--idle", "nan"],
    ["tail", "{file}", "--idle", "-1"],
    ["summary", "{file}", "--since", "nan"],
]


@pytest.mark.parametrize("arguments", MISTAKES, ids=lambda a: " ".join(a[:1] + a[2:]))
def test_every_mistake_is_one_line_and_exit_2(arguments: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    trace = _trace_file()
    filled = [a.format(file=trace, missing=tmp_path / "missing", dir=tmp_path)
              for a in arguments]
    try:
        code = main(filled)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "x.html").exists()


@settings(max_examples=60)
@given(st.lists(st.sampled_from(["--trace", "--name", "--kind", "--status", "--since",
                                 "--until", "--limit", "--json", "--index", "-o", "x", "-",
                                 "0", "nan", "\x1b[31m", "2026-13-45", "summary", "tree"]),
                max_size=6))
def test_random_arguments_never_give_a_traceback(tail_arguments: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "otel_exec", "summary", str(_trace_file()),
                           *tail_arguments], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr


def _summary_json(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, object]:
    code = main(["summary", *arguments, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else None


def test_an_index_means_one_execution_under_every_filter(
        store: ExecutionStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parse("a")
    with otel_exec.span("report"):
        pass
    with pytest.raises(ValueError):
        parse("")
    middle = store.entries()[-1].end_time
    job()
    parse("bb")
    path = tmp_path / "t.jsonl"
    otel_exec.save(path)
    code, everything = _summary_json(capsys, str(path))
    assert code == 0 and isinstance(everything, list)
    index_of = {row["span_id"]: row["index"] for row in everything}
    assert sorted(index_of.values()) == list(range(len(everything)))
    for filters in (["--kind", "function"], ["--kind", "block"], ["--framework", "python"],
                    ["--since", str(middle)], ["--until", str(middle)], ["--status", "error"],
                    ["--name", "parse"], ["--trace", everything[-1]["trace_id"]]):
        code, rows = _summary_json(capsys, str(path), *filters)
        assert code == 0 and rows, filters
        assert [row["index"] for row in rows] == [index_of[row["span_id"]] for row in rows], filters
    last = everything[-1]
    for filters in (["--kind", last["kind"]], ["--since", str(middle)], []):
        code, found = _summary_json(capsys, str(path), "--result-index", str(last["index"]),
                                    *filters)
        assert code == 0 and isinstance(found, dict) and found["signature"].startswith("parse")
    assert main(["summary", str(path), "--result-index", str(last["index"]),
                 "--until", str(middle)]) == 2
    assert "no executions match --until" in capsys.readouterr().err


def test_tail_shows_a_span_written_twice_once(tmp_path: Path) -> None:
    line = _trace_file().read_bytes().splitlines(keepends=True)[0]
    path = tmp_path / "twice.jsonl"
    path.write_bytes(line * 3)
    done = subprocess.run([sys.executable, "-m", "otel_exec", "tail", str(path), "--from-start",
                           "--idle", "0.5"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("cli_probe") == 1


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=4))
def test_json_written_an_item_at_a_time_is_the_same_text(data: dict[str, object]) -> None:
    """``tree --json`` writes trace by trace: the text equals the whole object's."""
    import contextlib
    import io

    from otel_exec import cli

    whole, streamed = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(whole):
        cli._print_json(data)
    with contextlib.redirect_stdout(streamed):
        cli._print_json_object(data.items())
    assert streamed.getvalue() == whole.getvalue()
    assert json.loads(streamed.getvalue()) == data
