"""The in-process copy of every span.

``ExecutionSpanProcessor`` feeds a bounded, indexed, thread-safe ``ExecutionStore``.

Every view (registry, FSM history, routilux tracker, CLI, pytest fixture) reads a store, so they
all agree with each other and with what was exported.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import logging
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor

from otel_exec import _context, semconv
from otel_exec._sdk.readable import started
from otel_exec._sdk.span_path import LEAN
from otel_exec.execution import MISSING, OUTCOME_ATTRIBUTE, Execution, Outcome
from otel_exec.rows import (
    NEXT_INDEX,
    ROW_INDEX,
    ROW_NAME,
    ROW_PARENT_ID,
    ROW_SPAN_ID,
    ROW_TRACE_ID,
    Row,
    registry_index,
    span_row,
)

if TYPE_CHECKING:
    from types import TracebackType

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

_logger = logging.getLogger(__name__)

DEFAULT_MAX_SPANS = 10_000
DEFAULT_MAX_KEPT_VALUES = DEFAULT_MAX_SPANS
DEFAULT_MAX_KEPT_BYTES = 64 * 1024 * 1024
CHUNK = 1024
"""Rows per chunk of a store (see ``ExecutionStore``)."""
MOST_UNINDEXED = 16_384
"""Rows at most waiting to be indexed: a store that keeps more indexes the older ones as it
records, so a first read never catches up more than this."""
MOST_WAITING = 16_384
"""The largest store whose finished spans wait to be made rows (see ``ExecutionStore``). A
larger one makes each span's row as it ends: a span waiting is the garbage collector's to
walk, and one that outlives a few collections is walked again in every full collection until
it goes, while a store of a million keeps only rows, which the collector stops tracking."""

Listener = Callable[[Execution], None]


_STORES: weakref.WeakSet[ExecutionStore] = weakref.WeakSet()
"""Every live store, for the one at-fork hook (a store no longer used can be collected)."""


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _notify(listeners: tuple[Listener, ...], execution: Execution) -> None:
    for listener in listeners:
        try:
            listener(execution)
        except Exception:
            _logger.exception("otel_exec: store listener %r failed", listener)


def _span_id(value: int | str) -> int:
    return value if isinstance(value, int) else int(value, 16)


class ExecutionStore:
    """A bounded, thread-safe, indexed store of executions.

    Every finished span is kept (the tree and the framework views read them all); the
    executions that belong in a registry (``Execution.in_registry``: made by an otel_exec
    instrumentation and recorded by their framework) are numbered in completion order
    (children before parents), with indices never reused and surviving ``clear()``. A falyx
    execution keeps falyx's own index, and while falyx is instrumented (it numbers its own)
    the other entries take none, so the registry's indices are exactly falyx's whatever else
    runs. When ``max_spans`` is
    reached the oldest execution is dropped, with all its index entries, and counted in
    ``evicted``.

    The real objects of an execution (result, exception, args, kwargs: what ``Execution.result``
    and ``.exception`` return in-process) are kept for the newest ``max_kept_values`` executions
    and within about ``max_kept_bytes`` (a shallow estimate); older executions answer with the
    bounded texts their spans recorded, as an execution loaded from a file does.

    Layout, so that a store of a million executions costs the garbage collector almost
    nothing: each execution is a row (an exact tuple of plain values, see ``span_row``) with a
    sequence number; rows are kept in tuples of ``CHUNK`` (the newest in a short list), so the
    collector, which stops tracking rows and then those tuples, walks one entry per chunk at
    most; every index maps a key to sequence numbers (an int, or an ``array`` of them, which
    holds no references). The indexes by span, name, trace and parent are brought up to date
    when one of them is read, so recording a span does not pay for them. Nor does it pay for
    its row: a finished span is numbered and waits, as it is (the SDK's own ``ReadableSpan``),
    until a read makes it a row (in a store of more than ``MOST_WAITING``, at once); one
    evicted before that is dropped as it is.

    Args:
        max_spans: How many finished executions to keep.
        max_kept_values: How many executions keep their real objects.
        max_kept_bytes: About how many bytes of real objects are kept at most.
        numbers_others: Whether executions their framework did not number take indices; None
            (the default): unless a framework numbers its own now.
    """

    def __init__(self, max_spans: int = DEFAULT_MAX_SPANS,
                 max_kept_values: int = DEFAULT_MAX_KEPT_VALUES,
                 max_kept_bytes: int = DEFAULT_MAX_KEPT_BYTES,
                 numbers_others: bool | None = None) -> None:
        self._check_max_spans(max_spans)
        self._max_spans = max_spans
        self._most_waiting = _most_waiting(max_spans)
        self.max_kept_values = max_kept_values
        self.max_kept_bytes = max_kept_bytes
        self._outcomes: dict[int, Outcome] = {}  # span id -> real objects, newest only
        self._kept: deque[tuple[int, int]] = deque()  # (span id, size), oldest first
        self._kept_bytes = 0
        self._lock = threading.Lock()
        self._chunks: dict[int, tuple[Row | None, ...]] = {}  # seq // CHUNK -> full chunk
        self._tail: list[Row | None] = []  # the newest rows, fewer than CHUNK
        self._first = 0  # the oldest kept execution's sequence number
        self._rows_end = 0  # the first without a row yet (those after it wait in _waiting)
        self._next = 0  # the next execution's
        self._waiting: deque[tuple[ReadableSpan, int, int | None]] = deque()  # span, id, index
        self._entries: dict[int, int] = {}  # registry index (-1 - seq unnumbered) -> seq
        self._indexed = 0  # rows from here on are not in the four indexes below yet
        self._by_span: dict[int, int] = {}
        self._by_name: dict[str, _Slot] = {}
        self._by_trace: dict[int, _Slot] = {}
        self._by_parent: dict[int, _Slot] = {}
        self._running: dict[int, Span] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._next_index = 0
        self._numbers_others = numbers_others
        self._evicted = 0
        _STORES.add(self)

    @staticmethod
    def _check_max_spans(max_spans: int) -> None:
        if not isinstance(max_spans, int) or isinstance(max_spans, bool) or max_spans < 1:
            raise ValueError("max_spans must be a positive integer.")

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    # writing (called by ExecutionSpanProcessor) ---------------------------------------------
    def track(self, span: Span, span_id: int | None = None) -> Span | None:
        """Remember a span that has started (its id, if read already), so running executions
        can be shown; the span forgotten to make room, if any.

        Bounded by ``max_spans`` too: spans that never end (a leak in the program) cannot grow
        it forever; the oldest is forgotten (its end, if it ever comes, is still stored when
        its processor keeps every span of its trace).
        """
        if span_id is None:
            span_id = started(span)[1]
            if span_id is None:
                return None
        running = self._running  # no lock: one dict operation each time
        running[span_id] = span
        if len(running) > self._max_spans:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # a race
                return running.pop(next(iter(running)))
        return None

    def record(self, span: ReadableSpan, span_id: int | None = None, live: Span | None = None,
               attributes: Mapping[str, Any] | None = None) -> None:
        """Store a finished span as an execution and give it the next index (one lock: this
        runs in every ``on_end``); its row is made when the store is read. ``span_id``,
        ``live`` (the span as tracked, taken out of the running ones) and ``attributes`` as
        ``on_end`` read them, or none of them (read here)."""
        if span_id is None or attributes is None:
            _, found, _, attributes = started(span)
            span_id = found or 0  # 0: no context (and no span has that id)
            live = self._running.pop(span_id, None)
        lock = self._lock
        lock.acquire()
        try:
            waiting = self._waiting
            waiting.append((span, span_id, self._number(attributes)))
            self._next += 1
            if self._next - self._first > self._max_spans:  # one more than kept
                self._evict_oldest()  # first: the real objects it releases make room
            if live is not None:
                outcome = getattr(live, OUTCOME_ATTRIBUTE, None)  # handed off by the wrapper
                if outcome is not None:
                    self._keep(span_id, outcome)
            listeners = self._listeners
            made = (self._make_rows() if listeners or len(waiting) > self._most_waiting
                    else ())
        finally:
            lock.release()
        if listeners:
            self._tell(listeners, made)

    def add(self, execution: Execution) -> None:
        """Insert a finished execution (numbering a registry entry); evict the oldest beyond
        ``max_spans``."""
        row = execution.row[:ROW_INDEX]
        with self._lock:
            made = self._make_rows()  # the spans that ended before it first
            row = (*row, self._number(execution.attributes))
            self._next += 1
            self._append_row(row)
            self._evict_beyond()
            if execution._outcome is not None:
                self._keep(row[ROW_SPAN_ID], execution._outcome)
            listeners = self._listeners
        if listeners:
            self._tell(listeners, [*made, row])

    def _tell(self, listeners: tuple[Listener, ...], rows: Iterable[Row]) -> None:
        """Tell the listeners of each new execution (outside the lock)."""
        for row in rows:
            _notify(listeners, Execution.from_row(row, self._outcomes.get(row[ROW_SPAN_ID])))

    def _make_rows(self) -> list[Row]:
        """Make the rows of the waiting spans, in the order they ended (under the lock); the
        rows made."""
        waiting = self._waiting
        made = []
        for _ in range(len(waiting)):
            span, span_id, index = waiting.popleft()
            try:
                row = span_row(span, index)
            except Exception:  # a span nothing can read: its place is kept, and said
                _logger.exception("otel_exec: could not read span %r", span)
                row = ("<unreadable span>", 0, span_id, None, 0, 0, (), (), (), 0, None, "",
                       None, index)
            self._append_row(row)
            made.append(row)
        return made

    def _append_row(self, row: Row) -> None:
        """Put a numbered row after the others (under the lock)."""
        seq = self._rows_end
        self._rows_end = seq + 1
        tail = self._tail
        tail.append(row)
        if len(tail) == CHUNK:
            self._chunks[seq // CHUNK] = tuple(tail)
            self._tail = []
        index = row[ROW_INDEX]
        if index is not None:
            self._entries[index if index >= 0 else -1 - seq] = seq
        if seq - self._indexed >= MOST_UNINDEXED:
            self._index(seq + 1 - MOST_UNINDEXED)

    def _evict_beyond(self) -> None:
        """Evict the oldest executions beyond ``max_spans`` (under the lock)."""
        while self._next - self._first > self._max_spans:
            self._evict_oldest()

    def _number(self, attributes: Mapping[str, Any]) -> int | None:
        """The registry index of a new row with these attributes (under the lock)."""
        index = registry_index(attributes, self._numbers_others)
        if index == NEXT_INDEX:
            index = self._next_index
        if index is not None and index >= self._next_index:
            self._next_index = index + 1
        return index

    def _keep(self, span_id: int, outcome: Outcome) -> None:
        """Remember the real objects of an execution; release the oldest beyond the budget."""
        size = _estimated_size(outcome)
        self._outcomes[span_id] = outcome
        kept = self._kept
        kept.append((span_id, size))
        kept_bytes = self._kept_bytes = self._kept_bytes + size
        if len(kept) > self.max_kept_values or kept_bytes > self.max_kept_bytes:
            self._release_oldest()

    def _release_oldest(self) -> None:
        """Release the oldest real objects until the rest are within the budget."""
        kept = self._kept
        while kept and (len(kept) > self.max_kept_values
                        or self._kept_bytes > self.max_kept_bytes):
            released, released_size = kept.popleft()
            self._outcomes.pop(released, None)
            self._kept_bytes -= released_size

    def _evict_oldest(self) -> None:
        """Evict the oldest execution kept (under the lock), and its real objects if they
        are still kept: they are then the oldest kept, as they go no later than it."""
        seq = self._first
        self._first = seq + 1
        self._evicted += 1
        if seq < self._rows_end:
            span_id = self._evict_row(seq)
        else:  # no row yet: dropped as it is
            span_id = self._waiting.popleft()[1]
            self._rows_end = seq + 1
            tail = self._tail  # every row in it evicted: its place kept, so chunks stay aligned
            tail.append(None)
            if len(tail) == CHUNK:
                self._tail = []
            if seq >= self._indexed:
                self._indexed = seq + 1
        kept = self._kept
        if kept and kept[0][0] == span_id:
            self._kept_bytes -= kept.popleft()[1]
            self._outcomes.pop(span_id, None)

    def _evict_row(self, seq: int) -> int:
        """Take the oldest row (``seq``) out of the rows and the indexes; its span id."""
        # The oldest execution overall is also the oldest in each of its secondary indexes.
        tail = self._tail
        tail_start = self._rows_end - len(tail)
        oldest: Row
        if seq >= tail_start:
            oldest = tail[seq - tail_start]  # type: ignore[assignment]  # a kept row
            tail[seq - tail_start] = None  # released now (a chunk goes when it is all old)
        else:
            oldest = self._chunks[seq // CHUNK][seq % CHUNK]  # type: ignore[assignment]
            if (seq + 1) % CHUNK == 0:
                del self._chunks[seq // CHUNK]
        span_id: int = oldest[ROW_SPAN_ID]
        index = oldest[ROW_INDEX]
        if index is not None:
            key = index if index >= 0 else -1 - seq
            if self._entries.get(key) == seq:  # not taken over by a later entry's own index
                del self._entries[key]
        if seq < self._indexed:  # in the indexes by span, name, trace and parent
            if self._by_span.get(span_id) == seq:
                del self._by_span[span_id]
            _pop_front(self._by_name, oldest[ROW_NAME])
            _pop_front(self._by_trace, oldest[ROW_TRACE_ID])
            if oldest[ROW_PARENT_ID] is not None:
                _pop_front(self._by_parent, oldest[ROW_PARENT_ID])
        else:  # never indexed: the indexes start after it
            self._indexed = seq + 1
        return span_id

    def _index(self, end: int | None = None) -> None:
        """Add the rows recorded since the last read (up to ``end``) to the indexes by span,
        name, trace and parent (under the lock). They are built when read, not when a span is
        recorded: most rows are evicted before anything looks them up. A store keeping more
        than ``MOST_UNINDEXED`` rows indexes its older ones as it records."""
        end = self._rows_end if end is None else end
        for seq in range(self._indexed, end):
            row = self._row(seq)
            self._by_span[row[ROW_SPAN_ID]] = seq
            _push(self._by_name, row[ROW_NAME], seq)
            _push(self._by_trace, row[ROW_TRACE_ID], seq)
            if row[ROW_PARENT_ID] is not None:
                _push(self._by_parent, row[ROW_PARENT_ID], seq)
        self._indexed = end

    def _row(self, seq: int) -> Row:
        tail_start = self._rows_end - len(self._tail)
        row = self._tail[seq - tail_start] if seq >= tail_start else (
            self._chunks[seq // CHUNK][seq % CHUNK])
        return row  # type: ignore[return-value]  # a kept sequence number has its row

    def _execution(self, seq: int) -> Execution:
        row = self._row(seq)
        return Execution.from_row(row, self._outcomes.get(row[ROW_SPAN_ID]))

    def _executions(self, seqs: Iterable[int]) -> tuple[Execution, ...]:
        return tuple([self._execution(seq) for seq in seqs])

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(execution)`` after each insert; returns a function that unsubscribes."""
        with self._lock:
            self._make_rows()  # those that ended before are not told
            self._listeners += (listener,)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(item for item in self._listeners if item is not listener)

        return unsubscribe

    def clear(self) -> None:
        """Forget every finished execution; indices keep counting up (as in falyx)."""
        with self._lock:
            self._make_rows()
            for index in (self._chunks, self._entries, self._kept, self._outcomes,
                          self._by_span, self._by_name, self._by_trace, self._by_parent):
                index.clear()
            self._tail = [None] * len(self._tail)  # keeps the next chunk aligned
            self._first = self._indexed = self._next
            self._kept_bytes = 0

    # reading (snapshots, never live containers) ---------------------------------------------
    @property
    def max_spans(self) -> int:
        """How many finished executions are kept."""
        return self._max_spans

    @max_spans.setter
    def max_spans(self, value: int) -> None:
        self._check_max_spans(value)
        with self._lock:
            self._max_spans = value
            self._most_waiting = _most_waiting(value)
            self._evict_beyond()

    @property
    def evicted(self) -> int:
        """How many executions were dropped to stay within ``max_spans``."""
        return self._evicted

    @property
    def recorded(self) -> int:
        """The next registry index: how many entries were ever numbered."""
        return self._next_index

    def __len__(self) -> int:
        return self._next - self._first

    def executions(self) -> tuple[Execution, ...]:
        """Every kept execution, in completion order."""
        with self._lock:
            self._make_rows()
            return self._executions(range(self._first, self._rows_end))

    def entries(self) -> tuple[Execution, ...]:
        """The kept registry entries (``Execution.in_registry``), in completion order (which
        is index order)."""
        with self._lock:
            self._make_rows()
            return self._executions(self._entries.values())

    def get(self, index: int) -> Execution | None:
        """The registry entry with this index, if kept."""
        if index < 0:
            return None
        with self._lock:
            self._make_rows()
            seq = self._entries.get(index)
            return None if seq is None else self._execution(seq)

    def latest(self) -> Execution | None:
        """The most recently finished execution."""
        with self._lock:
            self._make_rows()
            return (self._execution(self._rows_end - 1) if self._rows_end > self._first
                    else None)

    def by_name(self, name: str) -> tuple[Execution, ...]:
        """Executions with this name, in index order."""
        return self._snapshot(self._by_name, name)

    def by_trace(self, trace_id: int | str) -> tuple[Execution, ...]:
        """Finished executions of one trace (id as int or 32 hex digits), in index order."""
        return self._snapshot(self._by_trace, _span_id(trace_id))

    def children(self, span_id: int | str) -> tuple[Execution, ...]:
        """Finished executions whose parent is this span, in index order."""
        return self._snapshot(self._by_parent, _span_id(span_id))

    def find(self, span_id: int | str) -> Execution | None:
        """The finished execution of this span (id as int or 16 hex digits)."""
        with self._lock:
            self._make_rows()
            self._index()
            seq = self._by_span.get(_span_id(span_id))
            return None if seq is None else self._execution(seq)

    def trace_ids(self) -> tuple[str, ...]:
        """Ids of the traces with kept executions, oldest first."""
        with self._lock:
            self._make_rows()
            self._index()
            keys = tuple(self._by_trace)
        return tuple(f"{trace_id:032x}" for trace_id in keys)

    def running(self) -> tuple[Execution, ...]:
        """Executions that have started and not yet finished, oldest first."""
        spans = self._running.copy().values()  # one operation: no lock
        return tuple(Execution.from_span(span) for span in spans if span.end_time is None)

    def subtree(self, span_id: int | str) -> list[Execution]:
        """Every finished or running execution below this span, parents before children."""
        running_children: dict[int | None, list[Execution]] = {}
        for item in self.running():
            running_children.setdefault(item._parent_id, []).append(item)
        found: list[Execution] = []
        stack = [_span_id(span_id)]
        seen = set(stack)
        while stack:
            current = stack.pop()
            for child in (*self.children(current), *running_children.get(current, ())):
                if child._span_id not in seen:  # a parent cycle (a hostile file) ends here
                    seen.add(child._span_id)
                    found.append(child)
                    stack.append(child._span_id)
        return found

    def _snapshot(self, index: dict[Any, _Slot], key: Any) -> tuple[Execution, ...]:
        with self._lock:
            self._make_rows()
            self._index()
            found = index.get(key)
            if found is None:
                return ()
            if type(found) is int:
                return (self._execution(found),)
            return self._executions(found if type(found) is tuple
                                    else found.live())  # type: ignore[union-attr]


def _most_waiting(max_spans: int) -> int:
    """How many finished spans may wait to be made rows in a store of ``max_spans``."""
    return max_spans if max_spans <= MOST_WAITING else 0


_SMALL = frozenset({type(None), bool, int, float})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
_SAMPLE = 64


def _estimated_size(outcome: Outcome | None) -> int:
    """About how many bytes an execution's real objects hold: each object's own size, and its
    items' for a container (a sample of 64, scaled). Cheap, and never raises."""
    if outcome is None:
        return 0
    result, exception, kwargs = outcome.result, outcome.exception, outcome.kwargs
    try:
        return ((32 if type(result) in _SMALL else _size(result))
                + (32 if exception is None else _size(exception)) + _size(outcome.args)
                + (64 if type(kwargs) is dict and not kwargs else _size(kwargs)))
    except Exception:  # a hostile type (a metaclass whose __hash__ raises): a rough guess
        return 256


def _size(value: Any) -> int:
    """``_estimated_size`` of one value; the common ones (a number, a few numbers as
    arguments, nothing) costed inline, without a call per item."""
    kind = type(value)
    if kind in _SMALL:
        return 32
    if kind is tuple and len(value) <= _SAMPLE:
        for item in value:
            if type(item) not in _SMALL:
                break
        else:
            return 40 + 40 * len(value)
    if value is MISSING:
        return 0
    if kind is dict and not value:
        return 64
    direct = _direct(value, _DIRECT_DEPTH)
    if direct is not None:
        return direct
    total = 0
    try:  # isinstance reads ``__class__``, which a hostile value may make raise
        if isinstance(value, BaseException):  # its frames, and what it carries
            total += _FRAME_BYTES * _depth(value.__traceback__) + sys.getsizeof(value)
            value = (value.args, getattr(value, "__dict__", None))
        total += _walk(value)
    except Exception:
        total += 64
    return total


_DIRECT_DEPTH = 3
"""How deep ``_direct`` counts containers item by item."""
_DIRECT_ITEMS = 8
"""The most items of a container ``_direct`` counts one by one."""


def _direct(value: Any, depth: int) -> int | None:
    """What ``_walk`` gives for a small value (numbers, strings and containers of at most
    ``_DIRECT_ITEMS`` of them, ``depth`` deep: the arguments and results of most calls),
    counted without its bookkeeping (a call per container, none per number or string); None
    for any other value. Exact types only, so nothing of the program's runs."""
    kind = type(value)
    if kind in _SMALL:
        return 32
    if kind is str or kind is bytes:
        return sys.getsizeof(value)
    if not depth or (kind is not tuple and kind is not list and kind is not dict) or (
            len(value) > _DIRECT_ITEMS):
        return None
    getsizeof = sys.getsizeof
    total = getsizeof(value)
    if kind is dict:
        for key in value:
            if type(key) is not str:
                return None
            total += getsizeof(key)
        value = value.values()
    for item in value:
        kind = type(item)
        if kind in _SMALL:
            total += 32
        elif kind is str or kind is bytes:
            total += getsizeof(item)
        else:
            size = _direct(item, depth - 1)
            if size is None:
                return None
            total += size
    return total


_WALK = 256
"""Objects at most that one estimate looks at (containers within containers included)."""


def _walk(root: Any) -> int:
    """Bytes of ``root`` and what its containers hold, nested: each container's items
    sampled (``_SAMPLE``) and scaled to its length, at most ``_WALK`` objects looked into;
    past that, the rest count by their own size. Numbers and strings inside a container are
    counted where they are met (they hold nothing), so a small argument costs a few calls."""
    getsizeof = sys.getsizeof
    total = 0.0
    stack: list[tuple[Any, float]] = [(root, 1.0)]
    looked = 0
    while stack:
        item, scale = stack.pop()
        kind = type(item)
        if kind in _SMALL:
            total += 32 * scale
            continue
        total += getsizeof(item) * scale
        looked += 1
        if kind not in _CONTAINERS or not item or looked >= _WALK:
            continue
        size = len(item) * (2 if kind is dict else 1)
        if size <= _SAMPLE:
            members: list[Any] = [*item, *item.values()] if kind is dict else [*item]
        else:
            members = list(itertools.islice(
                itertools.chain(item.keys(), item.values()) if kind is dict else item, _SAMPLE))
        share = scale * size / len(members)
        for member in members:
            member_kind = type(member)
            if member_kind in _SMALL:
                total += 32 * share
            elif member_kind is str or member_kind is bytes:
                total += getsizeof(member) * share
                looked += 1
            else:
                stack.append((member, share))
    return int(total)


_FRAME_BYTES = 8192
"""What one traceback frame is taken to keep alive (its locals), for the byte budget."""


def _depth(traceback: TracebackType | None) -> int:
    depth = 0
    while traceback is not None and depth < 1000:
        depth += 1
        traceback = traceback.tb_next
    return depth


class _Bucket(array.array):  # type: ignore[type-arg]
    """Sequence numbers sharing a name, trace or parent, oldest first, in an ``array`` (no
    references for the garbage collector to walk).

    Eviction only ever removes the oldest entry, so it advances ``head`` instead of shifting
    the array, compacting once the dead prefix is half of it: O(1) amortized. A key with one
    entry (a trace of a single span, a unique name) holds the sequence number itself.
    """

    __slots__ = ("head",)
    head: int

    def __new__(cls) -> _Bucket:
        bucket: _Bucket = super().__new__(cls, "q")  # type: ignore[assignment]
        bucket.head = 0
        return bucket

    def live(self) -> array.array[int]:
        return self[self.head:]


_Slot = int | tuple[int, ...] | _Bucket
"""What an index keeps for a key: one sequence number, a few in a tuple (which the garbage
collector stops tracking), or a bucket of them."""
_FEW = 16
"""The most sequence numbers a key keeps in a tuple (a longer tuple would be slow to grow)."""


def _push(index: dict[Any, _Slot], key: Any, seq: int) -> None:
    found = index.get(key)
    if found is None:
        index[key] = seq
    elif type(found) is int:
        index[key] = (found, seq)
    elif type(found) is tuple:
        if len(found) < _FEW:
            index[key] = (*found, seq)
        else:
            bucket = index[key] = _Bucket()
            bucket.extend(found)
            bucket.append(seq)
    else:
        found.append(seq)  # type: ignore[union-attr]


def _pop_front(index: dict[Any, _Slot], key: Any) -> None:
    found = index[key]
    if type(found) is int:
        del index[key]
    elif type(found) is tuple:
        index[key] = found[1] if len(found) == 2 else found[1:]
    else:
        bucket: _Bucket = found  # type: ignore[assignment]
        bucket.head += 1
        if bucket.head == len(bucket):
            del index[key]
        elif bucket.head >= 32 and bucket.head * 2 >= len(bucket):
            del bucket[:bucket.head]
            bucket.head = 0


def _in_execution(parent_context: Context | None) -> bool:
    """Whether a span starting in ``parent_context`` (None: the current context) starts
    inside an otel_exec execution (its context, or one made from it)."""
    context = _context.current() if parent_context is None else parent_context
    return context.get(_context.IN_EXECUTION) is True


def _with_run_attributes(span: Span, parent_context: Context | None) -> None:
    """Give a span another instrumentation started the run attributes around it (otel_exec's
    own spans start with them)."""
    attributes = span.attributes
    if attributes is not None and semconv.EXEC_FRAMEWORK in attributes:
        return
    run = _context.run_attributes(_context.current() if parent_context is None
                                  else parent_context)
    if run:
        span.set_attributes(run)


MAX_EXECUTION_TRACES = 65_536
"""Traces remembered as holding an otel_exec execution (the newest ones, at most)."""


class ExecutionSpanProcessor(SpanProcessor):
    """Feed an ``ExecutionStore`` from a TracerProvider: every otel_exec execution, and the
    spans of other instrumentations in the traces executions run in (a server span around a
    job, an HTTP call inside an action); a span of a trace without an execution is not kept
    and costs one lookup (``every_span=True`` keeps every span). Spans of other
    instrumentations also get the run attributes of ``otel_exec.attributes`` blocks around
    them.

    A span starting inside an execution otel_exec made is known by its context (marked by the
    execution, and copied into every task it spawns), or by its parent being tracked here; the
    traces remembered are those of the other executions, and of those with a parent from
    elsewhere (for the spans around them, which end after them): a root execution costs no
    lookup.

    ``on_start`` and ``on_end`` are called synchronously on the thread that starts or ends the
    span, therefore they must not block or throw an exception: they do O(1) work under one lock
    and log (never raise) if anything goes wrong.
    """

    def __init__(self, store: ExecutionStore, *, every_span: bool = False) -> None:
        self.store = store
        self.every_span = every_span
        self._traces: dict[int, None] = {}
        self._older_traces: dict[int, None] = {}
        self._shutdown = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            if _context.run_attributes_used:
                _with_run_attributes(span, parent_context)
            trace_id, span_id, parent, attributes = started(span)
            if semconv.EXEC_FRAMEWORK in attributes:  # an execution
                # one otel_exec made, as a root, under a span tracked here or inside another
                # execution, has the spans around it known; any other has its trace
                # remembered for them (they end after it)
                if not (getattr(type(span), LEAN, None) is not None
                        and (parent is None or parent[1] in self.store._running
                             or _in_execution(parent_context))):
                    self._remember(trace_id)
            elif not (self.every_span or trace_id in self._traces
                      or trace_id in self._older_traces
                      or (parent is not None and _in_execution(parent_context))):
                return  # another instrumentation's span, no execution in its trace
            if span_id is not None:
                forgotten = self.store.track(span, span_id)
                if forgotten is not None:  # its end is still kept
                    self._remember(started(forgotten)[0])
        except Exception:
            _logger.exception("otel_exec: could not track span %r", getattr(span, "name", span))

    def _remember(self, trace_id: int) -> None:
        """Remember a trace with an execution: the newest ``MAX_EXECUTION_TRACES`` at least
        (two generations of dicts, the older dropped when the newer is full)."""
        traces = self._traces
        traces[trace_id] = None
        if len(traces) >= MAX_EXECUTION_TRACES // 2:
            self._older_traces, self._traces = traces, {}

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        try:
            trace_id, found, _, attributes = started(span)  # the same fields at its end
            span_id = found or 0  # 0: no context (and no span has that id)
            live = self.store._running.pop(span_id, None)  # tracked when it started
            if (live is not None or self.every_span or trace_id in self._traces
                    or trace_id in self._older_traces):
                self.store.record(span, span_id, live, attributes)
        except Exception:
            _logger.exception("otel_exec: could not store span %r", getattr(span, "name", span))

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


