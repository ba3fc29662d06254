"""falyx's ``ExecutionRegistry`` API (record, get_all, get_by_name, get_latest, clear, summary),
answered from the spans in an ``ExecutionStore``.

Differences from falyx, on purpose: Start and End are wall-clock times (falyx formats
``perf_counter`` values as if they were), ``summary(index=...)`` prints no stray list, the
``status`` filter never shows a failure as a success, and the store is bounded (evictions are
shown in the table caption). Kept from falyx: indices are never reused after ``clear()``.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from otel_exec import render
from otel_exec.rows import in_registry, own_index
from otel_exec.views import StoreView

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore

_MAX_NS = 2**64 - 1


@dataclass
class Selection:
    """What a falyx ``history`` request selects, before it is printed or written as JSON.

    Exactly one of: ``missing`` (nothing matches: the message falyx prints), ``result`` (the
    execution whose result or traceback is asked for), or the table's ``executions``.
    """

    title: str = ""
    executions: list[Execution] = field(default_factory=list)
    hidden: int = 0
    result: Execution | None = None
    missing: str | None = None


_NO_LAST_RESULT = "No valid executions found to display last result."


def _no_name(name: str) -> str:
    return f"No executions found for action '{name}'."


def _title(name: str) -> str:
    return f"📊 Execution History for '{name}'" if name else "📊 Execution History"


def _status_filter(status: str) -> str:
    status = status.lower()
    if status not in render.STATUS_FILTERS:
        raise ValueError(f"status must be one of {', '.join(render.STATUS_FILTERS)}, "
                         f"not {status!r}.")
    return status


def _completion(end: int, start: int, number: int) -> int:
    """Where an entry falls in completion order, as a store numbers entries: by end, then the
    outer of two spans ending together (children first), then the order read; one int."""
    return end << 104 | (_MAX_NS - start) << 40 | number


def select_streamed(executions: Iterable[Execution], name: str = "", last_result: bool = False,
                    status: str = "all", limit: int | None = None,
                    slowest: int | None = None,
                    keep: Callable[[Execution], bool] | None = None) -> Selection:
    """``ExecutionRegistry.select`` over executions read in any order (a trace file), holding
    only the rows it shows: the newest ``limit`` (or the ``slowest`` N) of the registry entries
    that match, numbered as a store of them all would number them. ``keep`` filters further,
    after numbering, so an entry's index is the same under every filter.

    falyx's executions keep falyx's indices; in a file that has any, the other entries take
    none (as in the process that wrote it). Otherwise entries are numbered in completion
    order: besides the rows shown this keeps the start and end of each such entry in two
    arrays (16 bytes an entry, nothing for the garbage collector to walk); when the file is in
    completion order, as files usually are, an entry's index is simply its number.
    """
    status = _status_filter(status)
    if last_result:  # falyx checks it first: no other argument applies
        name, slowest = "", None
    ends, starts = array("Q"), array("Q")
    in_order, last_end, last_start = True, -1, 0
    # (key kept by, entry read, number among the unnumbered or falyx's index, execution)
    rows: list[tuple[int, int, int, Execution]] = []
    bound = 1 if last_result else slowest if slowest is not None else (
        limit if limit and limit > 0 else None)
    read = named = matched = 0
    owned = False  # whether falyx numbered any entry
    for execution in executions:
        attributes = execution.attributes
        if not in_registry(attributes):
            continue
        read += 1
        end, start = execution.end_ns or 0, execution.start_ns
        number = own_index(attributes)
        if number is None:
            number = len(ends) << 1
            if end < last_end or (end == last_end and start > last_start):
                in_order = False
            last_end, last_start = end, start
            ends.append(end)
            starts.append(start)
        else:
            number, owned = number << 1 | 1, True
        if name and execution.name != name:
            continue
        named += 1
        if (execution.ignore_in_history if last_result
                else not render.keep(execution, status)) or (
                keep is not None and not keep(execution)):
            continue
        matched += 1
        key = (end - start << 40 | read) if slowest is not None else _completion(end, start, read)
        row = (key, read, number, execution)
        if bound is None or len(rows) < bound:
            heapq.heappush(rows, row)
        elif key > rows[0][0]:
            heapq.heapreplace(rows, row)
    rows.sort(key=lambda row: _completion(row[3].end_ns or 0, row[3].start_ns, row[1]))
    order = None if in_order or owned else sorted(
        _completion(ends[n], starts[n], n) for n in range(len(ends)))
    shown = []
    for _, _, number, execution in rows:
        if number & 1:  # falyx's own
            execution.index = number >> 1
        elif owned:
            execution.index = None
        else:  # rank among every unnumbered entry's completion order
            n = number >> 1
            execution.index = n if order is None else bisect.bisect_left(
                order, _completion(ends[n], starts[n], n))
        shown.append(execution)
    if last_result:
        return Selection(result=shown[0]) if shown else Selection(missing=_NO_LAST_RESULT)
    if name and not named:
        return Selection(missing=_no_name(name))
    hidden = matched - len(shown) if slowest is None else 0
    return Selection(title=_title(name), executions=shown, hidden=hidden)


class ExecutionRegistry(StoreView):
    """falyx's ``ExecutionRegistry``, computed from spans (of a store, or of whatever store a
    function returns at each call).

    Args:
        store: The store to read, or a function returning it.
        why_empty: Says why nothing could be recorded, shown instead of an empty table.
        recorder: Makes a finished span of a context and returns its span id (``record``);
            None for a registry that only reads (a trace file's).
    """

    def __init__(self, store: ExecutionStore | Callable[[], ExecutionStore],
                 why_empty: Callable[[], str | None] | None = None,
                 recorder: Callable[[Any], int] | None = None) -> None:
        super().__init__(store)
        self._why_empty = why_empty
        self._recorder = recorder

    def record(self, context: Any) -> Execution | None:
        """Record a finished execution made elsewhere (falyx: ``ExecutionRegistry.record``).

        ``context`` needs a ``name`` and may have ``result``, ``exception``, ``args``,
        ``kwargs`` and ``duration`` (seconds). It becomes a span ending now, under the current
        span; its index is written back to ``context.index`` when that attribute can be set.
        Returns the stored execution, or None when tracing is not configured.

        Raises:
            TypeError: This registry only reads (a trace file's).
        """
        if self._recorder is None:
            raise TypeError("this registry only reads (a trace file's): record() is "
                            "otel_exec.registry's")
        stored = self.store.find(self._recorder(context))
        if stored is not None:
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                context.index = stored.index
        return stored

    def get_all(self) -> list[Execution]:
        """Every kept execution, in index order."""
        return list(self.store.entries())

    def get_by_name(self, name: str) -> list[Execution]:
        """Executions recorded under ``name`` (``[]`` when none)."""
        return [item for item in self.store.by_name(name) if item.in_registry]

    def get_latest(self) -> Execution:
        """The most recent execution; ``IndexError`` when there is none (as falyx)."""
        entries = self.store.entries()
        if not entries:
            raise IndexError("no executions recorded")
        return entries[-1]

    def get(self, index: int) -> Execution | None:
        """The execution with this index, if kept."""
        return self.store.get(index)

    def clear(self) -> None:
        """Forget every execution; indices keep counting up."""
        self.store.clear()

    def select(self, name: str = "", index: int | None = None,
               result_index: int | None = None, last_result: bool = False,
               status: str = "all", limit: int | None = None) -> Selection:
        """What ``summary`` (and ``otel-exec summary --json``) shows for these arguments,
        checked in falyx's order: ``last_result``, ``result_index``, ``name``, ``index``, then
        the whole history.

        Raises:
            ValueError: ``status`` is not ``all``, ``success`` or ``error``.
        """
        status = _status_filter(status)
        if last_result:
            for execution in reversed(self.get_all()):
                if not execution.ignore_in_history:
                    return Selection(result=execution)
            return Selection(missing=self._missing(_NO_LAST_RESULT))
        if result_index is not None and result_index >= 0:
            found = self.get(result_index)
            if found is None:
                return Selection(missing=f"No execution found for index {result_index}.")
            return Selection(result=found)
        if name:
            executions: list[Execution] = self.get_by_name(name)
            if not executions:
                return Selection(missing=_no_name(name))
            title = _title(name)
        elif index is not None and index >= 0:
            found = self.get(index)
            if found is None:
                return Selection(missing=f"No execution found for index {index}.")
            executions, title = [found], f"📊 Execution History for Index {index}"
        else:
            executions, title = self.get_all(), _title("")
            if not executions and (reason := self._missing(None)) is not None:
                return Selection(missing=reason)
        shown = [item for item in executions if render.keep(item, status)]
        hidden = 0
        if limit is not None and 0 < limit < len(shown):
            hidden, shown = len(shown) - limit, shown[-limit:]
        return Selection(title=title, executions=shown, hidden=hidden)

    def _missing(self, message: str | None) -> str | None:
        """``message``, or why nothing could be recorded when that is the reason."""
        reason = self._why_empty() if self._why_empty is not None and not self.get_all() else None
        return message if reason is None else f"No executions recorded: {reason}."

    def summary(self, name: str = "", index: int | None = None,
                result_index: int | None = None, clear: bool = False,
                last_result: bool = False, status: str = "all",
                console: Console | None = None, limit: int | None = None) -> None:
        """Print the execution history, as falyx's ``history`` command does.

        Arguments are checked in falyx's order: ``clear``, ``last_result``, ``result_index``,
        ``name``, ``index``, then the whole history (see ``select``).

        Args:
            name: Only executions with this name.
            index: Only the execution with this index.
            result_index: Print that execution's result (or traceback) instead of a table.
            clear: Clear the history and say so.
            last_result: Print the newest result not marked ``ignore_in_history``.
            status: ``all``, ``success`` or ``error``.
            console: Where to print; a default Rich console when None.
            limit: Show only the newest ``limit`` rows of the table (a caption says so).
        """
        out = console or Console()
        if clear:
            self.select(status=status)  # the same argument checks as every other request
            self.store.clear()
            out.print("[green]✅ Execution history cleared.")
            return
        selection = self.select(name, index, result_index, last_result, status, limit)
        if selection.missing is not None:
            out.print(Text("❌ " + selection.missing, style="red"))
        elif selection.result is not None:
            out.print(render.result_view(selection.result))
        else:
            store = self.store
            out.print(render.summary_table(selection.executions, title=selection.title,
                                           evicted=store.evicted, max_spans=store.max_spans,
                                           hidden=selection.hidden))
