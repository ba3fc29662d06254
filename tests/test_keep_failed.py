"""KeepFailed: every trace with a failure is exported complete, the ratio of the others is the
trace-id decision of TraceIdRatioBased, a full buffer exports undecided (counted), a remote
parent is decided at the local root, and the store still sees every execution. By provider
(ours and someone else's), by configure(sampler=...), by OTEL_TRACES_SAMPLER (ours and the
distro's), to a real receiver over HTTP and gRPC."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otel_exec
from otel_exec import config, sampling
from otel_exec.execution_store import ExecutionStore
from otel_exec.spans import use_provider
from tests.conftest import run_python
from tests.otlp_receiver import Receiver, receiving


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def _provider(sampler: sampling.KeepFailed) -> tuple[TracerProvider, InMemorySpanExporter]:
    """Someone else's provider: KeepFailed as its sampler, an exporting processor of its own."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def traced_on() -> Iterator[object]:
    def use(provider: TracerProvider) -> None:
        use_provider("otel_exec.traced", provider)

    yield use
    use_provider("otel_exec.traced", None)


@otel_exec.traced(name="step")
def _step(fail: bool) -> int:
    if fail:
        raise ValueError("declined")
    return 1


@otel_exec.traced(name="job")
def _job(n: int, failing: bool) -> int:
    done = 0
    for i in range(3):
        with contextlib.suppress(ValueError):  # the job completes; one of its steps failed
            done += _step(failing and i == 1)
    return done


def _by_trace(spans: object) -> dict[int, list[str]]:
    traces: dict[int, list[str]] = defaultdict(list)
    for span in spans:  # type: ignore[attr-defined]
        traces[span.context.trace_id].append(span.name)
    return traces


def test_failed_traces_complete_and_the_ratio_of_the_others(store: ExecutionStore,
                                                             traced_on: object) -> None:
    keep = sampling.KeepFailed(0.25)
    provider, exporter = _provider(keep)
    traced_on(provider)  # type: ignore[operator]
    failing = {n: n % 7 == 0 for n in range(800)}
    for n, fails in failing.items():
        _job(n, fails)
    exported = _by_trace(exporter.get_finished_spans())
    jobs = [e for e in store.by_name("job")]
    assert len(jobs) == 800  # the store sees every execution
    bound = TraceIdRatioBased.get_bound_for_rate(0.25)
    kept_unfailed = 0
    for job in jobs:
        trace_id = int(job.trace_id, 16)
        failed = any(child.status == "failed" for child in store.children(job.span_id))
        by_ratio = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound
        if failed or by_ratio:
            assert sorted(exported[trace_id]) == ["job", "step", "step", "step"]
        else:
            assert trace_id not in exported
        kept_unfailed += (not failed) and by_ratio
    unfailed = sum(not fails for fails in failing.values())
    assert abs(kept_unfailed - unfailed * 0.25) < 4 * (unfailed * 0.25 * 0.75) ** 0.5
    buffer = config.trace_buffer(provider)
    assert buffer is not None
    assert buffer.counts.kept_failed == sum(failing.values())
    assert buffer.counts.kept_by_ratio == kept_unfailed
    assert buffer.counts.dropped == unfailed - kept_unfailed
    assert buffer.counts.exported_undecided == 0


def test_a_full_buffer_exports_the_oldest_trace_undecided(store: ExecutionStore,
                                                          traced_on: object) -> None:
    provider, exporter = _provider(sampling.KeepFailed(0.0, max_spans=10))
    traced_on(provider)  # type: ignore[operator]

    @otel_exec.traced(name="long")
    def long_job() -> None:
        for _ in range(25):
            _step(False)

    long_job()
    names = [span.name for span in exporter.get_finished_spans()]
    assert names.count("step") == 25 and names.count("long") == 1  # nothing lost
    buffer = config.trace_buffer(provider)
    assert buffer is not None and buffer.counts.exported_undecided == 1


def test_a_remote_parent_is_decided_at_the_local_root(store: ExecutionStore,
                                                      traced_on: object) -> None:
    provider, exporter = _provider(sampling.KeepFailed(0.0))
    traced_on(provider)  # type: ignore[operator]
    propagator = TraceContextTextMapPropagator()
    remote = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    from opentelemetry import context

    token = context.attach(propagator.extract(remote))
    try:
        _job(1, failing=False)
        _job(2, failing=True)
    finally:
        context.detach(token)
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == ["job", "step", "step", "step"]
    assert {format(span.context.trace_id, "032x") for span in spans} == {
        "0af7651916cd43dd8448eb211c80319c"}
    root = next(span for span in spans if span.name == "job")
    assert root.parent is not None and root.parent.is_remote


def test_a_span_failing_after_its_root_is_exported(store: ExecutionStore,
                                                   traced_on: object) -> None:
    provider, exporter = _provider(sampling.KeepFailed(0.0))
    traced_on(provider)  # type: ignore[operator]
    _step(False)  # otel_exec's first span: the buffer goes in front of the exporter
    tracer = provider.get_tracer("late")
    with tracer.start_as_current_span("root"):
        late = tracer.start_span("late")
        quiet = tracer.start_span("quiet")
    quiet.end()
    late.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "after the root"))
    late.end()
    assert [span.name for span in exporter.get_finished_spans()] == ["late"]


def test_the_program_ending_exports_what_waits(store: ExecutionStore, traced_on: object) -> None:
    provider, exporter = _provider(sampling.KeepFailed(0.0))
    traced_on(provider)  # type: ignore[operator]
    tracer = provider.get_tracer("open")
    root = tracer.start_span("open root")
    with trace_api.use_span(root):
        _step(False)
    provider.shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["step"]
    buffer = config.trace_buffer(provider)
    assert buffer is not None and buffer.counts.exported_undecided == 1


def test_the_buffer_sits_before_the_exporters_only(store: ExecutionStore,
                                                   traced_on: object) -> None:
    provider, _ = _provider(sampling.KeepFailed(0.5))
    traced_on(provider)  # type: ignore[operator]
    _step(False)
    kinds = [type(p).__name__ for p in provider._active_span_processor._span_processors]
    assert kinds == ["TraceBuffer", "ExecutionSpanProcessor"]
    assert [type(e).__name__ for e in config.span_exporters(provider)] == [
        "InMemorySpanExporter"]


@pytest.mark.parametrize(("argument", "ratio"), [(None, 0.1), ("0.3", 0.3), ("lots", 0.1),
                                                 ("1.5", 0.1), ("", 0.1)])
def test_the_sampler_argument(argument: str | None, ratio: float,
                              caplog: pytest.LogCaptureFixture) -> None:
    assert sampling.keep_failed_from_argument(argument).ratio == ratio
    assert ("OTEL_TRACES_SAMPLER_ARG" in caplog.text) == (argument in ("lots", "1.5"))


@pytest.mark.parametrize("bad", [{"ratio": -0.1}, {"ratio": 2}, {"max_spans": 0},
                                 {"max_bytes": 0}])
def test_out_of_range_is_a_value_error(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="KeepFailed"):
        sampling.KeepFailed(**bad)  # type: ignore[arg-type]


APP = """
import otel_exec
otel_exec.configure(service_name="keep", otlp_endpoint="http://127.0.0.1:{port}",
                    otlp_protocol="{protocol}"{sampler})

@otel_exec.traced(name="step")
def step(n):
    if n % 5 == 0:
        raise ValueError("declined")

@otel_exec.traced(name="job")
def job(n):
    try:
        step(n)
    except ValueError:
        pass

for n in range(40):
    job(n)
print(len(otel_exec.store().by_name("job")))
otel_exec.shutdown()
"""


def _exported_traces(receiver: Receiver) -> dict[str, list[str]]:
    traces: dict[str, list[str]] = defaultdict(list)
    for span_id, trace_id in receiver.traces.items():
        traces[trace_id].append(receiver.names[span_id])
    return traces


@pytest.mark.parametrize(("protocol", "how"), [
    ("http/protobuf", "argument"), ("grpc", "argument"), ("http/protobuf", "environment")])
def test_only_failed_traces_reach_the_receiver(receiver: Receiver, protocol: str,
                                               how: str) -> None:
    receiver.clear()
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    sampler = ", sampler=otel_exec.KeepFailed(0)" if how == "argument" else ""
    env = ({"OTEL_TRACES_SAMPLER": "otel_exec_keep_failed", "OTEL_TRACES_SAMPLER_ARG": "0"}
           if how == "environment" else {})
    done = run_python(textwrap.dedent(APP.format(port=port, protocol=protocol,
                                                 sampler=sampler)),
                      env={**env, "OTEL_EXEC_DOCTOR": "1"})
    assert done.returncode == 0, done.stderr
    assert "sampler: RecordLocally{KeepFailed{0.0}}" in done.stderr
    assert "keep failed: 8 local traces kept for a failure, 0 by ratio, 32 dropped" in done.stderr
    assert done.stdout.split() == ["40"]  # the store has them all
    traces = _exported_traces(receiver)
    assert len(traces) == 8, traces
    assert all(sorted(names) == ["job", "step"] for names in traces.values())
    assert set(receiver.received.values()) == {1}


def test_zero_code_by_name(receiver: Receiver, tmp_path: Path) -> None:
    """``opentelemetry-instrument`` builds the sampler from its name; the distro's own batch
    processor goes behind the buffer when otel_exec first traces."""
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument is not None
    (tmp_path / "app.py").write_text(textwrap.dedent(APP.format(
        port=receiver.http_port, protocol="http/protobuf", sampler="")).replace(
        "otel_exec.configure(", "dict(").replace("otel_exec.shutdown()", ""))
    receiver.clear()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update({"OTEL_TRACES_SAMPLER": "otel_exec_keep_failed", "OTEL_TRACES_SAMPLER_ARG": "0",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none"})
    done = subprocess.run([instrument, sys.executable, "app.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    receiver.wait_for(16)
    traces = _exported_traces(receiver)
    assert len(traces) == 8, (traces, done.stderr)
    assert all(sorted(names) == ["job", "step"] for names in traces.values())


def test_its_own_bookkeeping_failing_loses_nothing_and_raises_nothing(
        store: ExecutionStore, traced_on: object, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter = _provider(sampling.KeepFailed(0.0))
    traced_on(provider)  # type: ignore[operator]
    _step(False)  # the buffer goes in front of the exporter

    def broken(span: object) -> int:
        raise RuntimeError("bookkeeping broke")

    monkeypatch.setattr(sampling, "_size", broken)
    exporter.clear()
    assert _job(1, failing=False) == 3  # the program's result, untouched
    assert sorted(span.name for span in exporter.get_finished_spans()) == ["step"] * 3
    assert "KeepFailed could not decide a span" in caplog.text
    assert len(store.by_name("job")) >= 1  # the store still sees it
