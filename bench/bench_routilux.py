"""routilux overhead per routine execution, side by side in one run: a job of one source and
N downstream executions, uninstrumented and instrumented, and the bare SDK span floor.

    .venv/bin/python bench/bench_routilux.py [--jobs 20] [--rounds 5]

routilux runs routines on its worker pool and event-loop threads, so this measures wall time
from ``Runtime.post`` (every job of a flow posted to the same worker) until the last routine
has run (not until the job span ends: that waits the quiet period on purpose), and the CPU the
whole process spent meanwhile (every thread's: what the work costs, without the waits between
threads). The bare span
is timed twice: in a tight loop, and written by hand in each routine's logic
(uninstrumented), where it does the same work between routilux's own.
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

from _timing import B0, B1, ROUNDS, medians, report, report_units, unit_cases
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
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        super().__init__()
        self.tracer = tracer
        self.add_slot("go")
        self.add_event("out")
        self.set_activation_policy(on_new_data)
        self.set_logic(self.run)

    def run(self, go: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        with in_span(self.tracer, "source"):
            for n in range(ITEMS):
                self.emit("out", worker_state=worker_state, n=n)


class Count(Routine):
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        super().__init__()
        self.tracer = tracer
        self.flow: Flow | None = None
        self.seen = 0
        self.done = threading.Event()
        self.add_slot("in")
        self.set_activation_policy(on_new_data)
        self.set_logic(self.run)

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        with in_span(self.tracer, "count"):
            self.seen += len(items)
            if self.seen >= ITEMS:
                self.done.set()


def in_span(tracer: trace.Tracer | None, name: str) -> contextlib.AbstractContextManager[Any]:
    """A bare SDK span written by hand in a routine's logic (none without a tracer)."""
    return contextlib.nullcontext() if tracer is None else tracer.start_as_current_span(name)


def bench_flow(name: str, tracer: trace.Tracer | None = None) -> Count:
    """A flow ``name`` of a source emitting ITEMS items to a counter: the counter, which keeps
    the flow alive (routilux's registry does not)."""
    flow = Flow(name)
    counter = Count(tracer)
    flow.add_routine(Source(tracer), "source")
    flow.add_routine(counter, "count")
    flow.connect("source", "out", "count", "in")
    counter.flow = flow
    return counter


_workers: dict[str, str] = {}
"""The worker each flow's jobs run on: routilux starts a worker (its own threads, alive until
its idle timeout) for every ``post`` without one, so a run of a thousand jobs would end with a
thousand idle workers polling their queues, and time them rather than the routines."""


def one_job(runtime: Runtime, counter: Count, flow: str = "bench") -> float:
    counter.seen = 0
    counter.done.clear()
    started = time.perf_counter()
    worker, _ = runtime.post(flow, "source", "go", {"go": 1}, worker_id=_workers.get(flow))
    _workers[flow] = worker.worker_id
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


def table(per_job: dict[str, float]) -> dict[str, float]:
    """Per routine execution µs of each case (given in µs per job; the bare span's per span)
    and the differences the ratios use."""
    per = ITEMS + 1
    timings = {
        "uninstrumented / routine execution": per_job["uninstrumented"] / per,
        "instrumented / routine execution": per_job["instrumented"] / per,
        "uninstrumented, a bare SDK span in each routine": per_job["with spans"] / per,
        "one bare SDK span": per_job["bare"],
    }
    plain = timings["uninstrumented / routine execution"]
    timings["one bare SDK span in a routine"] = (
        timings["uninstrumented, a bare SDK span in each routine"] - plain)
    timings["added / routine execution"] = timings["instrumented / routine execution"] - plain
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    tracer = trace.get_tracer("bench")
    counter = bench_flow("bench")
    counter_with_spans = bench_flow("bench_with_spans", tracer)
    runtime = Runtime()
    samples: dict[str, list[float]] = {"uninstrumented": [], "instrumented": [], "bare": [],
                                       "with spans": [], B0: [], B1: []}
    cpu: dict[str, list[float]] = {"uninstrumented": [], "instrumented": [], B0: [], B1: []}
    units = unit_cases(spans=options.jobs * (ITEMS + 1))

    def jobs(arm: str) -> None:
        """The arm's jobs: wall µs per job (``samples``) and the process's CPU (``cpu``)."""
        started = time.process_time()
        samples[arm].append(
            sum(one_job(runtime, counter) for _ in range(options.jobs)) / options.jobs * 1e6)
        cpu[arm].append((time.process_time() - started) / options.jobs * 1e6)

    for _ in range(options.rounds):
        jobs("uninstrumented")
        with instrumented():
            jobs("instrumented")
        samples["with spans"].append(sum(
            one_job(runtime, counter_with_spans, "bench_with_spans")
            for _ in range(options.jobs)) / options.jobs * 1e6)
        started = time.perf_counter()
        for _ in range(options.jobs * (ITEMS + 1)):
            with tracer.start_as_current_span("routine"):
                pass
        samples["bare"].append((time.perf_counter() - started) / options.jobs / (ITEMS + 1)
                               * 1e6)
        for unit in (B0, B1):  # per job, as the jobs are timed
            started, started_cpu = time.perf_counter(), time.process_time()
            units[unit]()
            samples[unit].append((time.perf_counter() - started) / options.jobs * 1e6)
            cpu[unit].append((time.process_time() - started_cpu) / options.jobs * 1e6)
    runtime.shutdown(wait=True, timeout=5)
    per_job = medians(samples)
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.jobs} jobs of {ITEMS + 1} routine executions, median, wall µs")
    report("routilux routine execution", table(per_job), {
        "added / one bare SDK span": ("added / routine execution", "one bare SDK span"),
        "added / one bare SDK span in a routine": ("added / routine execution",
                                                   "one bare SDK span in a routine"),
    }, [table(one) for one in per_job.rounds])
    per_routine = {"added per routine execution": ("instrumented", "uninstrumented", 1)}
    report_units("routilux, in B0 and B1 (both arms in every round; µs per job)",
                 medians({arm: samples[arm] for arm in cpu}), per_routine)
    report_units("routilux, the process's CPU (every thread's), in B0 and B1 (µs per job)",
                 medians(cpu), per_routine)


if __name__ == "__main__":
    main()
