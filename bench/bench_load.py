"""Scale: load and summarize a trace file of 100,000 spans; seconds and peak memory.

    .venv/bin/python bench/bench_load.py [--spans 100000]

The file is made first by otel_exec itself (@traced calls, saved as OTLP JSON lines), then read
back the way ``otel-exec summary`` / ``stats`` read it. The floor is ``json.loads`` of every line
plus the same statistics computed straight from the decoded dicts: what any reader must pay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from rich.console import Console

import otel_exec
from otel_exec.persist import iter_traces, load
from otel_exec.render import stats_table
from otel_exec.views.registry import ExecutionRegistry
from otel_exec.views.stats import stats


@otel_exec.traced(name="work")
def work(i: int) -> int:
    if i % 97 == 0:
        raise ValueError(f"item {i}")
    return i * 2


def floor(path: Path) -> float:
    """Seconds to decode every line and compute count, failures, p50 / p95 / max per name."""
    started = time.perf_counter()
    durations: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            for resource in json.loads(line)["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        name = span["name"]
                        durations.setdefault(name, []).append(
                            (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e9)
                        if span.get("status", {}).get("code") == 2:
                            failures[name] = failures.get(name, 0) + 1
    for values in durations.values():
        values.sort()
        _ = (values[len(values) // 2], values[int(len(values) * 0.95)], values[-1], sum(values))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    options = parser.parse_args()
    otel_exec.configure(max_spans=options.spans)
    for i in range(options.spans):
        with contextlib.suppress(ValueError):
            work(i)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jsonl"
        started = time.perf_counter()
        otel_exec.save(path)
        saved = time.perf_counter() - started
        size = path.stat().st_size
        floor_seconds = floor(path)
        started = time.perf_counter()
        store = load(path)
        loaded = time.perf_counter() - started
        console = Console(file=open("/dev/null", "w"), width=120)  # noqa: SIM115
        started = time.perf_counter()
        ExecutionRegistry(store).summary(console=console, limit=1000)
        summarized = time.perf_counter() - started
        started = time.perf_counter()
        rows = [execution.to_dict() for execution in store.executions()]
        as_json = time.perf_counter() - started
        started = time.perf_counter()
        console.print(stats_table(stats(store.executions())))
        statted = time.perf_counter() - started
        del store, rows
        started = time.perf_counter()
        stats(iter_traces(path))  # what `otel-exec stats` does: aggregated while reading
        streamed = time.perf_counter() - started
        tracemalloc.start()
        stats(iter_traces(path))
        streamed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tracemalloc.start()  # a second pass, measured for memory only (tracemalloc is slow)
        store = load(path)
        ExecutionRegistry(store).summary(console=console, limit=1000)
        rows = [execution.to_dict() for execution in store.executions()]
        stats(store.executions())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"Python {sys.version.split()[0]}, {len(store):,} spans, file {size / 1e6:.1f} MB")
    print(f"  save                 {saved:6.2f} s")
    print(f"  load                 {loaded:6.2f} s")
    print(f"  summary table (newest 1,000 rows, the CLI default) {summarized:6.2f} s")
    print(f"  summary --json ({len(rows):,} rows) {as_json:6.2f} s")
    print(f"  stats                {statted:6.2f} s")
    print(f"  peak memory of load + summary + --json + stats (tracemalloc) {peak / 1e6:.0f} MB")
    print(f"  floor: json.loads of every line + the same statistics {floor_seconds:6.2f} s")
    print(f"  otel-exec stats, read and aggregated line by line {streamed:6.2f} s, "
          f"peak {streamed_peak / 1e6:.0f} MB")
    for what, seconds in (("otel-exec stats (streamed)", streamed),
                          ("stats from a loaded store (load + stats)", loaded + statted),
                          ("summary (load + newest 1,000 rows)", loaded + summarized),
                          ("summary --json (load + every row)", loaded + as_json)):
        print(f"  {what:38} {seconds / floor_seconds:5.2f} x the floor")


if __name__ == "__main__":
    main()
