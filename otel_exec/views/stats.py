"""Per-name statistics over executions: count, failures, p50 / p95 / max and total duration."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from otel_exec.execution import Execution


@dataclass(frozen=True)
class NameStats:
    """What the executions of one name (and kind) add up to."""

    name: str
    kind: str
    count: int
    failures: int
    p50: float
    p95: float
    max: float
    total: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _percentile(ordered: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def stats(executions: Iterable[Execution]) -> list[NameStats]:
    """Statistics per (name, kind) of finished executions, largest total duration first.

    Keeps each execution's duration only (in whole nanoseconds, so the total is exact), and a
    stream of executions (a trace file read line by line) is summed up without being held.
    """
    durations: dict[tuple[str, str], list[int]] = {}
    failures: dict[tuple[str, str], int] = {}
    for execution in executions:
        if execution.end_ns is not None:
            key = (execution.name, execution.kind)
            durations.setdefault(key, []).append(execution.end_ns - execution.start_ns)
            if not execution.success:
                failures[key] = failures.get(key, 0) + 1
    rows = []
    for (name, kind), values in durations.items():
        values.sort()
        rows.append(NameStats(name, kind, len(values), failures.get((name, kind), 0),
                              _percentile(values, 0.50) / 1e9, _percentile(values, 0.95) / 1e9,
                              values[-1] / 1e9, sum(values) / 1e9))
    return sorted(rows, key=lambda row: (-row.total, row.name))
