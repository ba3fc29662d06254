"""Side-by-side timing for the benchmarks: interleaved rounds, median per case, CPU µs per call.

CPU time of the calling thread (time.thread_time), so a noisy neighbour stealing the shared
vCPU does not land in one case and not the other. A ratio is printed twice: of the medians, and
paired (the median of each round's own ratio), which a drift of the machine's speed between
rounds moves less.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager


class Timings(dict[str, float]):
    """Median µs per call of each case; ``rounds`` holds each round's own figures."""

    rounds: list[dict[str, float]]


def per_call_us(cases: dict[str, Callable[[], object]], *, calls: int, rounds: int = 7,
                around: dict[str, Callable[[], ContextManager[object]]] | None = None,
                ) -> Timings:
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
    return medians(samples)


def medians(samples: dict[str, list[float]]) -> Timings:
    """The median of each case's samples, the samples of each round kept in ``rounds``."""
    timings = Timings({name: statistics.median(values) for name, values in samples.items()})
    timings.rounds = [dict(zip(samples, values, strict=True))
                      for values in zip(*samples.values(), strict=True)]
    return timings


def report(title: str, timings: dict[str, float], ratios: dict[str, tuple[str, str]],
           rounds: list[dict[str, float]] | None = None) -> None:
    """Print the timings and the named ratios (numerator case, denominator case): the ratio
    of the medians, and, given each round's figures, the median of the rounds' own ratios
    (paired: the cases of one round ran within seconds of each other) and their range."""
    print(f"\n{title}")
    width = max(map(len, timings)) + 2
    for name, value in timings.items():
        print(f"  {name:<{width}} {value:8.2f} µs/call")
    for label, (top, bottom) in ratios.items():
        line = f"  {label:<{width}} {timings[top] / timings[bottom]:8.2f}"
        if rounds:
            paired = sorted(one[top] / one[bottom] for one in rounds)
            line += (f"   paired: {statistics.median(paired):.2f} "
                     f"({paired[0]:.2f}-{paired[-1]:.2f} over {len(paired)} rounds)")
        print(line)
