"""Reading trace files: several at once, plain or gzip or standard input, as a stream or all
in memory (parent cycles of a hostile file broken), and into a store."""

from __future__ import annotations

import gzip
import logging
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from otel_exec.execution_store import ExecutionStore
from otel_exec.rows import own_index
from otel_exec.trace_files.decode import MAX_LINE_BYTES, READ_CHUNK, TraceFileError, decode_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from otel_exec.execution import Execution


_logger = logging.getLogger(__name__)

@dataclass
class TraceData:
    """The spans of one or more trace files, and what was repaired while reading them."""

    executions: list[Execution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    older_traces: int = 0
    """Traces read but not held (``read_traces(most_traces=...)``: older than those held)."""


def check_regular(path: Path) -> None:
    """Raise unless ``path`` is a regular file that exists: never a FIFO or a device, which
    could block or never end.

    Raises:
        TraceFileError: It is missing, cannot be read, is a directory, a pipe or a device.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise TraceFileError(f"{path}: is a directory, not a trace file")
    if not stat.S_ISREG(info.st_mode):
        raise TraceFileError(f"{path}: is not a regular file (a pipe or a device); "
                             "use - to read standard input")


def _open(path: Path) -> BinaryIO:
    """The file to read: a regular file (gzip when it ends in .gz) or ``-`` for stdin; never a
    FIFO or a device, which could block or never end."""
    if str(path) == "-":
        return sys.stdin.buffer
    check_regular(path)
    try:
        raw: BinaryIO = path.open("rb")
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


MAX_INFLATION = 200
"""How many times its own size a ``.gz`` file may decompress to (trace files compress about
10 to 30 times; a gzip bomb, thousands), past ``MIN_INFLATION_LIMIT``."""
MIN_INFLATION_LIMIT = 256 * 1024 * 1024


def _inflation_limit(path: Path) -> int | None:
    """The most a ``.gz`` file may decompress to (None: not compressed)."""
    if path.suffix != ".gz":
        return None
    try:
        return max(MIN_INFLATION_LIMIT, MAX_INFLATION * path.stat().st_size)
    except OSError:
        return None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines, each at most ``MAX_LINE_BYTES``; a line that cannot be JSON fails at
    its first character, without being read whole; a ``.gz`` file stops at its inflation
    limit (a gzip bomb is an error, not an afternoon)."""
    stream = _open(path)
    limit = _inflation_limit(path)
    read = 0
    try:
        number = 0
        while True:
            try:
                line = stream.readline(READ_CHUNK)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise TraceFileError(f"{path}: cannot be read ({exc})") from None
            if not line:
                return
            read += len(line)
            if limit is not None and read > limit:
                raise TraceFileError(f"{path}: decompresses to more than {MAX_INFLATION} "
                                     "times its size (not a trace file: read no further)")
            number += 1
            stripped = line.lstrip()
            if not stripped:
                continue
            if not stripped.startswith(b"{"):
                found = stripped[:20].decode("utf-8", "replace").rstrip()
                raise TraceFileError(f"{path}:{number}: expected a JSON object (OTLP JSON "
                                     f"lines), found {found!r}")
            parts = [line]
            size = len(line)
            while not line.endswith(b"\n"):
                line = stream.readline(READ_CHUNK)
                if not line:
                    break
                size += len(line)
                read += len(line)
                if size > MAX_LINE_BYTES:
                    raise TraceFileError(f"{path}:{number}: line longer than "
                                         f"{MAX_LINE_BYTES // 1024 // 1024} MiB")
                parts.append(line)
            yield number, b"".join(parts)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def read_traces(*paths: str | Path, keep: Callable[[Execution], bool] | None = None,
                most_traces: int | None = None) -> TraceData:
    """Every span of the files (``-`` is stdin, ``.gz`` is gunzipped) that ``keep`` keeps, in
    completion order, with duplicate spans dropped and parent cycles broken (each said in
    ``notes``). Only the kept spans are held in memory: with ``most_traces``, only those of
    the newest traces (by their first span in the files; the others are counted in
    ``older_traces``).

    Raises:
        TraceFileError: A file is missing, empty, not a regular file, truncated, or not OTLP
            JSON traces; the message names the file, the line and what was expected there.
    """
    data = TraceData()
    kept = (execution for execution in iter_traces(*paths, notes=data.notes)
            if keep is None or keep(execution))
    if most_traces is None:
        data.executions = list(kept)
    else:
        data.executions, data.older_traces = _newest_traces(kept, most_traces)
    _break_cycles(data)
    data.executions.sort(key=lambda item: (item.end_ns or 0, -item.start_ns))  # children first
    return data


def _newest_traces(executions: Iterable[Execution], most: int) -> tuple[list[Execution], int]:
    """The spans of the newest ``most`` traces (a trace is as new as its first span), holding
    no more than those at any time; and how many older traces were left out."""
    traces: dict[int, list[Execution]] = {}
    older: set[int] = set()
    for execution in executions:
        trace = execution._trace_id
        spans = traces.get(trace)
        if spans is None:
            if trace in older:
                continue
            spans = traces[trace] = []
            if len(traces) > most:
                oldest = next(iter(traces))
                del traces[oldest]
                older.add(oldest)
        spans.append(execution)
    return [execution for spans in traces.values() for execution in spans], len(older)


def iter_traces(*paths: str | Path, notes: list[str] | None = None) -> Iterator[Execution]:
    """The spans of the files one line at a time, in file order, duplicates (the same trace
    and span id as an earlier span, as in ``cat f f > g``) left out and counted in ``notes``:
    what a command that aggregates (``stats``) reads without holding every span.

    Raises:
        TraceFileError: As ``read_traces``.
    """
    seen: set[int] = set()
    duplicates = 0
    for path in map(Path, paths):
        empty = True
        for number, line in _lines(path):
            empty = False
            for execution in decode_line(line, f"{path}:{number}"):
                key = execution._trace_id << 64 | execution._span_id
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                yield execution
        if empty:
            raise TraceFileError(f"{path}: is empty; expected OTLP JSON lines")
    if duplicates and notes is not None:
        notes.append(f"{duplicates} duplicate span(s) ignored (same trace and span id as an "
                     "earlier one)")


def _break_cycles(data: TraceData) -> None:
    """Make a span whose parent chain comes back to itself a root (the cycle's earliest span),
    so every view walks a tree."""
    by_span = {execution._span_id: execution for execution in data.executions}
    state: dict[int, int] = {}  # 1: on the current walk, 2: known to reach a root
    broken = 0
    for execution in data.executions:
        walk = []
        current: Execution | None = execution
        while current is not None and state.get(current._span_id) is None:
            state[current._span_id] = 1
            walk.append(current)
            parent = current._parent_id
            current = by_span.get(parent) if parent is not None else None
        if current is not None and state.get(current._span_id) == 1:
            cycle = walk[walk.index(current):]
            earliest = min(cycle, key=lambda item: item.start_ns)
            earliest._parent_id = None
            broken += 1
        for item in walk:
            state[item._span_id] = 2
    if broken:
        data.notes.append(f"{broken} parent cycle(s) broken (a span whose ancestors lead back "
                          "to it is shown as a root)")


def read(path: str | Path) -> list[Execution]:
    """Every span in an OTLP JSON lines file, in completion order (see ``read_traces``)."""
    return read_traces(path).executions


def store_of(executions: Sequence[Execution]) -> ExecutionStore:
    """A new store holding ``executions``, numbered in the order given (falyx's keeping
    falyx's indices; where there are any, they are the only ones, as in the process)."""
    others = not any(own_index(execution.attributes) is not None for execution in executions)
    store = ExecutionStore(max_spans=max(len(executions), 1), numbers_others=others)
    for execution in executions:
        store.add(execution)
    return store


def load(path: str | Path) -> ExecutionStore:
    """A new store holding every span of the file, numbered in completion order."""
    return store_of(read(path))
