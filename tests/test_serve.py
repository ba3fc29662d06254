"""``otel-exec serve`` end to end: an OpenTelemetry SDK program exports to it, the page shows
what arrived and follows new spans by itself, the file is read back by ``otel-exec``, hostile
requests get OTLP error answers and the server stays up, a token is asked for when set."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_exec import serve
from tests.conftest import run_python
from tests.integration.pipeline import free_port, wait_for_port

TOKEN = "a-test-token-for-serve"


class Served:
    """A running ``otel-exec serve``: its port, file and process."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port = free_port()
        self.file = tmp / f"served-{self.port}.jsonl"
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_exec", "serve", "--port", str(self.port),
             "--file", str(self.file), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        wait_for_port(self.port, self.process, timeout=30)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type", "")
        finally:
            connection.close()

    def post(self, body: bytes, content_type: str, **headers: str) -> tuple[int, bytes, str]:
        return self.request("POST", "/v1/traces", body,
                            {"Content-Type": content_type, **headers})

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then its exit status and output (bounded waits)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate(timeout=5)
        return self.process.returncode, out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = Served(tmp_path)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = Served(tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()


SDK_PROGRAM = """
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

provider = TracerProvider(resource=Resource.create({{"service.name": "checkout"}}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
    endpoint="http://127.0.0.1:{port}/v1/traces")))
tracer = provider.get_tracer("shop")
for n in range({count}):
    with tracer.start_as_current_span("order {{}}".format(n)) as order:
        with tracer.start_as_current_span("charge") as charge:
            if n == 1:
                charge.set_status(Status(StatusCode.ERROR, "declined"))
provider.shutdown()
"""


def _export(port: int, count: int) -> None:
    done = run_python(textwrap.dedent(SDK_PROGRAM.format(port=port, count=count)))
    assert done.returncode == 0, done.stderr


def test_an_sdk_program_exports_and_the_file_reads_back(served: Served, tmp_path: Path) -> None:
    _export(served.port, 3)
    status, body, _ = served.request("GET", "/api/version")
    assert status == 200 and json.loads(body)["spans"] == 6
    status, page, content_type = served.request("GET", "/")
    assert status == 200 and content_type.startswith("text/html")
    assert b"order 2" in page and b'"live"' in page
    code, out = served.stop()
    assert code == 0 and "6 spans received" in out
    listed = subprocess.run([sys.executable, "-m", "otel_exec", "stats", str(served.file),
                             "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == ["charge", "order 0", "order 1", "order 2"]
    assert (rows["charge"]["count"], rows["charge"]["failures"]) == (3, 1)


def _json_request(name: str = "job") -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-client"}}]},
        "scopeSpans": [{"scope": {"name": "raw"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": name, "kind": 1, "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000"}]}]}]}).encode()


def test_json_and_gzip_are_taken(shared: Served) -> None:
    assert shared.post(_json_request("plain json"), "application/json")[:2] == (200, b"{}")
    status, _, _ = shared.post(gzip.compress(_json_request("gzipped")), "application/json",
                               **{"Content-Encoding": "gzip"})
    assert status == 200


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"{}", {"Content-Type": "text/plain"}, 415),
    (b"\xff\x00\x13garbage", {"Content-Type": "application/x-protobuf"}, 400),
    (b"{not json", {"Content-Type": "application/json"}, 400),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}',
     {"Content-Type": "application/json"}, 400),
    (gzip.compress(b"0" * (serve.MAX_REQUEST_BYTES + 10)),
     {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 413),
    (b"not gzip", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 400),
])
def test_hostile_requests_get_otlp_errors_and_the_server_goes_on(
        shared: Served, body: bytes, headers: dict[str, str], status: int) -> None:
    got, answer, content_type = shared.request("POST", "/v1/traces", body, headers)
    assert got == status
    if content_type == "application/json":
        assert json.loads(answer)["code"] == 3 and json.loads(answer)["message"]
    else:
        from google.rpc import status_pb2

        parsed = status_pb2.Status()
        parsed.ParseFromString(answer)
        assert parsed.code == 3 and parsed.message
    assert shared.request("GET", "/api/version")[0] == 200


def test_a_body_over_the_limit_is_refused_unread(shared: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=10)
    try:
        connection.putrequest("POST", "/v1/traces")
        connection.putheader("Content-Type", "application/x-protobuf")
        connection.putheader("Content-Length", str(serve.MAX_REQUEST_BYTES + 1))
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert shared.request("POST", "/nowhere", b"{}", {"Content-Type": "application/json"})[
        0] == 404
    assert shared.request("GET", "/api/version")[0] == 200


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300),
       content_type=st.sampled_from(["application/x-protobuf", "application/json",
                                     "application/json; charset=utf-8", "", "text/html"]),
       gzipped=st.booleans())
def test_random_requests_never_stop_the_server(shared: Served, body: bytes, content_type: str,
                                               gzipped: bool) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    status, _, _ = shared.request("POST", "/v1/traces", body, headers)
    assert status in (200, 400, 413, 415)
    assert shared.process.poll() is None


def test_a_token_is_asked_for_when_set(tmp_path: Path) -> None:
    running = Served(tmp_path, "--token", TOKEN)
    try:
        assert running.post(_json_request(), "application/json")[0] == 401
        assert running.post(_json_request(), "application/json",
                            Authorization=f"Bearer {TOKEN}")[0] == 200
        assert running.request("GET", "/")[0] == 401
        assert running.request("GET", f"/?token={TOKEN}")[0] == 200
        assert running.request("GET", "/?token=wrong")[0] == 401
    finally:
        running.stop()


def test_only_loopback_goes_without_a_token() -> None:
    assert not serve.token_needed("127.0.0.1")
    assert not serve.token_needed("::1")
    assert not serve.token_needed("localhost")
    assert serve.token_needed("0.0.0.0")
    assert serve.token_needed("192.168.1.20")
    assert serve.token_needed("build-box.example")


UNFINISHED_PROGRAM = """
import pathlib, time
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
    endpoint="http://127.0.0.1:{port}/v1/traces")))
tracer = provider.get_tracer("shop")
with tracer.start_as_current_span("nightly restock"):
    with tracer.start_as_current_span("reserve stock"):
        pass
    go = pathlib.Path({go!r})
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
provider.shutdown()
"""


def test_the_page_follows_new_spans_in_place(served: Served, tmp_path: Path) -> None:
    """New spans are drawn without a reload: the search, the selected trace and span, the
    details pane and the trace list's scroll stay; a trace whose root is still running shows
    a running placeholder until the root arrives."""
    from playwright.sync_api import expect

    from tests.browser import chromium

    _export(served.port, 30)
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{served.port}/")
        page.wait_for_selector("body[data-ready]", timeout=15_000)
        page.evaluate("window.sameDocument = true")  # a reload would lose it
        page.fill("#search", "order")
        expect(page.locator("#counts")).to_have_text("60 spans · 30 traces · 30 match")
        page.locator("#trace-list").evaluate(  # scrolled, and drawn there
            "list => new Promise(done => { list.scrollTop = 120;"
            " requestAnimationFrame(() => requestAnimationFrame(done)); })")
        page.locator("#trace-list .row").filter(has_text="order 12").click()
        page.locator("#waterfall .span-row").filter(has_text="order 12").click()
        expect(page.locator("#details h2")).to_have_text("order 12")
        scrolled = page.locator("#trace-list").evaluate("list => list.scrollTop")
        assert scrolled > 0

        go = tmp_path / "go"
        program = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(UNFINISHED_PROGRAM.format(
                port=served.port, go=str(go)))],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
                 "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        try:
            expect(page.locator("#counts")).to_have_text("61 spans · 31 traces · 30 match",
                                                         timeout=20_000)
            assert page.evaluate("window.sameDocument") is True
            assert page.input_value("#search") == "order"
            assert page.locator("#trace-list").evaluate("list => list.scrollTop") == scrolled
            assert "order 12" in page.inner_text("#waterfall-title")
            expect(page.locator("#details h2")).to_have_text("order 12")
            page.locator("#search").press("Escape")
            expect(page.locator("#trace-list")).to_have_attribute("data-count", "31")
            page.locator("#trace-list").evaluate("list => { list.scrollTop = 0; }")
            unfinished = page.locator("#trace-list .row").filter(has_text="reserve stock")
            expect(unfinished).to_contain_text("partial")
            unfinished.click()
            placeholder = page.locator('#waterfall .span-row[data-placeholder]')
            expect(placeholder).to_contain_text("not here yet")
            expect(placeholder.locator(".bar")).to_have_class("bar running")
            expect(page.locator("#waterfall .span-row").nth(1)).to_contain_text("reserve stock")
            page.locator("#waterfall .span-row").nth(1).click()

            go.touch()  # the root ends and arrives: the trace becomes whole, in place
            expect(page.locator("#trace-list .row").filter(has_text="nightly restock")
                   ).not_to_contain_text("partial", timeout=20_000)
            expect(placeholder).to_have_count(0)
            rows = page.locator("#waterfall .span-row")
            expect(rows.nth(0)).to_contain_text("nightly restock")
            expect(rows.nth(1)).to_have_attribute("aria-level", "2")
            expect(page.locator("#details h2")).to_have_text("reserve stock")
            assert page.evaluate("window.sameDocument") is True

            # two newer traces arrive above the rows in sight: those rows stay in sight
            page.locator("#trace-list").evaluate("list => { list.scrollTop = 66; }")
            _export(served.port, 2)
            expect(page.locator("#trace-list")).to_have_attribute("data-count", "33",
                                                                  timeout=20_000)
            assert page.locator("#trace-list").evaluate("list => list.scrollTop") == 66 + 44
        finally:
            go.touch()
            program.wait(timeout=30)
        assert program.returncode == 0
        assert errors == []


GRPC_PROGRAM = """
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
    endpoint="127.0.0.1:{port}", insecure=True{headers})))
with provider.get_tracer("grpc-client").start_as_current_span("over grpc"):
    pass
provider.shutdown()
"""


@pytest.mark.parametrize("token", [None, TOKEN])
def test_otlp_grpc_too(tmp_path: Path, token: str | None) -> None:
    grpc_port = free_port()
    running = Served(tmp_path, "--grpc-port", str(grpc_port),
                     *(("--token", token) if token else ()))
    try:
        wait_for_port(grpc_port, running.process, timeout=30)
        headers = f', headers={{"authorization": "Bearer {token}"}}' if token else ""
        done = run_python(textwrap.dedent(GRPC_PROGRAM.format(port=grpc_port, headers=headers)))
        assert done.returncode == 0, done.stderr
        if token:  # and without the token: refused
            refused = run_python(textwrap.dedent(GRPC_PROGRAM.format(port=grpc_port,
                                                                     headers="")))
            assert "UNAUTHENTICATED" in refused.stderr
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        status, body, _ = running.request("GET", "/api/version", headers=auth)
        assert status == 200 and json.loads(body)["spans"] == 1
    finally:
        code, out = running.stop()
    assert code == 0 and "OTLP/gRPC at" in out


def _big_request(first: int, count: int, size: int) -> bytes:
    """``count`` spans, each in a trace of its own, with a ``size``-character attribute."""
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "big"}, "spans": [{
        "traceId": f"{first + n + 1:032x}", "spanId": f"{first + n + 1:016x}",
        "name": f"big {first + n}", "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [{"key": "payload", "value": {"stringValue": "x" * size}}]}
        for n in range(count)]}]}]}).encode()


def test_the_store_is_bounded_by_bytes_too(tmp_path: Path) -> None:
    running = Served(tmp_path, "--max-mb", "1")
    try:
        for first in range(0, 300, 30):  # about 3 MB of spans, 10 KB each
            assert running.post(_big_request(first, 30, 10_000), "application/json")[0] == 200
        status, body, _ = running.request("GET", "/api/version")
        counts = json.loads(body)
        assert status == 200 and counts["spans"] == 300
        assert 50 <= counts["kept"] <= 105 and counts["dropped"] == 300 - counts["kept"]
        _, page, _ = running.request("GET", "/")
        assert b"big 299" in page and b'"big 0"' not in page  # the newest kept, the oldest gone
    finally:
        code, out = running.stop()
    assert code == 0 and "dropped as the oldest past the bounds" in out
