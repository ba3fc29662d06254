"""Trace files at scale: each `otel-exec` command on N spans, against the floor of json.loads.

    .venv/bin/python bench/bench_load.py [--spans 100000] [--rounds 3]

The file is made first by otel_exec itself (@traced calls, 1 % failing, saved as OTLP JSON
lines). Every command then runs as its own process, as a user runs it, output to /dev/null: its
CPU time and its peak resident memory (wait4's rusage, interpreter and imports included).
The floor is a process doing what any reader must: `json.loads` of every line plus count,
failures, p50 / p95 / max and total per name, straight from the decoded dicts. Cases run
interleaved, `--rounds` times; the median is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OTEL_EXEC = str(Path(sys.executable).with_name("otel-exec"))


def floor(path: Path) -> None:
    """Decode every line and compute count, failures, p50 / p95 / max / total per name."""
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


def make(path: Path, spans: int) -> None:
    """Record ``spans`` @traced calls and save them; print a trace id and the save time."""
    import otel_exec

    @otel_exec.traced(name="work")
    def work(i: int) -> int:
        if i % 97 == 0:
            raise ValueError(f"item {i}")
        return i * 2

    store = otel_exec.configure(max_spans=spans)
    for i in range(spans):
        with contextlib.suppress(ValueError):
            work(i)
    started = time.perf_counter()
    otel_exec.save(path)
    print(store.latest().trace_id, time.perf_counter() - started)  # type: ignore[union-attr]


def run(command: list[str]) -> tuple[float, float, float]:
    """CPU seconds (user + system), peak RSS (MB) and wall seconds of one process. CPU time is
    what this bench compares: on a shared VM the wall clock of the same run varies by a fifth
    from one run to the next."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        raise SystemExit(f"{command} failed: {process.stderr.read().decode()}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.floor is not None:
        floor(options.floor)
        return
    if options.make is not None:
        make(options.make, options.spans)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jsonl"
        # made by a child: this process stays small, so the children's peak memory is theirs
        # (a child's ru_maxrss counts what it shared with its parent before exec)
        made = subprocess.run([sys.executable, __file__, "--make", str(path), "--spans",
                               str(options.spans)], capture_output=True, text=True, check=True)
        trace, saved = made.stdout.split()
        file = str(path)
        cases = {
            "floor: json.loads + the statistics": [sys.executable, __file__, "--floor", file],
            "otel-exec stats": [OTEL_EXEC, "stats", file],
            "otel-exec stats --json": [OTEL_EXEC, "stats", file, "--json"],
            "otel-exec summary (newest 1,000 rows)": [OTEL_EXEC, "summary", file],
            "otel-exec summary --json --limit 1000": [OTEL_EXEC, "summary", file, "--json",
                                                      "--limit", "1000"],
            "otel-exec summary --status error": [OTEL_EXEC, "summary", file, "--status",
                                                 "error"],
            "otel-exec tree --trace ID": [OTEL_EXEC, "tree", file, "--trace", trace],
            "otel-exec tree --trace ID --json": [OTEL_EXEC, "tree", file, "--trace", trace,
                                                 "--json"],
        }
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
        for _ in range(options.rounds):
            for name, command in cases.items():
                samples[name].append(run(command))
        size = path.stat().st_size
    print(f"Python {sys.version.split()[0]}, {options.spans:,} spans, file {size / 1e6:.1f} MB, "
          f"saved in {float(saved):.2f} s; median of {options.rounds} interleaved rounds")
    floor_samples = samples["floor: json.loads + the statistics"]
    floor_seconds = statistics.median(s for s, _, _ in floor_samples)
    for name, values in samples.items():
        seconds = statistics.median(s for s, _, _ in values)
        memory = max(m for _, m, _ in values)
        print(f"  {name:42} {seconds:7.2f} s CPU  {seconds / floor_seconds:5.2f} x the floor  "
              f"peak {memory:6.0f} MB")


if __name__ == "__main__":
    main()
