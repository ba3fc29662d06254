"""The calls instrumentation adds to one unit of each framework's work, counted (not timed).

    .venv/bin/python bench/bench_calls.py

Time on a shared VM moves by a third between runs; the number of Python function calls and of
C calls a workload makes does not. Each framework runs its unit of work (a falyx Action call, a
dataknobs-fsm transition, a routilux routine execution) uninstrumented and instrumented in a
fresh interpreter under ``sys.setprofile`` (every thread for routilux), and the difference per
unit is printed, with the functions that add the most calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

COUNT = """
import collections, json, sys, threading
sys.path.insert(0, {bench!r})
import otel_exec
framework, instrumented = sys.argv[1], sys.argv[2] == "on"
otel_exec.configure(max_spans=10_000)
if instrumented:
    otel_exec.instrument(framework)
counts = collections.Counter()
lock = threading.Lock()

def profile(frame, event, arg):
    if event == "call":
        code = frame.f_code
        with lock:
            counts["python"] += 1
            counts[code.co_filename.rsplit("/", 1)[-1] + ":" + code.co_name] += 1
    elif event == "c_call":
        with lock:
            counts["C"] += 1

def counted(run, units):
    run()  # warm-up
    threading.setprofile_all_threads(profile)
    sys.setprofile(profile)
    run()
    sys.setprofile(None)
    threading.setprofile_all_threads(None)
    print(json.dumps({{key: value / units for key, value in counts.items()}}))

if framework == "falyx":
    import asyncio
    from falyx.action import Action

    async def step(x):
        return x + 1

    action = Action("step", step, args=(1,))

    async def actions():
        for _ in range(100):
            await action()

    loop = asyncio.new_event_loop()
    counted(lambda: loop.run_until_complete(actions()), 100)
elif framework == "dataknobs_fsm":
    import asyncio
    import bench_fsm
    from dataknobs_fsm.api.async_simple import AsyncSimpleFSM

    fsm = AsyncSimpleFSM(bench_fsm.CONFIG, custom_functions={{"bump": bench_fsm.bump}})

    async def runs():
        for _ in range(10):
            await fsm.process({{"n": 0}})

    loop = asyncio.new_event_loop()
    counted(lambda: loop.run_until_complete(runs()), 10 * (bench_fsm.STATES - 1))
else:
    import time
    import bench_routilux
    from routilux.core.runtime import Runtime

    counter = bench_routilux.bench_flow("bench")
    runtime = Runtime()

    def jobs():
        for _ in range(5):
            bench_routilux.one_job(runtime, counter)
        time.sleep(0.5)  # the job's last bookkeeping on routilux's threads

    counted(jobs, 5 * (bench_routilux.ITEMS + 1))
    runtime.shutdown(wait=True, timeout=5)
"""

UNITS = {"falyx": "Action call", "dataknobs_fsm": "FSM transition",
         "routilux": "routine execution"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=8, help="functions to list per framework")
    options = parser.parse_args()
    code = COUNT.format(bench=str(BENCH))
    print(f"Python {sys.version.split()[0]}: calls added by instrumentation per unit")
    for framework, unit in UNITS.items():
        found = {}
        for mode in ("off", "on"):
            done = subprocess.run([sys.executable, "-c", code, framework, mode],
                                  capture_output=True, text=True, check=True)
            found[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        off, on = found["off"], found["on"]
        added = {key: on.get(key, 0.0) - off.get(key, 0.0) for key in set(off) | set(on)}
        print(f"  {framework} ({unit}): {added['python']:.0f} Python calls "
              f"({off['python']:.0f} -> {on['python']:.0f}), {added['C']:.0f} C calls "
              f"({off['C']:.0f} -> {on['C']:.0f})")
        top = sorted(((value, key) for key, value in added.items()
                      if key not in ("python", "C")), reverse=True)[:options.top]
        for value, key in top:
            print(f"      {value:6.1f}  {key}")


if __name__ == "__main__":
    main()
