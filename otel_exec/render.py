"""Rich renderables for executions: the falyx-style history table and the execution tree.

Functions here build and return renderables; they never print. Callers (registry, CLI, pytest
report) decide where the output goes. Every string that came from the program (names, results,
exception texts, ids) is a ``literal``: never parsed as Rich markup, control characters shown as
escapes, so ``[/var/log/app]`` prints as itself and ``\x1b]0;...`` cannot reach the terminal.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from otel_exec import semconv
from otel_exec.semconv import ExecStatus
from otel_exec.values import visible

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore
    from otel_exec.views.stats import NameStats

RESULT_WIDTH = 50

_STATUS_LABELS: dict[ExecStatus, tuple[str, str]] = {
    status: (f"{icon} {status.value}", style) for status, icon, style in (
        (ExecStatus.COMPLETED, "✅", "green"), (ExecStatus.FAILED, "❌", "red"),
        (ExecStatus.ERROR_CONTINUED, "❌", "red"), (ExecStatus.SKIPPED, "⏭", "yellow"),
        (ExecStatus.CANCELLED, "⏹", "yellow"), (ExecStatus.PAUSED, "⏸", "yellow"),
        (ExecStatus.UNFINISHED, "⏹", "yellow"), (ExecStatus.RUNNING, "⏳", "cyan"))}
"""A status as every view says it: the ``exec.status`` word (the one vocabulary of the
spans, the CLI, the viewer and the JSON), with an icon and a colour in a terminal."""

STATUS_FILTERS = ("all", "success", "error")


def literal(text: object, style: str = "") -> Text:
    """Program-made text, shown as it is: no markup, control characters visible."""
    return Text(visible(str(text)), style=style)


def status_label(execution: Execution) -> Text:
    """The status cell of an execution, e.g. ``✅ completed``."""
    label, style = _STATUS_LABELS[execution.status]
    return Text(label, style=style)


def _clock(epoch_seconds: float | None) -> str:
    if epoch_seconds is None:
        return "n/a"
    return datetime.fromtimestamp(epoch_seconds).strftime("%H:%M:%S")


def _duration(execution: Execution) -> str:
    duration = execution.duration
    return "n/a" if duration is None else f"{duration:.3f}s"


def outcome_text(execution: Execution) -> str:
    """The Result / Exception cell in full: the result's text, or what the failure was."""
    if execution.success:
        return execution.result_text
    return execution.exception_text or execution.status_description or "error"


def _outcome_text(execution: Execution) -> Text:
    text = outcome_text(execution)
    return literal(text if len(text) <= RESULT_WIDTH else f"{text[:RESULT_WIDTH]}...")


def keep(execution: Execution, status: str) -> bool:
    """Whether a falyx ``status`` filter (all / success / error) keeps this execution."""
    return status == "all" or (status == "error") != execution.success


def summary_table(executions: Iterable[Execution], *, title: str = "📊 Execution History",
                  status: str = "all", evicted: int = 0, max_spans: int | None = None,
                  hidden: int = 0) -> Table:
    """The falyx ``history`` table: Index, Name, Start, End, Duration, Status, Result / Exception.

    Start and End are wall-clock times. A caption says how many executions the store evicted
    and how many older rows were left out (``hidden``).
    """
    notes = []
    if hidden:
        notes.append(f"{hidden} older row{'s' if hidden != 1 else ''} not shown")
    if evicted:
        notes.append(f"{evicted} older execution{'s' if evicted != 1 else ''} evicted "
                     f"(max_spans={max_spans})")
    caption = "; ".join(notes) or None
    table = Table(title=literal(title), caption=caption, expand=True, box=box.SIMPLE)
    table.add_column("Index", justify="right", style="dim")
    table.add_column("Name", style="bold cyan")
    table.add_column("Start", justify="right", style="dim")
    table.add_column("End", justify="right", style="dim")
    table.add_column("Duration", justify="right")
    table.add_column("Status", style="bold")
    table.add_column("Result / Exception", overflow="fold")
    for execution in executions:
        if not keep(execution, status):
            continue
        index = "—" if execution.index is None else str(execution.index)
        table.add_row(index, literal(execution.name), _clock(execution.start_time),
                      _clock(execution.end_time), _duration(execution), status_label(execution),
                      _outcome_text(execution))
    return table


def result_view(execution: Execution) -> RenderableType:
    """``signature:`` then the traceback if there is one, else the result (falyx's last_result),
    as the texts recorded when the execution finished."""
    traceback = execution.traceback
    return Group(literal(f"{execution.signature}:"),
                 literal(traceback if traceback else execution.result_text))


def _node_label(execution: Execution) -> Text:
    label = literal(execution.name, style="bold")
    label.append_text(literal(f"  {execution.kind}", style="dim"))
    label.append("  ")
    label.append_text(status_label(execution))
    label.append(f"  {_duration(execution)}", style="dim")
    notes = Counter(event.name for event in execution.events
                    if event.name not in (semconv.EXCEPTION_EVENT, semconv.LOG_EVENT))
    for name, count in notes.items():
        label.append_text(literal(f"  {name}×{count}", style="magenta"))
    if not execution.success:
        error = (execution.exception_text or execution.status_description
                 or execution.error_type)
        if error:
            label.append_text(literal(f"  {error}", style="red"))
    return label


def execution_tree(executions: Sequence[Execution], *, title: str = "Trace") -> Tree:
    """A tree of executions by parent span, children in start order; built without recursion."""
    by_span = {execution._span_id: execution for execution in executions}
    children: dict[int | None, list[Execution]] = {}
    for execution in sorted(executions, key=lambda item: item.start_ns):
        parent = execution._parent_id if execution._parent_id in by_span else None
        children.setdefault(parent, []).append(execution)
    root = Tree(Text(title, style="bold"), guide_style="tree.line")
    stack: list[tuple[Tree, int | None, int]] = [(root, None, 0)]
    while stack:
        node, span_id, depth = stack.pop()
        for child in children.get(span_id, ()):
            if depth < MAX_TREE_DEPTH:
                branch, below = node.add(_node_label(child)), depth + 1
            else:  # deeper levels flat under the last one shown: output stays linear
                branch, below = node.add(_node_label(child).append(
                    f"  (level {depth + 1})", style="dim")), depth
            for line in log_lines(child):
                branch.add(line)
            stack.append((branch if below > depth else node, child._span_id, below))
    return root


MAX_TREE_DEPTH = 64
"""Levels a tree indents; deeper executions are listed flat under the last level, with their
own level said, so a chain thousands deep prints in linear space."""


_LOG_STYLES = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red"}


def log_lines(execution: Execution) -> list[Text]:
    """The log records kept with an execution, a line each: ``LEVEL logger: message``."""
    return [literal(line, _LOG_STYLES.get(line.split(" ", 1)[0], "dim"))
            for line in execution.logs]


def trace_trees(store: ExecutionStore, trace_id: str | None = None) -> Iterator[Tree]:
    """One tree per trace in the store (or just ``trace_id``), running executions included,
    made as they are printed: a file of many traces never holds them all as trees at once."""
    running: dict[str, list[Execution]] = {}
    for execution in store.running():
        running.setdefault(execution.trace_id, []).append(execution)
    trace_ids = [trace_id] if trace_id is not None else [
        *store.trace_ids(), *(current for current in running if not store.by_trace(current))]
    for current in trace_ids:
        members = [*store.by_trace(current), *running.get(current, ())]
        if members:
            yield execution_tree(members, title=f"Trace {current}")


def stats_table(rows: Iterable[NameStats]) -> Table:
    """Per-name statistics: count, failures, p50 / p95 / max and total duration."""
    table = Table(title="⏱ Execution Statistics", expand=True, box=box.SIMPLE,
                  row_styles=["", "dim"])
    table.add_column("Name", style="bold cyan")
    table.add_column("Kind", style="dim")
    for header in ("Count", "Failures", "p50", "p95", "Max", "Total"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(literal(row.name), literal(row.kind), str(row.count),
                      Text(str(row.failures), style="red" if row.failures else ""),
                      f"{row.p50:.3f}s", f"{row.p95:.3f}s", f"{row.max:.3f}s",
                      f"{row.total:.3f}s")
    return table
