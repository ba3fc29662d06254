"""falyx overhead, side by side in one run: an Action call uninstrumented, instrumented, and the
bare SDK span floor with the same processors.

    .venv/bin/python bench/bench_falyx.py [--calls 2000] [--rounds 7]

The bare span is timed twice: in a tight loop around a bare coroutine, and written by hand
around each (uninstrumented) Action, where it does the same work (the same instructions,
``bench_instructions.py``) but takes more time between falyx's own code. The second is what
instrumentation replaces: a span per Action.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import ROUNDS, per_call_us, report, report_units, unit_cases
from falyx.action import Action
from opentelemetry import trace

import otel_exec

BATCH = 50


async def step(x: int) -> int:
    return x + 1


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    otel_exec.instrument("falyx")
    try:
        yield
    finally:
        otel_exec.uninstrument("falyx")


def table(batches: dict[str, float]) -> dict[str, float]:
    """Per call µs of each case (timed in batches) and the differences the ratios use."""
    timings = {name: value / BATCH for name, value in batches.items()}
    plain = timings["falyx Action, uninstrumented"]
    timings["one bare SDK span (difference)"] = (
        timings["bare SDK span (current) around it"] - timings["bare coroutine"])
    timings["one bare SDK span around an Action (difference)"] = (
        timings["falyx Action in a bare SDK span"] - plain)
    timings["added by instrumentation (difference)"] = (
        timings["falyx Action, instrumented"] - plain)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="batches of 50 calls per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    loop = asyncio.new_event_loop()
    action = Action("step", step, args=(1,))
    tracer = trace.get_tracer("bench")

    async def actions() -> None:
        for _ in range(BATCH):
            await action()

    async def bare_spans() -> None:
        for _ in range(BATCH):
            with tracer.start_as_current_span("step"):
                await step(1)

    async def bare_calls() -> None:
        for _ in range(BATCH):
            await step(1)

    async def actions_in_bare_spans() -> None:
        for _ in range(BATCH):
            with tracer.start_as_current_span("step"):
                await action()

    batches = per_call_us({
        "bare coroutine": lambda: loop.run_until_complete(bare_calls()),
        "bare SDK span (current) around it": lambda: loop.run_until_complete(bare_spans()),
        "falyx Action, uninstrumented": lambda: loop.run_until_complete(actions()),
        "falyx Action in a bare SDK span": lambda: loop.run_until_complete(
            actions_in_bare_spans()),
        "falyx Action, instrumented": lambda: loop.run_until_complete(actions()),
        **unit_cases(spans=BATCH),
    }, calls=options.calls, rounds=options.rounds,
        around={"falyx Action, instrumented": instrumented})
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.calls * BATCH:,} calls, median, CPU µs per call")
    report("falyx Action call", table(batches), {
        "added / one bare SDK span": ("added by instrumentation (difference)",
                                      "one bare SDK span (difference)"),
        "added / one bare SDK span around an Action": (
            "added by instrumentation (difference)",
            "one bare SDK span around an Action (difference)"),
    }, [table(one) for one in batches.rounds])
    report_units("falyx Action, in B0 and B1 (both arms in every round)", batches, {
        "falyx Action, added": ("falyx Action, instrumented", "falyx Action, uninstrumented", 1)})
    loop.close()


if __name__ == "__main__":
    main()
