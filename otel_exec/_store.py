"""The in-process copy of every span.

``ExecutionSpanProcessor`` feeds a bounded, indexed, thread-safe ``ExecutionStore``.

Every view (registry, FSM history, routilux tracker, CLI, pytest fixture) reads a store, so they
all agree with each other and with what was exported.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor

from otel_exec.execution import MISSING, Execution, Outcome, outcome_of

if TYPE_CHECKING:
    from types import TracebackType

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

_logger = logging.getLogger(__name__)

DEFAULT_MAX_SPANS = 10_000
DEFAULT_MAX_KEPT_VALUES = DEFAULT_MAX_SPANS
DEFAULT_MAX_KEPT_BYTES = 64 * 1024 * 1024

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
    (children before parents, as falyx numbers its registry), with indices never reused and
    surviving ``clear()``, so a falyx program's indices are falyx's own. When ``max_spans`` is
    reached the oldest execution is dropped, with all its index entries, and counted in
    ``evicted``.

    The real objects of an execution (result, exception, args, kwargs: what ``Execution.result``
    and ``.exception`` return in-process) are kept for the newest ``max_kept_values`` executions
    and within about ``max_kept_bytes`` (a shallow estimate); older executions answer with the
    bounded texts their spans recorded, as an execution loaded from a file does.

    Args:
        max_spans: How many finished executions to keep.
        max_kept_values: How many executions keep their real objects.
        max_kept_bytes: About how many bytes of real objects are kept at most.
    """

    def __init__(self, max_spans: int = DEFAULT_MAX_SPANS,
                 max_kept_values: int = DEFAULT_MAX_KEPT_VALUES,
                 max_kept_bytes: int = DEFAULT_MAX_KEPT_BYTES) -> None:
        self._check_max_spans(max_spans)
        self._max_spans = max_spans
        self.max_kept_values = max_kept_values
        self.max_kept_bytes = max_kept_bytes
        self._kept: deque[tuple[Execution, int]] = deque()
        self._kept_bytes = 0
        self._lock = threading.Lock()
        self._order: deque[Execution] = deque()
        self._entries: deque[Execution] = deque()
        self._by_span: dict[int, Execution] = {}
        self._by_name: dict[str, _Slot] = {}
        self._by_trace: dict[int, _Slot] = {}
        self._by_parent: dict[int, _Slot] = {}
        self._running: dict[int, Span] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._next_index = 0
        self._evicted = 0
        _STORES.add(self)

    @staticmethod
    def _check_max_spans(max_spans: int) -> None:
        if not isinstance(max_spans, int) or isinstance(max_spans, bool) or max_spans < 1:
            raise ValueError("max_spans must be a positive integer.")

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    # writing (called by ExecutionSpanProcessor) ---------------------------------------------
    def track(self, span: Span) -> None:
        """Remember a span that has started, so running executions can be shown.

        Bounded by ``max_spans`` too: spans that never end (a leak in the program) cannot grow
        it forever; the oldest is forgotten (its end, if it ever comes, is still stored).
        """
        context = span.context
        if context is not None:
            with self._lock:
                running = self._running
                running[context.span_id] = span
                if len(running) > self._max_spans:
                    del running[next(iter(running))]

    def record(self, span: ReadableSpan) -> Execution:
        """Store a finished span as an execution and give it the next index (one lock: this
        runs in every ``on_end``)."""
        context = span.context
        with self._lock:
            live = self._running.pop(context.span_id, None) if context is not None else None
            execution = Execution.from_span(span, outcome=outcome_of(live))
            listeners = self._insert(execution)
        _notify(listeners, execution)
        return execution

    def add(self, execution: Execution) -> None:
        """Insert a finished execution (numbering a registry entry); evict the oldest beyond
        ``max_spans``."""
        with self._lock:
            listeners = self._insert(execution)
        _notify(listeners, execution)

    def _insert(self, execution: Execution) -> tuple[Listener, ...]:
        """``add`` under the lock; returns the listeners to tell."""
        if execution.in_registry:
            execution.index = self._next_index
            self._next_index += 1
            self._entries.append(execution)
        else:
            execution.index = None
        self._order.append(execution)
        if execution._outcome is not None:
            self._keep(execution)
        self._by_span[execution._span_id] = execution
        _push(self._by_name, execution.name, execution)
        _push(self._by_trace, execution._trace_id, execution)
        if execution._parent_id is not None:
            _push(self._by_parent, execution._parent_id, execution)
        while len(self._order) > self._max_spans:
            self._evict_oldest()
        return self._listeners

    def _keep(self, execution: Execution) -> None:
        """Remember the real objects of ``execution``; release the oldest beyond the budget."""
        size = _estimated_size(execution._outcome)
        self._kept.append((execution, size))
        self._kept_bytes += size
        while self._kept and (len(self._kept) > self.max_kept_values
                              or self._kept_bytes > self.max_kept_bytes):
            released, released_size = self._kept.popleft()
            released._outcome = None
            self._kept_bytes -= released_size

    def _evict_oldest(self) -> None:
        # The oldest execution overall is also the oldest in each of its secondary indexes.
        oldest = self._order.popleft()
        if self._entries and self._entries[0] is oldest:
            self._entries.popleft()
        if self._kept and self._kept[0][0] is oldest:
            self._kept_bytes -= self._kept.popleft()[1]
        if self._by_span.get(oldest._span_id) is oldest:
            del self._by_span[oldest._span_id]
        _pop_front(self._by_name, oldest.name)
        _pop_front(self._by_trace, oldest._trace_id)
        if oldest._parent_id is not None:
            _pop_front(self._by_parent, oldest._parent_id)
        self._evicted += 1

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(execution)`` after each insert; returns a function that unsubscribes."""
        with self._lock:
            self._listeners += (listener,)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(item for item in self._listeners if item is not listener)

        return unsubscribe

    def clear(self) -> None:
        """Forget every finished execution; indices keep counting up (as in falyx)."""
        with self._lock:
            for index in (self._order, self._entries, self._kept, self._by_span, self._by_name,
                          self._by_trace, self._by_parent):
                index.clear()
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
            while len(self._order) > value:
                self._evict_oldest()

    @property
    def evicted(self) -> int:
        """How many executions were dropped to stay within ``max_spans``."""
        return self._evicted

    @property
    def recorded(self) -> int:
        """How many registry entries were ever stored (the next index)."""
        return self._next_index

    def __len__(self) -> int:
        return len(self._order)

    def executions(self) -> tuple[Execution, ...]:
        """Every kept execution, in completion order."""
        with self._lock:
            return tuple(self._order)

    def entries(self) -> tuple[Execution, ...]:
        """The kept registry entries (``Execution.in_registry``), in index order."""
        with self._lock:
            return tuple(self._entries)

    def get(self, index: int) -> Execution | None:
        """The registry entry with this index, if kept."""
        with self._lock:
            # Kept indices are contiguous: each entry takes the next one, evictions and
            # clear() remove from the front only.
            if not self._entries:
                return None
            position = index - self._entries[0].index  # type: ignore[operator]
            return self._entries[position] if 0 <= position < len(self._entries) else None

    def latest(self) -> Execution | None:
        """The most recently finished execution."""
        with self._lock:
            return self._order[-1] if self._order else None

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
        return self._by_span.get(_span_id(span_id))

    def trace_ids(self) -> tuple[str, ...]:
        """Ids of the traces with kept executions, oldest first."""
        with self._lock:
            keys = tuple(self._by_trace)
        return tuple(f"{trace_id:032x}" for trace_id in keys)

    def running(self) -> tuple[Execution, ...]:
        """Executions that have started and not yet finished, oldest first."""
        with self._lock:
            spans = tuple(self._running.values())
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
            found = index.get(key)
            if found is None:
                return ()
            return (found,) if type(found) is Execution else found.live()  # type: ignore[union-attr]


_SMALL = frozenset({type(None), bool, int, float})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
_SAMPLE = 64


def _estimated_size(outcome: Outcome | None) -> int:
    """About how many bytes an execution's real objects hold: each object's own size, and its
    items' for a container (a sample of 64, scaled). Cheap, and never raises."""
    if outcome is None:
        return 0
    total = 0
    values: tuple[Any, ...] = (outcome.result, outcome.exception, outcome.args, outcome.kwargs)
    for value in values:
        kind = type(value)
        if kind in _SMALL:
            total += 32  # a number or None: the common result, costed without a call
            continue
        if kind is tuple and len(value) <= _SAMPLE and _SMALL.issuperset(map(type, value)):
            total += 40 + 40 * len(value)  # a few numbers as arguments: costed without a call
            continue
        if value is MISSING:
            continue
        if kind is dict and not value:
            total += 64
            continue
        if isinstance(value, BaseException):
            total += _FRAME_BYTES * _depth(value.__traceback__)  # frames keep their locals
        try:
            total += sys.getsizeof(value)
            if kind in _CONTAINERS and value:
                items = value.values() if kind is dict else value
                if len(value) > _SAMPLE:
                    items = list(itertools.islice(items, _SAMPLE))
                if _SMALL.issuperset(map(type, items)):  # numbers: no call per item
                    total += 32 * len(value)
                else:
                    total += sum(map(sys.getsizeof, items)) * len(value) // len(items)
        except Exception:
            total += 64
    return total


_FRAME_BYTES = 8192
"""What one traceback frame is taken to keep alive (its locals), for the byte budget."""


def _depth(traceback: TracebackType | None) -> int:
    depth = 0
    while traceback is not None and depth < 1000:
        depth += 1
        traceback = traceback.tb_next
    return depth


class _Bucket(list[Execution | None]):
    """Executions sharing a name, trace or parent, oldest first, in a plain list.

    Eviction only ever removes the oldest entry, so it clears that slot (the evicted execution
    is released at once) and advances ``head`` instead of shifting the list, compacting once the
    dead prefix is half the list: O(1) amortized. A key with one execution (a trace of a single
    span, a unique name) holds the execution itself, no list at all.
    """

    __slots__ = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.head = 0

    def live(self) -> tuple[Execution, ...]:
        return tuple(self[self.head:])  # type: ignore[arg-type]  # live slots are never None


_Slot = Execution | _Bucket
"""What an index keeps for a key: the one execution, or a bucket of them."""


def _push(index: dict[Any, _Slot], key: Any, execution: Execution) -> None:
    found = index.get(key)
    if found is None:
        index[key] = execution
        return
    if type(found) is Execution:
        bucket = _Bucket()
        bucket.append(found)
        index[key] = found = bucket
    found.append(execution)  # type: ignore[union-attr]


def _pop_front(index: dict[Any, _Slot], key: Any) -> None:
    found = index[key]
    if type(found) is Execution:
        del index[key]
        return
    bucket: _Bucket = found  # type: ignore[assignment]
    bucket[bucket.head] = None
    bucket.head += 1
    if bucket.head == len(bucket):
        del index[key]
    elif bucket.head >= 32 and bucket.head * 2 >= len(bucket):
        del bucket[:bucket.head]
        bucket.head = 0


class ExecutionSpanProcessor(SpanProcessor):
    """Feed every span of a TracerProvider into an ``ExecutionStore``.

    ``on_start`` and ``on_end`` are called synchronously on the thread that starts or ends the
    span, therefore they must not block or throw an exception: they do O(1) work under one lock
    and log (never raise) if anything goes wrong.
    """

    def __init__(self, store: ExecutionStore) -> None:
        self.store = store
        self._shutdown = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self.store.track(span)
        except Exception:
            _logger.exception("otel_exec: could not track span %r", getattr(span, "name", span))

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        try:
            self.store.record(span)
        except Exception:
            _logger.exception("otel_exec: could not store span %r", getattr(span, "name", span))

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


