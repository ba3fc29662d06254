"""``otel-exec serve``: a local OTLP/HTTP endpoint for any OpenTelemetry program, and the viewer
page of what it received, kept up to date.

```
otel-exec serve --file traces.jsonl          # then, in another terminal:
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_program.py
```

Spans arrive at ``POST /v1/traces`` (OTLP protobuf or JSON, gzip or not; and OTLP/gRPC on
``--grpc-port``) from otel_exec or any other SDK or collector, into a store bounded by spans
and bytes (the oldest executions go first, counted); ``/`` is the viewer page, which follows
new spans by itself. ``--file`` appends what arrives as OTLP JSON lines, readable by every
``otel-exec`` command. The server listens on 127.0.0.1 unless told otherwise; on another
address it needs a token (given, or made and printed) for both the page and the receiver. A
request that is malformed, too large or of another type gets the OTLP error answer (400, 413,
415) and the server goes on.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from otel_exec.execution_store import ExecutionStore
from otel_exec.trace_files.decode import TraceFileError, decode_line
from otel_exec.viewer import page_data, page_json, render_page

if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

_logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_SPANS = 100_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Span data (as received, in OTLP JSON) the server keeps at most, about."""
MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""Largest request body taken, before and after gzip (413 past it)."""
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_INVALID_ARGUMENT = 3
_UNAUTHENTICATED = 16


class Refused(Exception):
    """A request answered with an OTLP error: ``status`` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def token_needed(host: str) -> bool:
    """Whether listening on ``host`` needs a token: anything but a loopback address."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return True


def _inflate(body: bytes) -> bytes:
    """A gzip body, inflated to at most ``MAX_REQUEST_BYTES`` (a bomb is refused, not read)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise Refused(400, f"the body is not valid gzip ({exc})") from None
    if len(data) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise Refused(413, f"the body inflates past {MAX_REQUEST_BYTES:,} bytes")
    return data


def _hex_ids(data: dict[str, Any]) -> None:
    """Protobuf's JSON form writes ids as base64; OTLP JSON (and the trace files) as hex."""
    for resource in data.get("resourceSpans", ()):
        for scope in resource.get("scopeSpans", ()):
            for span in scope.get("spans", ()):
                for owner in (span, *span.get("links", ())):
                    for field in _ID_FIELDS:
                        if owner.get(field):
                            owner[field] = base64.b64decode(owner[field]).hex()


def otlp_traces(body: bytes, content_type: str) -> dict[str, Any]:
    """The OTLP JSON form of a request body of ``content_type``.

    Raises:
        Refused: 415 for another type, 400 for a body that is not one.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-protobuf":
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError):
            raise Refused(400, "the body is not an OTLP ExportTraceServiceRequest") from None
        data: dict[str, Any] = MessageToDict(request)
        _hex_ids(data)
        return data
    if kind == "application/json":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Refused(400, "the body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise Refused(400, "the body is not an OTLP traces object")
        return parsed
    raise Refused(415, f"Content-Type {kind or '(none)'} is not application/x-protobuf or "
                       "application/json")


class Received:
    """What the server holds: the store, the file it appends to, and a version that changes
    with every accepted request (the page follows it)."""

    def __init__(self, max_spans: int, file: TextIO | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.store = ExecutionStore(max_spans=max_spans)
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.version = 0
        self.spans = 0
        self.bytes = 0
        self.refused = 0
        self._file = file
        self._lock = threading.Lock()

    def _bound(self) -> None:
        """Keep about ``max_bytes`` of span data: as many executions as fit at the mean size
        received so far (never more than ``max_spans``); the oldest go first."""
        fits = int(self.max_bytes / max(self.bytes / max(self.spans, 1), 1))
        wanted = max(1, min(self.max_spans, fits))
        if wanted != self.store.max_spans:
            self.store.max_spans = wanted

    def take(self, data: dict[str, Any]) -> int:
        """Store the spans of one OTLP JSON request (and append it to the file); how many.

        Raises:
            Refused: 400 when it is not valid OTLP span data.
        """
        line = orjson.dumps(data)
        try:
            executions = decode_line(line, "the request")
        except TraceFileError as exc:
            raise Refused(400, str(exc)) from None
        with self._lock:
            for execution in executions:
                self.store.add(execution)
            if self._file is not None and executions:
                self._file.write(line.decode() + "\n")
                self._file.flush()
            self.spans += len(executions)
            self.bytes += len(line)
            self._bound()
            self.version += 1
        return len(executions)

    def page(self) -> dict[str, Any]:
        """The viewer's data for what is held now, with the version it was read at."""
        version = self.version  # read first: spans that arrive meanwhile move it past this
        data = page_data(self.store, title="otel-exec serve")
        data["live"] = {"version": version}
        return data

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class _Handler(BaseHTTPRequestHandler):
    server: OTLPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("otel-exec serve: " + format, *args)

    def _allowed(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else (
            parse_qs(urlsplit(self.path).query).get("token", [""])[0])
        return hmac.compare_digest(given.encode(), token.encode())

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, message: str, protobuf: bool) -> None:
        code = _UNAUTHENTICATED if status == 401 else _INVALID_ARGUMENT
        self.server.received.refused += 1
        if protobuf:
            from google.rpc import status_pb2

            self._answer(status, status_pb2.Status(code=code, message=message)
                         .SerializeToString(), "application/x-protobuf")
        else:
            self._answer(status, json.dumps({"code": code, "message": message}).encode(),
                         "application/json")

    def do_POST(self) -> None:
        content_type = self.headers.get("Content-Type", "")
        protobuf = content_type.startswith("application/x-protobuf")
        try:
            if urlsplit(self.path).path != "/v1/traces":
                raise Refused(404, f"no receiver at {urlsplit(self.path).path[:100]}")
            if not self._allowed():
                raise Refused(401, "a token is needed: Authorization: Bearer TOKEN")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Refused(411 if length is None else 400, "Content-Length is needed")
            if int(length) > MAX_REQUEST_BYTES:
                raise Refused(413, f"the body is over {MAX_REQUEST_BYTES:,} bytes")
            body = self.rfile.read(int(length))
            if self.headers.get("Content-Encoding", "").strip().lower() == "gzip":
                body = _inflate(body)
            self.server.received.take(otlp_traces(body, content_type))
        except Refused as refused:
            self.close_connection = True  # the body may be unread: this connection ends
            self._refuse(refused.status, str(refused), protobuf)
            return
        except Exception:  # never the server's end: this request's only
            _logger.exception("otel-exec serve: a request could not be taken")
            self._refuse(500, "the request could not be taken", protobuf)
            return
        if protobuf:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceResponse,
            )

            self._answer(200, ExportTraceServiceResponse().SerializeToString(),
                         "application/x-protobuf")
        else:
            self._answer(200, b"{}", "application/json")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if not self._allowed():
            self._answer(401, b"a token is needed: open the address printed by otel-exec serve",
                         "text/plain; charset=utf-8")
            return
        received = self.server.received
        if path == "/api/version":
            self._answer(200, json.dumps({"version": received.version,
                                          "spans": received.spans,
                                          "kept": len(received.store),
                                          "dropped": received.store.evicted}).encode(),
                         "application/json")
        elif path in ("/", "/index.html"):
            self._answer(200, render_page(received.page()).encode("utf-8"),
                         "text/html; charset=utf-8")
        elif path == "/api/data":  # what a page that follows fetches when the version moves
            self._answer(200, page_json(received.page()), "application/json")
        else:
            self._answer(404, b"not found", "text/plain; charset=utf-8")


class OTLPServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, none left behind at exit."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], received: Received,
                 token: str | None) -> None:
        self.received = received
        self.token = token
        super().__init__(address, _Handler)


def grpc_receiver(host: str, port: int, received: Received, token: str | None) -> Any:
    """An OTLP/gRPC trace receiver on ``host:port`` feeding ``received`` (started), or None
    when grpcio is not installed. A token, when set, is asked for as ``authorization``."""
    try:
        from concurrent import futures

        import grpc
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    except ImportError:
        return None

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            if token is not None:
                given = dict(context.invocation_metadata()).get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    received.refused += 1
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "a token is needed")
            data: dict[str, Any] = MessageToDict(request)
            _hex_ids(data)
            try:
                received.take(data)
            except Refused as refused:
                received.refused += 1
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(refused))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        TraceService(), server)
    if not server.add_insecure_port(f"{host}:{port}"):
        raise OSError(f"cannot listen on {host}:{port} for gRPC")
    server.start()
    return server


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, file: Path | None = None,
          max_spans: int = DEFAULT_MAX_SPANS, max_bytes: int = DEFAULT_MAX_BYTES,
          token: str | None = None, grpc_port: int | None = None,
          out: TextIO | None = None) -> int:
    """Receive and show spans until SIGINT or SIGTERM; the exit status. ``grpc_port``: also
    receive OTLP/gRPC there (when grpcio is installed)."""
    out = out or sys.stdout
    if token is None and token_needed(host):
        token = secrets.token_urlsafe(24)
    handle = open(file, "a", encoding="utf-8") if file is not None else None  # noqa: SIM115
    received = Received(max_spans, handle, max_bytes)
    try:
        server = OTLPServer((host, port), received, token)
    except OSError:
        received.close()
        raise
    receiver = None
    if grpc_port is not None:
        try:
            receiver = grpc_receiver(host, grpc_port, received, token)
        except Exception:
            server.server_close()
            received.close()
            raise
        if receiver is None:
            out.write("otel-exec serve: gRPC needs grpcio (pip install "
                      "opentelemetry-exporter-otlp-proto-grpc); receiving OTLP/HTTP only\n")
    address = f"http://{host}:{server.server_address[1]}"
    query = f"?token={token}" if token else ""
    out.write(f"otel-exec serve: receiving OTLP/HTTP at {address}/v1/traces, the page at "
              f"{address}/{query}\n  export to it: OTEL_EXPORTER_OTLP_ENDPOINT={address}"
              + (f" OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer {token}'" if token else "")
              + "\n")
    if receiver is not None:
        out.write(f"  and OTLP/gRPC at {host}:{grpc_port} (OTEL_EXPORTER_OTLP_ENDPOINT="
                  f"http://{host}:{grpc_port} OTEL_EXPORTER_OTLP_PROTOCOL=grpc)\n")
    out.flush()

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {number: signal.signal(number, stop)
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.server_close()
        if receiver is not None:
            receiver.stop(grace=2).wait(5)
        received.close()
    out.write(f"otel-exec serve: stopped; {received.spans:,} spans received, "
              f"{received.store.evicted:,} dropped as the oldest past the bounds, "
              f"{received.refused:,} requests refused\n")
    return 0
