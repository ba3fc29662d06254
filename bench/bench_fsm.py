"""dataknobs-fsm overhead per state transition, side by side in one run: a linear FSM run
uninstrumented, instrumented, and the bare SDK span floor with the same processors.

    .venv/bin/python bench/bench_fsm.py [--runs 200] [--rounds 7]

A run makes 20 spans: the run, a step per state (10) and an arc per transition (9). The bare
span is timed twice: in a tight loop, and written by hand in each state's transform, an
``async`` one so that it runs on the FSM's event loop as the instrumentation's spans do (a sync
transform runs on dataknobs' executor threads): the same work, more time between the FSM's
own code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import ROUNDS, per_call_us, report, report_units, unit_cases
from dataknobs_fsm.api.async_simple import AsyncSimpleFSM
from opentelemetry import trace

import otel_exec

STATES = 10


def bump(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {**data, "n": data["n"] + 1}


async def async_bump(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return bump(data, context)


TRANSFORMS = STATES - 2
TRANSITIONS = STATES - 1
SPANS_PER_RUN = 1 + STATES + TRANSITIONS  # the run, a step per state, an arc per transition
CONFIG = {
    "name": "linear",
    "states": [{"name": "s0", "is_start": True},
               *({"name": f"s{i}", "functions": {"transform": "bump"}}
                 for i in range(1, STATES - 1)),
               {"name": f"s{STATES - 1}", "is_end": True}],
    "arcs": [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(STATES - 1)],
}


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    otel_exec.instrument("dataknobs_fsm")
    try:
        yield
    finally:
        otel_exec.uninstrument("dataknobs_fsm")


def table(per_run: dict[str, float]) -> dict[str, float]:
    """Per transition µs of each case (timed per run) and the differences the ratios use."""
    timings = {f"{name} / transition": value / TRANSITIONS for name, value in per_run.items()}
    added = (per_run["FSM run, instrumented"] - per_run["FSM run, uninstrumented"]) / TRANSITIONS
    timings["added by instrumentation / transition"] = added
    timings["added by instrumentation / span made"] = added * TRANSITIONS / SPANS_PER_RUN
    timings["one bare SDK span"] = (per_run[f"{TRANSITIONS * 2} bare SDK spans (current)"]
                                    / (TRANSITIONS * 2))
    timings["one bare SDK span in a transform"] = (
        per_run["FSM run, async transforms, each in a bare SDK span"]
        - per_run["FSM run, async transforms"]) / TRANSFORMS
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    loop = asyncio.new_event_loop()
    fsm = AsyncSimpleFSM(CONFIG, custom_functions={"bump": bump})
    async_fsm = AsyncSimpleFSM(CONFIG, custom_functions={"bump": async_bump})
    tracer = trace.get_tracer("bench")

    async def async_bump_in_span(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
        with tracer.start_as_current_span("bump"):
            return await async_bump(data, context)

    async_fsm_with_spans = AsyncSimpleFSM(CONFIG, custom_functions={"bump": async_bump_in_span})

    def run_fsm() -> None:
        loop.run_until_complete(fsm.process({"n": 0}))

    def run_async_fsm() -> None:
        loop.run_until_complete(async_fsm.process({"n": 0}))

    def run_async_fsm_with_spans() -> None:
        loop.run_until_complete(async_fsm_with_spans.process({"n": 0}))

    def bare_spans() -> None:
        for _ in range(TRANSITIONS * 2):
            with tracer.start_as_current_span("step"):
                pass

    per_run = per_call_us({
        "FSM run, uninstrumented": run_fsm,
        "FSM run, instrumented": run_fsm,
        "FSM run, async transforms": run_async_fsm,
        "FSM run, async transforms, each in a bare SDK span": run_async_fsm_with_spans,
        f"{TRANSITIONS * 2} bare SDK spans (current)": bare_spans,
        **unit_cases(spans=SPANS_PER_RUN),
    }, calls=options.runs, rounds=options.rounds, around={"FSM run, instrumented": instrumented})
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.runs} runs of {TRANSITIONS} transitions, median, CPU µs")
    report("dataknobs-fsm state transition", table(per_run), {
        "added / one bare SDK span": ("added by instrumentation / transition",
                                      "one bare SDK span"),
        "added per span made / one bare SDK span": ("added by instrumentation / span made",
                                                    "one bare SDK span"),
        "added per span made / one in a transform": ("added by instrumentation / span made",
                                                     "one bare SDK span in a transform"),
    }, [table(one) for one in per_run.rounds])
    report_units("dataknobs-fsm, in B0 and B1 (both arms in every round)", per_run, {
        "added per span made": ("FSM run, instrumented", "FSM run, uninstrumented", 1)})
    loop.close()


if __name__ == "__main__":
    main()
