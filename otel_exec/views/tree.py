"""The execution tree as plain data: for ``--json`` output and for stable snapshot tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    for execution in sorted(executions, key=lambda item: item.start_ns):
        parent = execution._parent_id
        siblings = nodes[parent]["children"] if parent in by_span else roots
        siblings.append(nodes[execution._span_id])
    return roots

