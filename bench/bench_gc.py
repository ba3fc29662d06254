"""Garbage-collection pauses with many executions kept in the store.

    .venv/bin/python bench/bench_gc.py [--executions 1000000]

Each case runs in its own interpreter: ``configure(max_spans=N)``, then N executions made by
@traced calls (flat: one span per call; nested: a call with nine child calls), while
``gc.callbacks`` times every collection the interpreter runs by itself. Printed: the longest
pause, the total of the full (generation 2) collections, the first read of the store (which
builds its indexes), one full ``gc.collect()`` after it, the objects the collector tracks, CPU
µs per execution and the memory resident per execution kept (Linux). A third case keeps the
default 10,000 executions while the program's own data grows (a dict every ten calls): what a
store that evicts costs the collector.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = """
import gc, json, os, sys, time
import otel_exec

count, shape = int(sys.argv[1]), sys.argv[2]
otel_exec.configure(max_spans=10_000 if shape == "growing" else count)

@otel_exec.traced
def child(i):
    return i

@otel_exec.traced
def parent(i):
    for k in range(9):
        child(k)
    return i

pauses = []
started = [0.0]

def timed(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.append((time.perf_counter() - started[0], info["generation"]))

def resident():
    try:
        with open("/proc/self/statm") as statm:  # Linux: resident pages
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None

gc.collect()
resident_before = resident()
gc.callbacks.append(timed)
cpu = time.process_time()
program = []
if shape == "flat":
    for i in range(count):
        child(i)
elif shape == "growing":  # the default store; the program's own data grows meanwhile
    for i in range(count):
        child(i)
        if i % 10 == 0:
            program.append({"i": i})
else:
    for i in range(count // 10):
        parent(i)
cpu = time.process_time() - cpu
gc.callbacks.remove(timed)
first_read = time.perf_counter()
otel_exec.store().find(0)  # the first read (a lookup) builds the store's indexes
first_read = time.perf_counter() - first_read
collect = time.perf_counter()
gc.collect()
collect = time.perf_counter() - collect
resident_after = resident()
print(json.dumps({
    "rss_bytes": None if resident_before is None else
    (resident_after - resident_before) / len(otel_exec.store()),
    "kept": len(otel_exec.store()), "cpu_us": cpu / count * 1e6,
    "max_pause_ms": max((p for p, _ in pauses), default=0.0) * 1e3,
    "full_ms": sum(p for p, g in pauses if g == 2) * 1e3,
    "full_count": sum(1 for _, g in pauses if g == 2),
    "collect_ms": collect * 1e3, "tracked": len(gc.get_objects()),
    "first_read_ms": first_read * 1e3}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {options.executions:,} executions kept")
    for shape in ("flat", "nested", "growing"):
        done = subprocess.run([sys.executable, "-c", CASE, str(options.executions), shape],
                              capture_output=True, text=True, check=True)
        found = json.loads(done.stdout)
        print(f"  {shape:7} kept {found['kept']:,}: longest pause {found['max_pause_ms']:.0f} ms,"
              f" {found['full_count']} full collections {found['full_ms']:.0f} ms in all, "
              f"first read (the indexes built) {found['first_read_ms']:.0f} ms, "
              f"gc.collect() after {found['collect_ms']:.0f} ms, "
              f"{found['tracked']:,} objects tracked, {found['cpu_us']:.1f} µs CPU per execution"
              + ("" if found["rss_bytes"] is None or shape == "growing" else
                 f", {found['rss_bytes']:,.0f} B resident per execution kept"))


if __name__ == "__main__":
    main()
