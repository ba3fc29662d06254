"""Instructions per unit of work, counted by valgrind: the deterministic side-by-side ratios.

    .venv/bin/python bench/bench_instructions.py [--units 4000] [--cache]

Needs valgrind (``apt-get install valgrind``). Each case runs in a process of its own under
``valgrind --tool=cachegrind`` twice, with ``units`` and with twice as many units of work after
the same warm-up (the store filled to eviction, then ``gc.collect()`` and the collector off);
the difference of the two counts, divided by ``units``, is what one unit costs, start-up and
imports cancelled out. The same number comes back run after run (within about 1 %), where time
on a shared VM moves by a third. ``--cache`` also simulates the caches and the branch predictor:
first-level instruction-cache misses and mispredicted branches are why a unit of added Python
code costs more time than the same number of instructions in a bare span's tight loop.

Cases: the bare SDK span (``start_as_current_span``, the embedded default processor, as in
``bench_core.py``), ``@traced``, a falyx ``Action``, a 10-state dataknobs-fsm run and a
routilux job of 51 routine executions (``bench_routilux.py``'s, a hundredth of ``units`` jobs),
each uninstrumented and instrumented, and the Action in a bare span written by hand: the same
instructions as the bare span in its tight loop, which ``bench_falyx.py`` times at 1.5-2x as
long. Ratios: instructions added per unit / one bare SDK span. routilux's idle threads poll
(its worker's queue every 0.1 s), which moves its count by about 0.3 % between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

WARM_UP = 12_000  # spans: past the store's 10,000, so eviction is part of the steady state
FSM_SPANS_PER_RUN = 20  # a run of 9 transitions: the run, 10 steps, 9 arcs
ROUTILUX_EXECUTIONS_PER_JOB = 51  # bench_routilux's job: a source emitting 50 items, one each


def _workload(case: str) -> tuple[Callable[[int], None], int]:
    """The case's loop of ``n`` units, and how many units make the warm-up."""
    import otel_exec

    otel_exec.configure(max_spans=10_000)
    if case in ("span", "traced"):
        from opentelemetry import trace

        tracer = trace.get_tracer("bench")

        def work(x: int) -> int:
            return x + 1

        traced = otel_exec.traced(work)

        def spans(n: int) -> None:
            for _ in range(n):
                with tracer.start_as_current_span("work"):
                    work(1)

        def traced_calls(n: int) -> None:
            for _ in range(n):
                traced(1)

        return (spans if case == "span" else traced_calls), WARM_UP
    loop = asyncio.new_event_loop()
    framework, _, state = case.partition(":")
    if state == "instrumented":
        otel_exec.instrument(framework)
    if framework == "routilux":
        from bench_routilux import bench_flow, one_job
        from routilux.core.runtime import Runtime

        runtime = Runtime()
        counter = bench_flow("bench")

        def jobs(n: int) -> None:
            for _ in range(n):
                one_job(runtime, counter)

        return jobs, WARM_UP // ROUTILUX_EXECUTIONS_PER_JOB
    if framework == "falyx":
        from bench_falyx import step
        from falyx.action import Action
        from opentelemetry import trace

        action = Action("step", step, args=(1,))
        tracer = trace.get_tracer("bench")

        async def actions(n: int) -> None:
            for _ in range(n):
                await action()

        async def actions_in_bare_spans(n: int) -> None:
            for _ in range(n):
                with tracer.start_as_current_span("step"):
                    await action()

        if state == "in_bare_spans":
            return lambda n: loop.run_until_complete(actions_in_bare_spans(n)), WARM_UP

        return lambda n: loop.run_until_complete(actions(n)), WARM_UP
    from bench_fsm import CONFIG, bump
    from dataknobs_fsm.api.async_simple import AsyncSimpleFSM

    fsm = AsyncSimpleFSM(CONFIG, custom_functions={"bump": bump})

    def runs(n: int) -> None:
        for _ in range(n):
            loop.run_until_complete(fsm.process({"n": 0}))

    return runs, WARM_UP // FSM_SPANS_PER_RUN


def child(case: str, units: int) -> None:
    """Run the warm-up, then ``units`` units with the collector off (under valgrind)."""
    run, warm_up = _workload(case)
    run(warm_up)
    gc.collect()
    gc.disable()
    run(units)


_COUNTS = {"instructions": r"I\s+refs:\s+([\d,]+)", "I1 misses": r"I1\s+misses:\s+([\d,]+)",
           "mispredicted branches": r"Mispredicts:\s+([\d,]+)"}


def _count(case: str, units: int, cache: bool) -> dict[str, int]:
    command = ["valgrind", "--tool=cachegrind", "--cachegrind-out-file=/dev/null",
               f"--cache-sim={'yes' if cache else 'no'}",
               f"--branch-sim={'yes' if cache else 'no'}",
               sys.executable, __file__, "--child", case, str(units)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    output = subprocess.run(command, capture_output=True, text=True, env=environment,
                            check=True).stderr
    return {name: int(found.group(1).replace(",", ""))
            for name, pattern in _COUNTS.items() if (found := re.search(pattern, output))}


def per_unit(case: str, units: int, cache: bool) -> dict[str, float]:
    """Counts per unit: (count with 2 × units − count with units) / units."""
    subprocess.run([sys.executable, __file__, "--child", case, "0"], check=True,
                   env={**os.environ, "PYTHONHASHSEED": "0"})  # byte-compile outside the count
    once = _count(case, units, cache)
    twice = _count(case, 2 * units, cache)
    return {name: (twice[name] - once[name]) / units for name in once}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4_000,
                        help="spans, calls or Actions per count (FSM runs: a twentieth)")
    parser.add_argument("--cache", action="store_true",
                        help="simulate caches and branches too (about 3x slower)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "UNITS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    cases = {"span": options.units, "traced": options.units,
             "falyx:plain": options.units, "falyx:instrumented": options.units,
             "falyx:in_bare_spans": options.units,
             "dataknobs_fsm:plain": options.units // FSM_SPANS_PER_RUN,
             "dataknobs_fsm:instrumented": options.units // FSM_SPANS_PER_RUN,
             "routilux:plain": options.units // 100,
             "routilux:instrumented": options.units // 100}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {case: pool.submit(per_unit, case, units, options.cache)
                   for case, units in cases.items()}
        counts = {case: future.result() for case, future in futures.items()}
    span = counts["span"]
    fsm_plain, fsm = counts["dataknobs_fsm:plain"], counts["dataknobs_fsm:instrumented"]
    rows = {
        "one bare SDK span": span,
        "@traced call": counts["traced"],
        "a bare SDK span around a falyx Action": {
            name: counts["falyx:in_bare_spans"][name] - counts["falyx:plain"][name]
            for name in span},
        "falyx Action, added by instrumentation": {
            name: counts["falyx:instrumented"][name] - counts["falyx:plain"][name]
            for name in span},
        "dataknobs-fsm, added per span it makes": {
            name: (fsm[name] - fsm_plain[name]) / FSM_SPANS_PER_RUN for name in span},
        "routilux, added per routine execution": {
            name: (counts["routilux:instrumented"][name] - counts["routilux:plain"][name])
            / ROUTILUX_EXECUTIONS_PER_JOB for name in span},
    }
    print(f"Python {sys.version.split()[0]}, per unit ({options.units:,} and "
          f"{2 * options.units:,} units counted, the difference taken), collector off")
    names = list(span)
    print(f"\n  {'':<42}" + "".join(f"{name:>24}" for name in names))
    for label, values in rows.items():
        print(f"  {label:<42}" + "".join(f"{values[name]:>24,.0f}" for name in names))
    print("\n  ratio to one bare SDK span")
    for label, values in list(rows.items())[1:]:
        print(f"  {label:<42}" + "".join(f"{values[name] / span[name]:>24.2f}"
                                         for name in names))


if __name__ == "__main__":
    main()
