"""otel_exec's @traced beside the other ways to trace a function, side by side in one run, in B0.

    .venv-peers/bin/python bench/bench_peers.py [--calls 3000] [--rounds 41]

(`make peers` builds .venv-peers with the peers installed; a peer that is not installed is
left out and said.) Every contender wraps the same function and runs on its own tracer
provider with nothing exporting (a no-op processor or a discarding exporter), so what is
compared is the cost of making the span, with each library's defaults:

- a span written by hand with the attributes @traced records (start and end);
- the OpenTelemetry API's ``tracer.start_as_current_span`` used as a decorator;
- otel_exec's ``@traced`` (the store on, default capture of args and result);
- Logfire's ``@logfire.instrument``;
- OpenInference's ``@tracer.chain`` (``OITracer``);
- OpenLLMetry's ``@workflow`` (traceloop-sdk).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import B0, B1, ROUNDS, per_call_us, report_units, unit_cases
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import otel_exec
from otel_exec import spans


def work(x: int) -> int:
    return x + 1


class Discard(SpanExporter):
    """Exports nothing: the bench times making spans, not sending them."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def plain_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SpanProcessor())
    return provider


def hand_written() -> Callable[[int], int]:
    tracer = plain_provider().get_tracer("hand")
    start = {"exec.kind": "function", "exec.framework": "python",
             "code.function.name": "__main__.work", "exec.args": "(1,)"}

    def call(x: int) -> int:
        with tracer.start_as_current_span("work", attributes=start) as span:
            result = work(x)
            span.set_attributes({"exec.status": "completed", "exec.result": repr(result)})
            return result
    return call


def otel_decorator() -> Callable[[int], int]:
    tracer = plain_provider().get_tracer("decorator")
    return tracer.start_as_current_span("work")(work)  # type: ignore[no-any-return]


def otel_exec_traced() -> Callable[[int], int]:
    spans.use_provider("otel_exec.traced", plain_provider())  # the store attaches itself
    traced: Callable[[int], int] = otel_exec.traced(work)
    return traced


def logfire_instrument() -> Callable[[int], int]:
    import logfire

    logfire.configure(send_to_logfire=False, console=False, inspect_arguments=False,
                      additional_span_processors=[SimpleSpanProcessor(Discard())])
    instrumented: Callable[[int], int] = logfire.instrument("work")(work)
    return instrumented


def openinference_chain() -> Callable[[int], int]:
    from openinference.instrumentation import OITracer, TraceConfig

    tracer = OITracer(plain_provider().get_tracer("openinference"), config=TraceConfig())
    chained: Callable[[int], int] = tracer.chain(work)
    return chained


def openllmetry_workflow() -> Callable[[int], int]:
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import workflow

    Traceloop.init(app_name="bench", exporter=Discard(), disable_batch=True,
                   telemetry_enabled=False)
    flow: Callable[[int], int] = workflow(name="work")(work)
    return flow


CONTENDERS: dict[str, Callable[[], Callable[[int], int]]] = {
    "hand-written span, same attributes": hand_written,
    "OpenTelemetry start_as_current_span decorator": otel_decorator,
    "otel_exec @traced (store on)": otel_exec_traced,
    "Logfire @instrument": logfire_instrument,
    "OpenInference @chain": openinference_chain,
    "OpenLLMetry @workflow": openllmetry_workflow,
}


def _calling(function: Callable[[int], int]) -> Callable[[], object]:
    return lambda: function(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    cases: dict[str, Callable[[], object]] = dict(unit_cases())
    for name, make in CONTENDERS.items():
        try:
            wrapped = make()
        except Exception as exc:  # not installed, or its set-up refused here
            print(f"left out: {name} ({type(exc).__name__}: {exc})")
            continue
        with contextlib.suppress(Exception):
            wrapped(1)
        cases[name] = _calling(wrapped)
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.calls:,} calls, CPU µs per call")
    timings = per_call_us(cases, calls=options.calls, rounds=options.rounds)
    report_units("a traced function call, whole, in B0 and B1", timings,
                 {name: (name, None, 1) for name in cases if name not in (B0, B1)})


if __name__ == "__main__":
    main()
