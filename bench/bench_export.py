"""Export through a real collector: throughput, and the whole process's CPU per traced call
against the same program making bare spans.

    .venv/bin/python bench/bench_export.py [--spans 20000] [--rounds 3]   # needs `make backends`

First, in this process: what encoding finished @traced spans costs per span, with the OTLP
exporters' own encoder and with otel_exec's (which writes the same bytes), in B0.

Spans go through the BatchSpanProcessor and OTLP exporter that ``configure()`` sets up into rotel
(blackhole exporter). Each run is a fresh interpreter (a fresh global provider). Throughput:
rotel's own "Received traces" log lines are the count of what arrived, so drops are measured,
not assumed. CPU: the producer times its calls and the flush that exports them, as the calling
thread's CPU and the whole process's (user + system, every thread: the export thread's encoding
and sending included), for @traced calls and for bare ``start_as_current_span`` spans, runs
interleaved: the median of the rounds, and the median of each round's own ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _timing import (  # noqa: E402 - after the path is set
    ROUNDS,
    medians,
    per_call_us,
    report,
    report_units,
    unit_cases,
)

from tests.integration.pipeline import start_rotel  # noqa: E402

PRODUCER = """
import sys, time
import otel_exec
otel_exec.configure(exit_timeout=30)

@otel_exec.traced
def work(i):
    return i

count = int(sys.argv[1])
started = time.perf_counter()
for i in range(count):
    work(i)
produced = time.perf_counter() - started
otel_exec.flush(60)
print(produced, time.perf_counter() - started)
"""

CPU_PRODUCER = """
import resource, sys, time
import otel_exec
from opentelemetry import trace
otel_exec.configure(exit_timeout=30)

@otel_exec.traced
def work(i):
    return i

tracer = trace.get_tracer("bench")

def bare(i):
    with tracer.start_as_current_span("work"):
        return i

call = work if sys.argv[1] == "traced" else bare
count = int(sys.argv[2])

def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

for i in range(2_000):
    call(i)
otel_exec.flush(60)
process, thread = process_cpu(), time.thread_time()
for i in range(count):
    call(i)
otel_exec.flush(60)
print(time.thread_time() - thread, process_cpu() - process)
"""


CPU_LABELS = {"bare": "bare spans", "traced": "@traced"}
CPU_CASES = tuple(f"{label}, {part}" for label in CPU_LABELS.values()
                  for part in ("calling thread", "whole process", "other threads (export)"))
"""The figures each CPU round gives per program (``CPU_PRODUCER``'s mode, labelled)."""


def _collector_env(collector: object, protocol: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return env | {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint(protocol),  # type: ignore[attr-defined]
                  "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}


def throughput(spans: int) -> None:
    for protocol in ("http/protobuf", "grpc"):
        with tempfile.TemporaryDirectory() as folder:
            collector = start_rotel(Path(folder), None, verbosity="basic")
            try:
                done = subprocess.run([sys.executable, "-c", PRODUCER, str(spans)],
                                      env=_collector_env(collector, protocol),
                                      capture_output=True, text=True, check=True)
                produced, exported = map(float, done.stdout.split())
                time.sleep(1.0)
                received = sum(int(n) for n in re.findall(
                    r"(?<!resource_)spans=(\d+)",
                    re.sub(r"\x1b\[[0-9;]*m", "", collector.log.read_text())))
                drops = done.stderr.count("Queue full")
            finally:
                collector.stop()
        print(f"  {protocol:14} produced {spans / produced:9,.0f} spans/s, "
              f"exported {spans / exported:9,.0f} spans/s end to end, "
              f"received by the collector {received:,} / {spans:,}, "
              f"'Queue full' warnings {drops}")


def cpu(spans: int, rounds: int) -> None:
    for protocol in ("http/protobuf", "grpc"):
        samples: dict[str, list[float]] = {name: [] for name in CPU_CASES}
        with tempfile.TemporaryDirectory() as folder:
            collector = start_rotel(Path(folder), None, verbosity="basic")
            try:
                for _ in range(rounds):
                    for mode in ("bare", "traced"):
                        done = subprocess.run(
                            [sys.executable, "-c", CPU_PRODUCER, mode, str(spans)],
                            env=_collector_env(collector, protocol), capture_output=True,
                            text=True, check=True)
                        thread, process = (float(s) / spans * 1e6 for s in done.stdout.split())
                        label = CPU_LABELS[mode]
                        samples[f"{label}, calling thread"].append(thread)
                        samples[f"{label}, whole process"].append(process)
                        samples[f"{label}, other threads (export)"].append(process - thread)
            finally:
                collector.stop()
        timings = medians(samples)
        report(f"{protocol}: CPU µs per call, {rounds} interleaved rounds", timings,
               {"ratio whole process @traced / bare spans":
                    ("@traced, whole process", "bare spans, whole process")}, timings.rounds)


BATCH = 512
"""Spans per export batch (the BatchSpanProcessor's default)."""
BATCHES = 8
"""Batches encoded per call: each span's own values, as a program exports them (the same
batch encoded again would find every text already encoded)."""


def encoding(rounds: int) -> None:
    """What the export thread spends encoding finished @traced spans (each call with its own
    argument), per span: the exporters' own encoder (``encode_spans``, then serialized) and
    otel_exec's (``encode_request``, the same bytes), in B0 of the same rounds."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import otel_exec
    from otel_exec import spans
    from otel_exec._sdk import otlp_encoder

    provider, finished = TracerProvider(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    previous = spans.override_provider(provider)
    try:
        work = otel_exec.traced(lambda i: i, name="work")
        for i in range(BATCH * BATCHES):
            work(i)
    finally:
        spans.override_provider(previous)
    made = list(finished.get_finished_spans())
    batches = [made[start:start + BATCH] for start in range(0, len(made), BATCH)]
    for batch in batches:
        if otlp_encoder.encode_request(batch) != encode_spans(batch).SerializePartialToString():
            raise AssertionError("the two encoders disagree")

    def theirs() -> None:
        for batch in batches:
            encode_spans(batch).SerializePartialToString()

    def ours() -> None:
        for batch in batches:
            otlp_encoder.encode_request(batch)

    timings = per_call_us({**unit_cases(spans=len(made)), "the exporters' encoder": theirs,
                           "otel_exec's encoder": ours}, calls=2, rounds=rounds)
    report_units(f"encoding {BATCHES} batches of {BATCH} @traced spans (µs per call; B0: as "
                 "many spans)", timings,
                 {name: (name, None, 1) for name in ("the exporters' encoder",
                                                     "otel_exec's encoder")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding-rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {options.spans:,} spans per run")
    encoding(options.encoding_rounds)
    print("\nthroughput (@traced)")
    throughput(options.spans)
    cpu(options.spans, options.rounds)


if __name__ == "__main__":
    main()
