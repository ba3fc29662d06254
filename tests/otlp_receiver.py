"""A real OTLP receiver on 127.0.0.1 for the tests: OTLP/HTTP (protobuf, gzip) and OTLP/gRPC on
free ports, counting every span it is sent by span id (so a span exported twice shows), with
the service each came from, and keeping every log record (body, trace and span ids)."""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import Iterator


class Receiver:
    """Both receivers; ``received`` counts span ids, ``names``, ``services``, ``traces``,
    ``parents`` and ``attributes`` say more."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.names: dict[str, str] = {}
        self.services: dict[str, str] = {}
        self.traces: dict[str, str] = {}
        """The trace id of each span id."""
        self.parents: dict[str, str] = {}
        """The parent span id of each span id (empty for a root)."""
        self.attributes: dict[str, dict[str, str]] = {}
        """The string attributes of each span id."""
        self.logs: list[tuple[str, str, str]] = []
        """(body, trace id, span id) of each log record, as they came."""
        self.histograms: dict[str, dict[tuple[tuple[str, str], ...], int]] = {}
        """Per histogram, the newest count of each attribute set (cumulative)."""
        self.exemplars: dict[str, set[str]] = {}
        """Per histogram, the trace ids its exemplars link to."""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/v1/metrics"):
                    metrics_request = metrics_service_pb2.ExportMetricsServiceRequest()
                    metrics_request.ParseFromString(body)
                    receiver._take_metrics(metrics_request)
                    reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
                elif self.path.endswith("/v1/logs"):
                    logs_request = logs_service_pb2.ExportLogsServiceRequest()
                    logs_request.ParseFromString(body)
                    receiver._take_logs(logs_request)
                    reply = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
                else:
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    receiver._take(request)
                    reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

        class Service(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                receiver._take(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class LogsService(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                receiver._take_logs(request)
                return logs_service_pb2.ExportLogsServiceResponse()

        class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                receiver._take_metrics(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self._grpc)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(), self._grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(),
                                                                      self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()

    def _take(self, request: Any) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next((a.value.string_value for a in resource_spans.resource.attributes
                                if a.key == "service.name"), "")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        key = span.span_id.hex()
                        self.received[key] += 1
                        self.names[key] = span.name
                        self.services[key] = service
                        self.traces[key] = span.trace_id.hex()
                        self.parents[key] = span.parent_span_id.hex()
                        self.attributes[key] = {a.key: a.value.string_value
                                                for a in span.attributes
                                                if a.value.HasField("string_value")}

    def _take_logs(self, request: Any) -> None:
        with self._lock:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        self.logs.append((record.body.string_value, record.trace_id.hex(),
                                          record.span_id.hex()))

    def _take_metrics(self, request: Any) -> None:
        with self._lock:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") != "histogram":
                            continue
                        counts = self.histograms.setdefault(metric.name, {})
                        for point in metric.histogram.data_points:
                            key = tuple(sorted((a.key, a.value.string_value)
                                               for a in point.attributes))
                            counts[key] = point.count
                            self.exemplars.setdefault(metric.name, set()).update(
                                exemplar.trace_id.hex() for exemplar in point.exemplars)

    def wait_for(self, count: int, timeout: float = 20) -> None:
        """Wait (at most ``timeout`` s) until ``count`` distinct spans have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.names.clear()
            self.services.clear()
            self.traces.clear()
            self.parents.clear()
            self.attributes.clear()
            self.logs.clear()
            self.histograms.clear()
            self.exemplars.clear()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None)


def receiving() -> Iterator[Receiver]:
    """A receiver for a fixture: started, then stopped."""
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()
