"""Core overhead in B0, side by side in one run: @traced, span(), the store, logs, metrics,
run attributes, KeepFailed, memory.

    .venv/bin/python bench/bench_core.py [--calls 5000] [--rounds 41]

Every section times B0 (a bare span on a plain provider with a no-op processor) and B1 (the same
with the store) in its own rounds and prints its rows in both (``_timing.report_units``).
otel_exec's spans go to the embedded default: the store (max_spans=10,000, so eviction is part
of the steady state). The section "µs per call, same provider and processors" compares @traced
with a span written by hand on that same provider.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import B0, B1, ROUNDS, per_call_us, report, report_units, unit_cases
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

import otel_exec
from otel_exec import ExecutionSpanProcessor, ExecutionStore, spans
from otel_exec._sdk import span_path
from otel_exec.instrumentation import logs


def work(x: int) -> int:
    return x + 1


traced_work = otel_exec.traced(work)
quiet_work = otel_exec.traced(capture_args=False, capture_result=False)(work)


def span_block() -> None:
    with otel_exec.span("work"):
        work(1)


def bench_units(calls: int, rounds: int) -> dict[str, float]:
    """The reference rows, in B0 and B1: a @traced call and a span() block (default capture,
    store on), and what the store adds to a span otel_exec did not make."""
    timings = per_call_us({**unit_cases(), "@traced call": lambda: traced_work(1),
                           "otel_exec.span() block": span_block}, calls=calls, rounds=rounds)
    return report_units("added per unit, in B0 and B1 (store on, default capture)", timings, {
        "@traced call": ("@traced call", None, 1),
        "otel_exec.span() block": ("otel_exec.span() block", None, 1),
        "store, added to a span otel_exec did not make": (B1, B0, 1)})


@contextlib.contextmanager
def _without(owner: Any, *names: str, value: Any = None) -> Iterator[None]:
    """``owner``'s methods ``names`` replaced by one doing nothing (returning ``value``)."""
    saved = {name: getattr(owner, name) for name in names}
    for name in names:
        setattr(owner, name, lambda *args, **kwargs: value)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(owner, name, method)


def bench_breakdown(calls: int, rounds: int) -> None:
    """Where a @traced call's time goes: the call with one part of otel_exec's work taken
    out at a time (what each row loses is that part's cost), in B0 and B1."""
    from otel_exec.execution_store import ExecutionStore as Store
    from otel_exec.values import ValuePolicy

    parts = {"without the store (track, record)": lambda: _without(Store, "track", "record"),
             "without record": lambda: _without(Store, "record"),
             "without keeping the outcome": lambda: _without(Store, "_keep"),
             "without the value texts": lambda: _without(ValuePolicy, "text", value="x")}
    cases: dict[str, Any] = {**unit_cases(), "@traced call": lambda: traced_work(1)}
    cases.update({name: lambda: traced_work(1) for name in parts})
    timings = per_call_us(cases, calls=calls, rounds=rounds, around=parts)
    report_units("a @traced call with one part taken out (the difference is its cost)",
                 timings, {name: (name, None, 1) for name in ("@traced call", *parts)})


def bench_calls(calls: int, rounds: int) -> None:
    tracer = trace.get_tracer("bench")

    def bare_span() -> None:
        with tracer.start_as_current_span("work"):
            work(1)

    def bare_start_end() -> None:
        tracer.start_span("work").end()

    start_attributes = {"exec.kind": "function", "exec.framework": "python",
                        "code.function.name": "__main__.work", "exec.args": "(1,)"}
    end_attributes = {"exec.status": "completed", "exec.result": "2"}

    def bare_span_same_attributes() -> None:
        with tracer.start_as_current_span("work", attributes=start_attributes) as span:
            work(1)
            span.set_attributes(end_attributes)

    traced_tracer = spans.get_tracer("otel_exec.traced")

    def traced_sdk_start() -> None:  # the lean path refused for this one call
        template = getattr(traced_tracer, span_path.TEMPLATE, False)
        setattr(traced_tracer, span_path.TEMPLATE, None)
        try:
            traced_work(1)
        finally:
            setattr(traced_tracer, span_path.TEMPLATE, template)

    timings = per_call_us({
        "bare function": lambda: work(1),
        "bare SDK span (start/end only)": bare_start_end,
        "bare SDK span (current, as users write it)": bare_span,
        "bare SDK span + the same 6 attributes": bare_span_same_attributes,
        "@traced call": lambda: traced_work(1),
        "@traced call, capture off": lambda: quiet_work(1),
        "@traced call, SDK start_span (lean start off)": traced_sdk_start,
    }, calls=calls, rounds=rounds)
    report("µs per call, same provider and processors", timings, {
        "ratio @traced / bare SDK span": ("@traced call",
                                          "bare SDK span (current, as users write it)"),
        "ratio @traced / bare SDK span + attributes": ("@traced call",
                                                       "bare SDK span + the same 6 attributes"),
        "ratio with the SDK start / bare SDK span": (
            "@traced call, SDK start_span (lean start off)",
            "bare SDK span (current, as users write it)"),
    }, timings.rounds)


_quiet = logging.getLogger("bench.quiet")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # the records are made (and kept with the execution), not printed


@otel_exec.traced(name="logging_work")
def logging_work(x: int) -> int:
    _quiet.warning("work on %s", x)
    return x + 1


@contextlib.contextmanager
def _logs_kept(kept: bool) -> Iterator[None]:
    if kept:
        logs.install()
    else:
        logs.uninstall()
    yield


def bench_logs(calls: int, rounds: int) -> None:
    """What keeping log records with their executions costs: a @traced call that logs one
    WARNING record, with the records kept and with them off (the program's own logging
    cost is in both), and the same call logging nothing."""
    timings = per_call_us({
        **unit_cases(),
        "@traced call logging nothing": lambda: traced_work(1),
        "@traced call logging a WARNING, logs kept": lambda: logging_work(1),
        "@traced call logging a WARNING, logs off": lambda: logging_work(1),
    }, calls=calls, rounds=rounds, around={
        "@traced call logging a WARNING, logs kept": lambda: _logs_kept(True),
        "@traced call logging a WARNING, logs off": lambda: _logs_kept(False)})
    report_units("log records kept with executions, added per record", timings, {
        "a WARNING kept with its execution": ("@traced call logging a WARNING, logs kept",
                                              "@traced call logging a WARNING, logs off", 1)})


def bench_metrics(calls: int, rounds: int) -> None:
    """What execution metrics add per execution: the metrics processor's on_start and on_end
    for one finished @traced span, beside B0 in the same rounds; on the meter provider
    otel_exec installs (exec.duration aggregated in process) and on one set up elsewhere (the
    SDK's histogram)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_exec.duration_histogram import DurationHistogram, DurationReader
    from otel_exec.metrics_setup import (
        ATTRIBUTE_NAMES,
        DURATION_BUCKETS,
        ExecutionMetricsProcessor,
    )

    class Discard(MetricExporter):
        """Exports nothing: the bench times recording, not export."""

        def export(self, metrics_data: Any, timeout_millis: float = 10_000,
                   **kwargs: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    histogram = DurationHistogram(DURATION_BUCKETS, ATTRIBUTE_NAMES)
    ours = ExecutionMetricsProcessor(
        MeterProvider(metric_readers=[DurationReader(Discard(), histogram)]),
        histogram=histogram)
    elsewhere = ExecutionMetricsProcessor(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    tracer = trace.get_tracer("bench")
    with tracer.start_as_current_span("work", attributes={
            "exec.kind": "function", "exec.framework": "python",
            "exec.status": "completed"}) as span:
        pass
    readable = span._readable_span()  # type: ignore[attr-defined]

    def metrics_ours() -> None:
        ours.on_start(span)  # nothing: running executions are counted when collected
        ours.on_end(readable)

    def metrics_elsewhere() -> None:
        elsewhere.on_start(span)
        elsewhere.on_end(readable)

    timings = per_call_us({**unit_cases(),
                           "metrics, otel_exec's meter provider": metrics_ours,
                           "metrics, a meter provider set up elsewhere": metrics_elsewhere},
                          calls=calls, rounds=rounds)
    report_units("execution metrics, added per execution", timings, {
        "metrics (otel_exec's meter provider)": ("metrics, otel_exec's meter provider", None, 1),
        "metrics (set up elsewhere: SDK histogram)": (
            "metrics, a meter provider set up elsewhere", None, 1)})


@contextlib.contextmanager
def _traced_on(provider: Any) -> Iterator[None]:
    spans.use_provider("otel_exec.traced", provider)
    try:
        yield
    finally:
        spans.use_provider("otel_exec.traced", None)


def bench_production(calls: int, rounds: int) -> None:
    """What run attributes and KeepFailed add to a @traced call, beside B0 in the same rounds:
    the call inside an ``otel_exec.attributes`` block of three, and the call on a provider
    exporting through a (discarding) simple processor, without and with KeepFailed's buffer
    in front of it."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    exporting = TracerProvider()
    exporting.add_span_processor(SimpleSpanProcessor(Discard()))
    keep_failed = TracerProvider(sampler=otel_exec.KeepFailed(0.1))
    keep_failed.add_span_processor(SimpleSpanProcessor(Discard()))

    timings = per_call_us({
        **unit_cases(),
        "@traced call": lambda: traced_work(1),
        "@traced call in an attributes block": lambda: traced_work(1),
        "@traced call, exporting": lambda: traced_work(1),
        "@traced call, exporting through KeepFailed": lambda: traced_work(1),
    }, calls=calls, rounds=rounds, around={
        "@traced call in an attributes block": lambda: otel_exec.attributes(
            run_id="r-42", user="ana", team="ops"),
        "@traced call, exporting": lambda: _traced_on(exporting),
        "@traced call, exporting through KeepFailed": lambda: _traced_on(keep_failed)})
    report_units("run attributes and KeepFailed, added per execution", timings, {
        "an attributes block of three around it": ("@traced call in an attributes block",
                                                   "@traced call", 1),
        "KeepFailed(0.1) before the exporter (one-span traces)": (
            "@traced call, exporting through KeepFailed", "@traced call, exporting", 1)})


def bench_on_end(calls: int, rounds: int) -> None:
    store = ExecutionStore(max_spans=10_000)
    processor = ExecutionSpanProcessor(store, every_span=True)  # record: no trace lookup
    tracer = trace.get_tracer("bench")
    with tracer.start_as_current_span("sample", attributes={
            "exec.kind": "function", "exec.framework": "python", "exec.args": "(1,)",
            "code.function.name": "__main__.work", "exec.result": "2",
            "exec.status": "completed"}) as span:
        pass
    readable = span._readable_span()  # type: ignore[attr-defined]
    timings = per_call_us({"ExecutionSpanProcessor.on_end": lambda: processor.on_end(readable)},
                          calls=calls, rounds=rounds)
    report("store cost per finished span (one span re-recorded; evicting at 10,000)", timings, {})


def bench_memory(count: int) -> None:
    store = otel_exec.store()
    for label, kept in (("with its real objects (args tuple, result)", count),
                        ("without its real objects (texts only)", 0)):
        store.clear()
        store.max_spans = count
        store.max_kept_values = kept
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            traced_work(i)
        store.find(0)  # a read builds the indexes: counted too
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"bytes retained per stored execution {label} ({count:,} @traced calls, "
              f"tracemalloc): {(after - before) / len(store):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.calls:,} calls, median")
    bench_units(options.calls, options.rounds)
    bench_breakdown(options.calls, options.rounds)
    bench_calls(options.calls, options.rounds)
    bench_logs(options.calls, options.rounds)
    bench_metrics(options.calls, options.rounds)
    bench_production(options.calls, options.rounds)
    bench_on_end(options.calls * 5, options.rounds)
    print()
    bench_memory(10_000)


if __name__ == "__main__":
    main()
