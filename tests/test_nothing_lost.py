"""Nothing lost, memory bounded: a failing call is freed without the cycle collector, the byte
bound sees inside what it keeps, and texts that UTF-8 or JSON cannot carry as they are still
reach every channel."""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import textwrap
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.cli import main
from otel_exec.trace_files import load
from tests.conftest import needs_fast_encoder


class Boom(Exception):
    pass


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_failing_call_is_freed_without_the_cycle_collector(
        store: ExecutionStore, no_cycle_collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cycle through otel_exec's frames: the exception, its traceback and the span go when
    the caller lets go of them, as they do untraced."""
    monkeypatch.setattr(store, "max_kept_values", 0)

    @otel_exec.traced(name="fails")
    def fails(n: int) -> None:
        raise Boom("x" * 100_000)

    freed = []
    for i in range(20):
        try:
            fails(i)
        except Boom as exc:
            freed.append(weakref.ref(exc))
    assert [ref() for ref in freed] == [None] * 20
    assert len(store.by_name("fails")) == 20 and not store.by_name("fails")[0].success


def test_the_byte_bound_sees_nested_values_and_exception_messages(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "max_kept_bytes", 2 * 1024 * 1024)

    @otel_exec.traced(name="nested")
    def nested() -> dict[str, list[bytes]]:
        return {"data": [bytes(65_536)]}

    @otel_exec.traced(name="loud")
    def loud() -> None:
        raise Boom("m" * 200_000)

    for _ in range(200):
        nested()
        with pytest.raises(Boom):
            loud()
    kept = [e for e in store.executions() if e.name in ("nested", "loud")
            and e._outcome is not None]
    # 64 KiB results and 200 KB messages: the 2 MiB budget holds about 2 MiB of them
    assert 0 < len(kept) <= 2 * 1024 * 1024 // 65_536
    assert store._kept_bytes <= store.max_kept_bytes


UNDECODABLE = os.fsdecode(b"/data/report-\xff.csv")  # a lone surrogate, as file names give


def test_a_lone_surrogate_costs_nothing_and_reads_back(store: ExecutionStore,
                                                      tmp_path: Path) -> None:
    @otel_exec.traced(name="parse")
    def parse(path: str) -> str:
        raise ValueError(f"cannot parse {path}")

    for _ in range(3):
        with pytest.raises(ValueError):
            parse(UNDECODABLE)
    with otel_exec.span(f"open {UNDECODABLE}", path=UNDECODABLE):
        pass
    (failed, *_) = store.by_name("parse")
    for text in (failed.exception_text, failed.attributes["exec.args"], failed.traceback):
        assert text is not None and "\\udcff" in text
        text.encode("utf-8")  # valid UTF-8: every exporter and file takes it
    path = tmp_path / "s.jsonl"
    assert otel_exec.save(path) >= 4
    loaded = load(path)
    assert [e.exception_text for e in loaded.by_name("parse")] == [failed.exception_text] * 3
    assert otel_exec.view(tmp_path / "s.html").exists()
    assert main(["summary", str(path)]) == 0


def test_nan_and_infinity_are_written_as_otlp_json_says_and_read_back(
        store: ExecutionStore, tmp_path: Path) -> None:
    with otel_exec.span("ratios", attributes={"nan": float("nan"), "inf": float("inf"),
                                              "ninf": float("-inf"), "ok": 0.5}):
        pass
    path = tmp_path / "n.jsonl"
    otel_exec.save(path)
    assert '"doubleValue":"NaN"' in path.read_text()
    (span,) = load(path).by_name("ratios")
    assert math.isnan(span.attributes["nan"])
    assert (span.attributes["inf"], span.attributes["ninf"], span.attributes["ok"]) == (
        math.inf, -math.inf, 0.5)
    assert main(["tree", str(path)]) == 0


@needs_fast_encoder
def test_what_the_encoder_cannot_take_costs_that_attribute_or_that_span_only(
        caplog: pytest.LogCaptureFixture) -> None:
    """Spans made elsewhere with text UTF-8 cannot carry. In an attribute (its key or value),
    that attribute is left out and logged, as the exporters' encoder does, and the span keeps
    the others; in the span's name, the span is left out of the request (counted, said once)
    and every other span of the batch is encoded (the exporters' encoder fails the batch)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
        encode_spans as exporters_encode_spans,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_exec._sdk import otlp_encoder

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("elsewhere")
    for i in range(5):
        with tracer.start_as_current_span(f"good {i}"):
            pass
        if i == 2:
            with tracer.start_as_current_span("bad attributes", attributes={
                    "path": UNDECODABLE, UNDECODABLE: "v", "kept": "yes"}):
                pass
            with tracer.start_as_current_span(f"bad name {UNDECODABLE}"):
                pass
    finished = exporter.get_finished_spans()
    before = otlp_encoder.left_out
    with caplog.at_level(logging.ERROR):
        request = otlp_encoder.encode_spans(finished)
    spans = [span for group in request.resource_spans for scope in group.scope_spans
             for span in scope.spans]
    assert [span.name for span in spans] == [
        "good 0", "good 1", "good 2", "bad attributes", "good 3", "good 4"]
    assert [(item.key, item.value.string_value) for item in spans[3].attributes] == [
        ("kept", "yes")]
    assert otlp_encoder.left_out == before + 1
    assert caplog.text.count("Failed to encode key") == 2
    request.SerializeToString()  # what is left is a valid request
    takeable = [span for span in finished if not span.name.startswith("bad name")]
    logging.disable(logging.ERROR)  # the exporters log the key as is, a lone surrogate in it
    try:
        theirs = exporters_encode_spans(takeable).SerializePartialToString()
    finally:
        logging.disable(logging.NOTSET)
    assert otlp_encoder.encode_request(takeable) == theirs


class ReprExits:
    def __repr__(self) -> str:
        raise SystemExit(3)


class StrInterrupts(Exception):
    def __str__(self) -> str:
        raise KeyboardInterrupt


def test_a_repr_raising_systemexit_leaves_the_call_alone(store: ExecutionStore) -> None:
    @otel_exec.traced(name="takes")
    def takes(value: object) -> str:
        return "ran"

    assert takes(ReprExits()) == "ran"
    (execution,) = store.by_name("takes")
    assert execution.success and "unrepresentable ReprExits: SystemExit" in str(
        execution.attributes["exec.args"])


def test_an_exception_whose_str_interrupts_reaches_the_caller_as_itself(
        store: ExecutionStore) -> None:
    @otel_exec.traced(name="raises")
    def raises() -> None:
        raise StrInterrupts

    with pytest.raises(StrInterrupts):
        raises()
    (execution,) = store.by_name("raises")
    assert execution.end_ns is not None and not execution.success  # the span ended, failed


def _fsm_shaped(store: ExecutionStore, path: Path, **odd: object) -> None:
    fsm = {"exec.framework": "dataknobs_fsm"}
    with otel_exec.span("odd run", attributes={**fsm, "exec.kind": "fsm_run",
                                               "fsm.name": "odd", **odd}):
        with otel_exec.span("step a", attributes={**fsm, "exec.kind": "step",
                                                  "fsm.state": "a", **odd}):
            pass
        with otel_exec.span("chunk 0", attributes={**fsm, "exec.kind": "chunk", **odd}):
            pass
    otel_exec.save(path)


@pytest.mark.parametrize("odd", [{"fsm.data_mode": "sideways"}, {"fsm.chunk.size": math.inf},
                                 {"fsm.chunk.size": "a dozen"}, {"fsm.chunk.size": math.nan}],
                         ids=["unknown data mode", "infinite chunk", "text chunk", "nan chunk"])
def test_odd_fsm_attributes_in_a_file_are_shown_not_a_traceback(
        store: ExecutionStore, tmp_path: Path, odd: dict[str, object],
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "odd.jsonl"
    _fsm_shaped(store, path, **odd)
    for command in (["history", str(path)], ["history", str(path), "--json"],
                    ["view", str(path), "-o", str(tmp_path / "odd.html")]):
        assert main(command) == 0, command
    assert "Traceback" not in capsys.readouterr().err


def test_a_unicode_digit_in_a_time_is_a_file_error(store: ExecutionStore, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from otel_exec.trace_files import TraceFileError

    with otel_exec.span("timed"):
        pass
    path = tmp_path / "t.jsonl"
    otel_exec.save(path)
    text = path.read_text()
    start = text.index('"startTimeUnixNano":"') + len('"startTimeUnixNano":"')
    path.write_text(text[:start] + "²" + text[text.index('"', start):])
    with pytest.raises(TraceFileError, match="startTimeUnixNano"):
        load(path)
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "startTimeUnixNano" in err


def test_a_gzip_bomb_is_refused_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import gzip
    import time

    from otel_exec.trace_files import reader

    monkeypatch.setattr(reader, "MIN_INFLATION_LIMIT", 8 * 1024 * 1024)
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        block = b"\n" * (1024 * 1024)
        for _ in range(64):  # 64 MiB of blank lines: 64 KiB on disk
            out.write(block)
    started = time.monotonic()
    assert main(["summary", str(path)]) == 2
    assert time.monotonic() - started < 20
    assert "decompresses to more than" in capsys.readouterr().err


def test_a_chain_thousands_deep_prints_in_linear_space(
        store: ExecutionStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A parent chain 5,000 deep (a hostile file, or a deep recursion): ``tree`` and
    ``tree --json`` print it without recursion, deeper levels flat."""
    import contextlib

    from otel_exec.render import MAX_TREE_DEPTH

    with contextlib.ExitStack() as stack:
        for level in range(5_000):
            stack.enter_context(otel_exec.span(f"level {level}"))
    path = tmp_path / "deep.jsonl"
    otel_exec.save(path)
    assert main(["tree", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (roots,) = data.values()
    node, depth = roots[0], 0
    while node["children"] and len(node["children"]) == 1:
        node, depth = node["children"][0], depth + 1
    assert depth == MAX_TREE_DEPTH - 1 and len(node["children"]) == 5_000 - MAX_TREE_DEPTH
    assert node["children"][-1]["level"] == 4_999
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["tree", str(path)]) == 0
    out = capsys.readouterr().out
    assert len(out) < 5_000 * (MAX_TREE_DEPTH * 4 + 120) and "level 4999" in out


SHAPES = {
    "aws secret without / or +": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEYab",
    "url with an empty user": "redis://:s3cretpw@cache:6379/0",
    "password with words": "password=correct horse staple",
    "slack webhook": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "azure account key": "AccountKey=abcdefghijklmnopqrstuvwxyz0123456789ABCD==",
    "azure sas": "https://a.blob.core.windows.net/c?sv=2020&sig=abcdEFGH1234%2Fxyz%3D",
    "card number": "4111 1111 1111 1111",
    "openai": "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
    "anthropic": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
    "npm": "npm_" + "a1B2" * 9,
    "pypi": "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA",
    "gitlab": "glpat-abcdefghij0123456789",
    "sendgrid": "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "lower-case bearer": "authorization: bearer abc123def456ghi789",
    "telegram": "123456789:AA" + "hJkLmNoPqRsTuVwXyZ0123456789abcde",
}
INNOCENT = ["password_policy_url=https://example.com/policy", "sessions_per_day=40",
            "order 1234567890123456", "sha 0123456789abcdef0123456789abcdef01234567",
            "the token count was 12", "max_tokens=4096", "author=jane", "skip-this",
            "session_timeout=30", "api_key_name=billing", "2026-12-06T05:01:02Z",
            "uuid 123e4567-e89b-12d3-a456-426614174000", "phone +1 555 0100",
            "isbn 978-3-16-148410-0", "version 1.45.2", "a secret santa list",
            "user_id=48213", "request_id=9f8c2d1e-77aa-4b3b-9c1e-2f0d8e6a1b2c",
            "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "md5 d41d8cd98f00b204e9800998ecf8427e", "tokenizer=bpe", "token_count=512",
            "num_tokens=77", "total_tokens=1024", "password_length=12",
            "password_min=8", "api_key_header=X-Api-Key", "auth_url=https://id.example.com",
            "authority=central", "authorization_url=https://example.com/oauth",
            "cookie_policy=strict", "session_count=3", "keyboard=us", "monkey business",
            "passport office hours", "the secretary arrived", "tokens are rotated daily",
            "skeleton key metaphor", "sk-short", "npm_install", "pypi-mirror",
            "glpat is a GitLab prefix", "SG.summary", "port 6379 on cache",
            "postgres://db.internal:5432/app", "https://example.com/a?b=c&sig=x",
            "order total 1234.56 EUR", "tracking 1Z999AA10123456784", "iban DE89 3704",
            "42 items in 3 boxes", "status=ok retries=2", "credits_remaining=10"]


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_each_secret_shape_is_redacted_in_every_way_in(store: ExecutionStore, shape: str,
                                                       tmp_path: Path) -> None:
    secret = SHAPES[shape]
    kept = secret.split("=", 1)[-1].split("@")[0].split(": ")[-1].split()[-1][-12:]
    if len(kept) < 8:  # "1111" may be in a random id or a time on the page: look for more
        kept = secret[-12:]

    @otel_exec.traced(name="leaky")
    def leaky(value: str) -> str:
        raise ValueError(f"rejected {value}")

    with pytest.raises(ValueError):
        leaky(secret)
    with otel_exec.span("block", attributes={"note": f"see {secret}"}, value=secret):
        pass
    path = tmp_path / "leak.jsonl"
    otel_exec.save(path)
    page = otel_exec.view(tmp_path / "leak.html")
    for channel in (path.read_text(), page.read_text()):
        assert kept not in channel, shape


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_values_are_not_redacted(text: str) -> None:
    from otel_exec.values import REDACTED, policy

    assert REDACTED not in policy().text(text)
    assert REDACTED not in policy().message(text)


def test_span_attributes_are_scrubbed_unless_the_caller_says_not(store: ExecutionStore) -> None:
    with otel_exec.span("scrubbed", attributes={"api_key": "abc", "url": "https://u:p@h/x",
                                                "n": 3}):
        pass
    with otel_exec.span("as given", attributes={"api_key": "abc"}, scrub=False):
        pass
    (scrubbed,) = store.by_name("scrubbed")
    assert scrubbed.attributes["api_key"] == "[REDACTED]"
    assert scrubbed.attributes["url"] == "https://[REDACTED]@h/x"
    assert scrubbed.attributes["n"] == 3
    assert store.by_name("as given")[0].attributes["api_key"] == "abc"


def test_a_failure_deep_in_a_recursion_records_a_bounded_stack(store: ExecutionStore) -> None:
    from otel_exec.spans import MAX_FRAMES

    @otel_exec.traced(name="down")
    def down(n: int) -> int:
        if n == 0:
            raise ValueError("bottom")
        return down(n - 1)

    with pytest.raises(ValueError):
        down(250)
    outermost = max(store.by_name("down"), key=lambda e: e.duration or 0)
    trace = outermost.traceback or ""
    assert trace.endswith("ValueError: bottom\n")
    assert 0 < trace.count('File "') <= MAX_FRAMES  # the newest frames, not all 500


def test_fork_children_export_their_spans_and_never_the_parents_again(tmp_path: Path) -> None:
    """multiprocessing workers (fork) flush what they queued before their os._exit; a child
    leaving a block its parent opened does not export the parent's span a second time."""
    from tests.conftest import run_python

    path = tmp_path / "fork.jsonl"
    done = run_python(textwrap.dedent(f"""
        import multiprocessing, os
        import otel_exec
        otel_exec.configure(file={str(path)!r})

        @otel_exec.traced(name="child_work")
        def child_work(n):
            return n * 2

        if __name__ == "__main__":
            with otel_exec.span("parent block"):
                pid = os.fork()
                if pid == 0:  # the child leaves the block too, then exits at once
                    pass
            if pid == 0:
                otel_exec.flush()
                os._exit(0)
            os.waitpid(pid, 0)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                assert pool.map(child_work, range(41)) == [n * 2 for n in range(41)]
                pool.close()
                pool.join()
            otel_exec.shutdown()
    """))
    assert done.returncode == 0, done.stderr
    spans = load(path)
    assert len(spans.by_name("child_work")) == 41
    assert len(spans.by_name("parent block")) == 1


odd_values = st.one_of(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(-10**20, 10**20), st.booleans(),
                       st.lists(st.integers(0, 9), max_size=3))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=odd_values, size=odd_values, state=odd_values)
def test_fuzzed_fsm_attributes_never_give_a_traceback(store: ExecutionStore, tmp_path: Path,
                                                      mode: object, size: object,
                                                      state: object) -> None:
    """Any value where the FSM views expect a mode, a count or a state name: every command
    that reads them, and load(), answer without a traceback."""
    store.clear()
    path = tmp_path / "fuzz.jsonl"
    _fsm_shaped(store, path, **{"fsm.data_mode": mode, "fsm.chunk.size": size,
                                "fsm.state": state})
    load(path)
    for command in (["history", str(path)], ["history", str(path), "--json"],
                    ["summary", str(path)], ["tree", str(path)], ["stats", str(path)],
                    ["view", str(path), "-o", str(tmp_path / "fuzz.html")]):
        assert main(command) in (0, 2), command


def test_a_huge_event_name_is_bounded_on_load(store: ExecutionStore, tmp_path: Path) -> None:
    from otel_exec.trace_files.decode import MAX_VALUE_CHARS

    with otel_exec.span("evented") as block:
        pass
    path = tmp_path / "e.jsonl"
    otel_exec.save(path)
    text = path.read_text()
    event = '{"timeUnixNano":"1","name":"' + "e" * (MAX_VALUE_CHARS * 4) + '"}'
    path.write_text(text.replace('"events":[]', f'"events":[{event}]', 1)
                    if '"events":[]' in text else
                    text.replace('"status"', f'"events":[{event}],"status"', 1))
    (loaded,) = load(path).by_name("evented")
    assert loaded.events and len(loaded.events[0].name) <= MAX_VALUE_CHARS
    del block
