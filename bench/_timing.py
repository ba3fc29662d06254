"""Side-by-side timing for the benchmarks: interleaved rounds, median per case, CPU µs per call.

CPU time of the calling thread (time.thread_time), so a noisy neighbour stealing the shared
vCPU does not land in one case and not the other.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager


def per_call_us(cases: dict[str, Callable[[], object]], *, calls: int, rounds: int = 7,
                around: dict[str, Callable[[], ContextManager[object]]] | None = None,
                ) -> dict[str, float]:
    """Median µs per call of each case, rounds interleaved so load affects every case alike.

    ``around[name]`` gives a context manager entered around that case's timed loop each round
    (e.g. instrument / uninstrument), outside the timing.
    """
    around = around or {}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for name, case in cases.items():  # warm-up
        with around.get(name, contextlib.nullcontext)():
            for _ in range(min(calls, 1_000)):
                case()
    for _ in range(rounds):
        for name, case in cases.items():
            with around.get(name, contextlib.nullcontext)():
                gc.collect()
                started = time.thread_time()
                for _ in range(calls):
                    case()
                samples[name].append((time.thread_time() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, timings: dict[str, float], ratios: dict[str, tuple[str, str]]) -> None:
    """Print the timings and the named ratios (numerator case, denominator case)."""
    print(f"\n{title}")
    width = max(map(len, timings)) + 2
    for name, value in timings.items():
        print(f"  {name:<{width}} {value:8.2f} µs/call")
    for label, (top, bottom) in ratios.items():
        print(f"  {label:<{width}} {timings[top] / timings[bottom]:8.2f}")
