"""The execution tree as plain data: for ``--json`` output and for stable snapshot tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_exec.render import MAX_TREE_DEPTH

if TYPE_CHECKING:
    from collections.abc import Sequence

    from otel_exec.execution import Execution


def forest(executions: Sequence[Execution], *, stable: bool = False) -> list[dict[str, Any]]:
    """Root-first nested dicts of executions, children in start order.

    With ``stable=True`` there are no ids and no timings (name, kind, status, error, the log
    records kept with it and children only), so the same workload gives the same data on
    every run. ``logs`` (``LEVEL logger: message`` each) is there only when there are some.
    """
    by_span = {execution._span_id: execution for execution in executions}
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for execution in sorted(executions, key=lambda item: item.start_ns):
        node: dict[str, Any] = {"name": execution.name, "kind": execution.kind,
                                "status": execution.status.value}
        if not execution.success:
            node["error"] = execution.error_type or execution.status_description
        if execution.logs:
            node["logs"] = execution.logs
        if not stable:
            node.update(trace_id=execution.trace_id, span_id=execution.span_id,
                        duration=execution.duration)
        node["children"] = []
        nodes[execution._span_id] = node
    depth: dict[int, int] = {}
    ordered = sorted(executions, key=lambda item: item.start_ns)
    for execution in ordered:
        node = nodes[execution._span_id]
        parent = execution._parent_id
        if parent not in by_span:
            roots.append(node)
            continue
        level = _level(parent, by_span, depth) + 1
        depth[execution._span_id] = level
        holder = parent
        while depth.get(holder, 0) >= MAX_TREE_DEPTH:  # deeper: flat under the last level
            up = by_span[holder]._parent_id
            if up is None:
                break
            holder = up
        if holder != parent:
            node["level"] = level
        nodes[holder]["children"].append(node)
    return roots


def _level(span_id: int, by_span: dict[int, Execution], depth: dict[int, int]) -> int:
    """How deep ``span_id`` is (0 for a root), found without recursion and remembered."""
    chain = []
    current: int | None = span_id
    while current in by_span and current not in depth:
        chain.append(current)
        parent = by_span[current]._parent_id
        current = parent if parent in by_span and len(chain) <= len(by_span) else None
    level = depth.get(current, -1) if current is not None else -1
    for span in reversed(chain):
        level += 1
        depth[span] = level
    return depth.get(span_id, 0)

