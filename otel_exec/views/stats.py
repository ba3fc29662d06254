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


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def stats(executions: Iterable[Execution]) -> list[NameStats]:
    """Statistics per (name, kind) of finished executions, largest total duration first."""
    groups: dict[tuple[str, str], list[Execution]] = {}
    for execution in executions:
        if execution.end_ns is not None:
            groups.setdefault((execution.name, execution.kind), []).append(execution)
    rows = []
    for (name, kind), members in groups.items():
        durations = sorted(member.duration or 0.0 for member in members)
        rows.append(NameStats(name, kind, len(members),
                              sum(not member.success for member in members),
                              _percentile(durations, 0.50), _percentile(durations, 0.95),
                              durations[-1], sum(durations)))
    return sorted(rows, key=lambda row: (-row.total, row.name))
