"""routilux overhead per routine execution, side by side in one run: a job of one source and
N downstream executions, uninstrumented and instrumented, and the bare SDK span floor.

    .venv/bin/python bench/bench_routilux.py [--jobs 20] [--rounds 5]

routilux runs routines on its worker pool and event-loop threads, so this measures wall time
from ``Runtime.post`` until the last routine has run (not until the job span ends: that waits
the quiet period on purpose).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import report
from opentelemetry import trace
from routilux.core.flow import Flow
from routilux.core.routine import Routine
from routilux.core.runtime import Runtime

import otel_exec

ITEMS = 50


def on_new_data(slots: dict[str, Any], worker_state: Any) -> tuple[bool, dict[str, Any], str]:
    data = {name: slot.consume_one_new() for name, slot in slots.items()}
    data = {name: [value] for name, value in data.items() if value is not None}
    return (True, data, "") if data else (False, {}, "")


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.add_slot("go")
        self.add_event("out")
        self.set_activation_policy(on_new_data)
        self.set_logic(self.run)

    def run(self, go: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        for n in range(ITEMS):
            self.emit("out", worker_state=worker_state, n=n)


class Count(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.done = threading.Event()
        self.add_slot("in")
        self.set_activation_policy(on_new_data)
        self.set_logic(self.run)

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        self.seen += len(items)
        if self.seen >= ITEMS:
            self.done.set()


def one_job(runtime: Runtime, counter: Count) -> float:
    counter.seen = 0
    counter.done.clear()
    started = time.perf_counter()
    runtime.post("bench", "source", "go", {"go": 1})
    if not counter.done.wait(30):
        raise TimeoutError("the benchmark job did not finish")
    return time.perf_counter() - started


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    otel_exec.instrument("routilux")
    try:
        yield
    finally:
        otel_exec.uninstrument("routilux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    flow = Flow("bench")
    counter = Count()
    flow.add_routine(Source(), "source")
    flow.add_routine(counter, "count")
    flow.connect("source", "out", "count", "in")
    runtime = Runtime()
    tracer = trace.get_tracer("bench")
    samples: dict[str, list[float]] = {"uninstrumented": [], "instrumented": [], "bare": []}
    for _ in range(options.rounds):
        samples["uninstrumented"].append(
            sum(one_job(runtime, counter) for _ in range(options.jobs)) / options.jobs)
        with instrumented():
            samples["instrumented"].append(
                sum(one_job(runtime, counter) for _ in range(options.jobs)) / options.jobs)
        started = time.perf_counter()
        for _ in range(options.jobs * (ITEMS + 1)):
            with tracer.start_as_current_span("routine"):
                pass
        samples["bare"].append((time.perf_counter() - started) / options.jobs / (ITEMS + 1))
    runtime.shutdown(wait=True, timeout=5)
    per = ITEMS + 1
    timings = {
        "uninstrumented / routine execution": sorted(samples["uninstrumented"])[
            options.rounds // 2] / per * 1e6,
        "instrumented / routine execution": sorted(samples["instrumented"])[
            options.rounds // 2] / per * 1e6,
        "one bare SDK span": sorted(samples["bare"])[options.rounds // 2] * 1e6,
    }
    timings["added / routine execution"] = (timings["instrumented / routine execution"]
                                            - timings["uninstrumented / routine execution"])
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.jobs} jobs of {per} routine executions, median, wall µs")
    report("routilux routine execution", timings, {
        "added / one bare SDK span": ("added / routine execution", "one bare SDK span")})


if __name__ == "__main__":
    main()
