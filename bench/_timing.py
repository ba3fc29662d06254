"""Side-by-side timing for the benchmarks: interleaved rounds, median per case, CPU µs per call.

CPU time of the calling thread (time.thread_time), so a noisy neighbour stealing the shared
vCPU does not land in one case and not the other. A ratio is printed twice: of the medians, and
paired (the median of each round's own ratio), which a drift of the machine's speed between
rounds moves less.

The unit of every bench is **B0**: ``tracer.start_as_current_span("x")`` with no attributes on a
plain SDK ``TracerProvider`` with one no-op span processor, timed in the same rounds as the
contender (``unit_cases``). **B1** is the same span with otel_exec's store processor attached
(what otel_exec adds to every span of a provider). ``report_units`` prints each row in both, as
the median and interquartile range of the rounds' own ratios.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from typing import Any

B0 = "B0: bare span, plain provider"
B1 = "B1: bare span, store attached"
ROUNDS = 41
"""Rounds by default: enough for a median and quartiles of the per-round ratios."""


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


def unit_tracers() -> tuple[Any, Any]:
    """The tracers of B0 (a plain provider, one no-op processor) and B1 (the same plus the
    default store's processor)."""
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    import otel_exec
    from otel_exec import ExecutionSpanProcessor

    plain = TracerProvider()
    plain.add_span_processor(SpanProcessor())
    stored = TracerProvider()
    stored.add_span_processor(SpanProcessor())
    stored.add_span_processor(ExecutionSpanProcessor(otel_exec.store()))
    return plain.get_tracer("B0"), stored.get_tracer("B1")


def unit_cases(spans: int = 1) -> dict[str, Callable[[], object]]:
    """B0 and B1 as cases of ``per_call_us``; ``spans`` per call (a batch, as the contender's)."""
    plain, stored = unit_tracers()

    def b0() -> None:
        for _ in range(spans):
            with plain.start_as_current_span("x"):
                pass

    def b1() -> None:
        for _ in range(spans):
            with stored.start_as_current_span("x"):
                pass

    return {B0: b0, B1: b1}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    if len(ordered) < 4:
        middle = statistics.median(ordered)
        return ordered[0], middle, ordered[-1]
    first, middle, third = statistics.quantiles(ordered, n=4)
    return first, middle, third


def report_units(title: str, timings: Timings,
                 rows: dict[str, tuple[str, str | None, float]]) -> dict[str, float]:
    """Print each row in B0 and B1: ``(case, minus, per)`` is ``(case - minus) / per`` µs per
    unit (``minus`` None: the case whole), divided by B0 and by B1 of the same round. The
    median ratio in B0 of each row, returned."""
    print(f"\n{title}")
    width = max(map(len, timings)) + 2
    for name, value in timings.items():
        print(f"  {name:<{width}} {value:8.2f} µs/call")
    found: dict[str, float] = {}
    label_width = max(map(len, rows)) + 2
    print(f"  {'':<{label_width}} {'in B0: median (IQR)':>22} {'in B1: median (IQR)':>22}")
    for label, (case, minus, per) in rows.items():
        cells = []
        for unit in (B0, B1):
            ratios = [((one[case] - (one[minus] if minus else 0.0)) / per) / one[unit]
                      for one in timings.rounds]
            low, middle, high = _quartiles(ratios)
            cells.append(f"{middle:6.2f} ({low:.2f}-{high:.2f})")
            if unit == B0:
                found[label] = middle
        print(f"  {label:<{label_width}} {cells[0]:>22} {cells[1]:>22}")
    return found
