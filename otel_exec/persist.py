"""Save and load executions as OTLP JSON lines, the format the OpenTelemetry Collector's file
exporter writes: one ``{"resourceSpans": [...]}`` object per line, hex trace and span ids,
nanosecond times as strings, ``AnyValue`` attributes.

```python
otel_exec.configure(file="traces.jsonl")     # every finished span appended, off the hot path
otel_exec.save("run.jsonl")                  # what the store holds now
store = otel_exec.load("run.jsonl")          # any view works on it, as in-process
```
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, StatusCode, TraceFlags

from otel_exec._store import ExecutionStore
from otel_exec.execution import Execution, own_index

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

LINE_SPANS = 1_000
"""Spans written per line by ``save`` (the collector writes one line per batch too)."""

_STATUS_CODES = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
_CODES_STATUS = {code: status for status, code in _STATUS_CODES.items()}


class TraceFileError(ValueError):
    """A trace file that cannot be read, with the file and line that says why."""


# encoding -------------------------------------------------------------------------------------
def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    if isinstance(value, bytes):
        return {"bytesValue": value.hex()}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def encode_span(execution: Execution) -> dict[str, Any]:
    """One execution as an OTLP JSON span."""
    span: dict[str, Any] = {
        "traceId": execution.trace_id, "spanId": execution.span_id, "name": execution.name,
        "kind": 1, "startTimeUnixNano": str(execution.start_ns),
        "endTimeUnixNano": str(execution.end_ns or execution.start_ns),
        "attributes": _attributes(execution.attributes),
        "status": {"code": _STATUS_CODES[execution._status_code]},
    }
    if execution.parent_span_id is not None:
        span["parentSpanId"] = execution.parent_span_id
    if execution.status_description:
        span["status"]["message"] = execution.status_description
    if execution.events:
        span["events"] = [{"timeUnixNano": str(event.timestamp), "name": event.name,
                           "attributes": _attributes(event.attributes)}
                          for event in execution.events]
    if execution.links:
        span["links"] = [{"traceId": f"{link.context.trace_id:032x}",
                          "spanId": f"{link.context.span_id:016x}",
                          "attributes": _attributes(link.attributes)}
                         for link in execution.links]
    return span


def encode_line(executions: Iterable[Execution],
                resource: Mapping[str, Any] | None = None) -> str:
    """One OTLP JSON line: the executions grouped by instrumentation scope."""
    scopes: dict[str, list[dict[str, Any]]] = {}
    for execution in executions:
        scopes.setdefault(execution.scope, []).append(encode_span(execution))
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": _attributes(resource)},
        "scopeSpans": [{"scope": {"name": name}, "spans": spans}
                       for name, spans in scopes.items()],
    }]}, separators=(",", ":"), default=str)


def save(path: str | Path, executions: Sequence[Execution],
         resource: Mapping[str, Any] | None = None) -> int:
    """Write ``executions`` (finished ones) to ``path``; returns how many were written."""
    finished = [item for item in executions if item.end_ns is not None]
    with Path(path).open("w", encoding="utf-8") as out:
        for start in range(0, len(finished), LINE_SPANS):
            out.write(encode_line(finished[start:start + LINE_SPANS], resource) + "\n")
    return len(finished)


class FileSpanExporter(SpanExporter):
    """Append finished spans to a file as OTLP JSON lines (one line per export batch).

    Use behind a ``BatchSpanProcessor`` so the file I/O happens off the program's threads.

    Raises:
        OSError: The file cannot be opened for appending (the message names the path).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self.lost_spans = 0
        """Spans of batches that could not be written (the first failure is logged)."""
        try:
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot write the trace file {str(self.path)!r}: "
                                       f"{exc.strerror or exc}") from None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        resource = dict(spans[0].resource.attributes) if spans[0].resource else None
        line = encode_line((Execution.from_span(span) for span in spans), resource)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            if not self.lost_spans:
                _logger.error("otel_exec: could not write %d span(s) to the trace file %r: %s "
                              "(later failures are only counted)", len(spans), str(self.path),
                              exc.strerror or exc)
            self.lost_spans += len(spans)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# decoding -------------------------------------------------------------------------------------
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line read (the collector writes one batch per line, a few MB at most)."""
MAX_DEPTH = 32
"""Deepest nesting of arrays and key-value lists inside an attribute value."""
MAX_VALUE_CHARS = 65_536
"""Longest text an attribute value decodes to (longer text ends in ``...``)."""
_CHUNK = 1024 * 1024
_MAX_NS = 2**64 - 1


_JSON_REASONS = {"depth limit exceeded": "nested too deeply",
                 "str is not valid UTF-8": "not UTF-8 text"}
"""orjson's words for a line that is JSON-like but cannot be read, in the words of this module."""


class _Bad(Exception):
    """What is wrong with one span, before the file and line are known."""


def _decode_value(value: object, depth: int = 0) -> Any:
    if not isinstance(value, dict):
        raise _Bad(f"an attribute value must be an object, not {type(value).__name__}")
    if depth > MAX_DEPTH:
        raise _Bad(f"attribute values nested deeper than {MAX_DEPTH} levels")
    if "stringValue" in value:
        return _bounded(_typed(value["stringValue"], str, "stringValue"))
    if "intValue" in value:
        return _integer(value["intValue"], "intValue")
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, bool) or not isinstance(number, (int, float, str)):
            raise _Bad("doubleValue must be a number")
        try:
            return float(number)
        except ValueError:
            raise _Bad(f"doubleValue {str(number)[:20]!r} is not a number") from None
    if "boolValue" in value:
        return _typed(value["boolValue"], bool, "boolValue")
    if "arrayValue" in value:
        items = _typed(value["arrayValue"], dict, "arrayValue").get("values") or []
        return tuple(_decode_value(item, depth + 1) for item in _typed(items, list, "values"))
    if "bytesValue" in value:
        return _bounded(_typed(value["bytesValue"], str, "bytesValue"))
    if "kvlistValue" in value:
        items = _typed(value["kvlistValue"], dict, "kvlistValue").get("values") or []
        return {str(_typed(item, dict, "a key-value").get("key", "")):
                _decode_value(item.get("value", {}), depth + 1)
                for item in _typed(items, list, "values")}
    return None


def _typed(value: Any, kind: type, what: str) -> Any:
    if type(value) is kind:  # the common case, first
        return value
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _Bad(f"{what} must be a JSON {_JSON_NAMES[kind]}, not {_json_type(value)}")
    return value


_JSON_NAMES = {str: "string", bool: "true or false", dict: "object", list: "array"}


def _json_type(value: object) -> str:
    return {str: "a string", bool: "true or false", dict: "an object", list: "an array",
            type(None): "null"}.get(type(value), "a number")


def _integer(value: object, what: str, low: int = -(2**63), high: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Bad(f"{what} must be an integer or a string of digits, not {_json_type(value)}")
    try:
        number = int(value) if isinstance(value, int) or len(value) <= 30 else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise _Bad(f"{what} {str(value)[:24]!r} is not an integer in range")
    return number


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 3] + "..."


def _attribute(value: object) -> Any:
    decoded = _decode_value(value)
    if isinstance(decoded, dict) or (isinstance(decoded, tuple)
                                      and any(isinstance(i, (dict, tuple)) for i in decoded)):
        return _bounded(json.dumps(decoded, default=str))  # once, so its size stays linear
    return decoded


def _decode_attributes(items: object) -> dict[str, Any]:
    if not items:
        _typed(items if items is not None else [], list, "attributes")
        return {}
    try:  # the common shape, every value a string, in one pass; checked after
        attributes = {item["key"]: item["value"]["stringValue"]
                      for item in items}  # type: ignore[attr-defined]
        if len(attributes) == len(items) and all(  # type: ignore[arg-type]
                type(key) is str and type(text) is str and len(text) <= MAX_VALUE_CHARS
                for key, text in attributes.items()):
            return attributes
    except (KeyError, TypeError):
        pass
    attributes = {}
    for item in _typed(items, list, "attributes"):
        if type(item) is dict:  # most attributes: a plain string, checked inline
            key, value = item.get("key"), item.get("value")
            if type(key) is str and type(value) is dict:
                text = value.get("stringValue")
                if type(text) is str and len(text) <= MAX_VALUE_CHARS:
                    attributes[key] = text
                    continue
        key = _typed(_typed(item, dict, "an attribute").get("key"), str, "an attribute key")
        attributes[key] = _attribute(item.get("value", {}))
    return attributes


def _id(text: object, width: int, what: str, required: bool = True) -> int:
    """A trace (``width`` 32) or span (16) id: hex, or protobuf JSON's base64."""
    if text is None or text == "":
        if required:
            raise _Bad(f"{what} is missing")
        return 0
    hex_text: str = _typed(text, str, what)
    try:
        if len(hex_text) == width:
            number = int(hex_text, 16)
        else:
            raw = base64.b64decode(hex_text, validate=True)
            if len(raw) != width // 2:
                raise ValueError
            number = int.from_bytes(raw, "big")
    except ValueError:
        raise _Bad(f"{what} {hex_text[:40]!r} is not {width} hex digits") from None
    if number == 0 and required:
        raise _Bad(f"{what} is all zeros")
    return number


def _time(value: object, what: str) -> int:
    """A time in nanoseconds: a string of digits (the common case, checked first) or a number."""
    if type(value) is str and len(value) <= 20 and value.isdigit():
        number = int(value)
        if number <= _MAX_NS:
            return number
    return _integer(value, what, 0, _MAX_NS)


def _status(status: object) -> tuple[int, str | None]:
    """A span's status code (0, 1, 2) and message."""
    if not status:
        return 0, None
    fields: dict[str, Any] = _typed(status, dict, "status")
    code = fields.get("code", 0)
    if type(code) is not int or not 0 <= code <= 2:
        if isinstance(code, str) and not code.isdigit():
            code = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1,
                    "STATUS_CODE_ERROR": 2}.get(code, -1)
        code = _integer(code, "status code", 0, 2) if code != -1 else -1
        if code == -1:
            raise _Bad(f"status code {fields.get('code')!r} is not UNSET, OK or ERROR")
    description = fields.get("message")
    return code, _bounded(str(description)) if description else None


def _events(items: object) -> tuple[Event, ...]:
    if not items:
        return ()
    return tuple(
        Event(str(_typed(event, dict, "an event").get("name", "")),
              _decode_attributes(event.get("attributes")),
              _integer(event.get("timeUnixNano", 0), "timeUnixNano", 0, _MAX_NS))
        for event in _typed(items, list, "events"))


def _links(items: object) -> tuple[Link, ...]:
    if not items:
        return ()
    return tuple(
        Link(SpanContext(_id(_typed(link, dict, "a link").get("traceId"), 32, "link traceId"),
                         _id(link.get("spanId"), 16, "link spanId"),
                         is_remote=True, trace_flags=TraceFlags(1)),
             _decode_attributes(link.get("attributes")))
        for link in _typed(items, list, "links"))


def decode_span(span: Mapping[str, Any], scope: str, service: str | None = None) -> Execution:
    """An OTLP JSON span as an execution (not yet numbered).

    Raises:
        _Bad: The span is not valid OTLP JSON (a wrong type, id, time or status).
    """
    get = _typed(span, dict, "a span").get
    code, description = _status(get("status"))
    start = _time(get("startTimeUnixNano", 0), "startTimeUnixNano")
    end = _time(get("endTimeUnixNano", 0), "endTimeUnixNano")
    if end < start:
        raise _Bad(f"ends before it starts ({end} < {start})")
    name = get("name", "")
    return Execution(  # positionally: name, ids, times, attributes, events, links, status...
        name if type(name) is str and len(name) <= MAX_VALUE_CHARS else _bounded(str(name)),
        _id(get("traceId"), 32, "traceId"), _id(get("spanId"), 16, "spanId"),
        _id(get("parentSpanId"), 16, "parentSpanId", required=False) or None,
        start, end, _decode_attributes(get("attributes")), _events(get("events")),
        _links(get("links")), _CODES_STATUS[code], description, scope, None, None, service)


@dataclass
class TraceData:
    """The spans of one or more trace files, and what was repaired while reading them."""

    executions: list[Execution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _open(path: Path) -> BinaryIO:
    """The file to read: a regular file (gzip when it ends in .gz) or ``-`` for stdin; never a
    FIFO or a device, which could block or never end."""
    if str(path) == "-":
        return sys.stdin.buffer
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
    try:
        raw: BinaryIO = path.open("rb")
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines, each at most ``MAX_LINE_BYTES``; a line that cannot be JSON fails at
    its first character, without being read whole."""
    stream = _open(path)
    try:
        number = 0
        while True:
            try:
                line = stream.readline(_CHUNK)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise TraceFileError(f"{path}: cannot be read ({exc})") from None
            if not line:
                return
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
                line = stream.readline(_CHUNK)
                if not line:
                    break
                size += len(line)
                if size > MAX_LINE_BYTES:
                    raise TraceFileError(f"{path}:{number}: line longer than "
                                         f"{MAX_LINE_BYTES // 1024 // 1024} MiB")
                parts.append(line)
            yield number, b"".join(parts)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def read_traces(*paths: str | Path,
                keep: Callable[[Execution], bool] | None = None) -> TraceData:
    """Every span of the files (``-`` is stdin, ``.gz`` is gunzipped) that ``keep`` keeps, in
    completion order, with duplicate spans dropped and parent cycles broken (each said in
    ``notes``). Only the kept spans are held in memory.

    Raises:
        TraceFileError: A file is missing, empty, not a regular file, truncated, or not OTLP
            JSON traces; the message names the file, the line and what was expected there.
    """
    data = TraceData()
    data.executions = [execution for execution in iter_traces(*paths, notes=data.notes)
                       if keep is None or keep(execution)]
    _break_cycles(data)
    data.executions.sort(key=lambda item: (item.end_ns or 0, -item.start_ns))  # children first
    return data


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


def decode_line(line: bytes, where: str) -> list[Execution]:
    """The spans of one OTLP JSON line; ``where`` (``file:line``) starts any error message.

    Raises:
        TraceFileError: The line is not valid JSON or not valid OTLP span data.
    """
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        reason = _JSON_REASONS.get(exc.msg.split(":", 1)[0])
        if reason is not None:
            raise TraceFileError(f"{where}: not valid JSON ({reason})") from None
        raise TraceFileError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); the "
                             "file may be truncated") from None
    if not isinstance(data, dict) or "resourceSpans" not in data:
        found = ", ".join(sorted(data)[:3]) if isinstance(data, dict) else type(data).__name__
        raise TraceFileError(f"{where}: expected an OTLP traces object with 'resourceSpans', "
                             f"found {found or 'an empty object'}")
    executions: list[Execution] = []
    try:
        for item in _typed(data["resourceSpans"], list, "resourceSpans"):
            resource = _typed(item, dict, "a resourceSpans item")
            service = _decode_attributes(_typed(resource.get("resource") or {}, dict,
                                                "resource").get("attributes")).get("service.name")
            scopes = resource.get("scopeSpans") or resource.get(
                "instrumentationLibrarySpans") or []
            for entry in _typed(scopes, list, "scopeSpans"):
                scope = _typed(entry, dict, "a scopeSpans item")
                name = str(_typed(scope.get("scope") or scope.get("instrumentationLibrary")
                                  or {}, dict, "scope").get("name", ""))
                executions.extend(
                    decode_span(span, name, None if service is None else str(service))
                    for span in _typed(scope.get("spans") or [], list, "spans"))
    except (_Bad, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, _Bad) else "nested too deeply"
        raise TraceFileError(f"{where}: malformed OTLP span data: {reason}") from None
    return executions


def follow(path: str | Path, *, from_start: bool = False, poll: float = 0.2,
           idle: float | None = None) -> Iterator[list[Execution] | TraceFileError]:
    """The spans of each line appended to ``path`` from now on (or from its start), as
    ``configure(file=...)`` writes them: a ``tail -f`` for trace files.

    A file that is rotated (replaced) or truncated is read again from its start; one that is
    gone is waited for. A line that is not valid OTLP is yielded as its ``TraceFileError`` and
    following goes on. Ends after ``idle`` seconds without a new line (never when None).

    Raises:
        TraceFileError: ``path`` is a directory, a pipe or a device.
    """
    path = Path(path)
    inode: int | None = None
    position, number, buffer = 0, 0, b""
    known_lines = from_start
    missing = False
    quiet_since = time.monotonic()
    while True:
        try:
            info = path.stat()
        except FileNotFoundError:
            info, missing = None, True  # not there yet, or rotated away: wait for it
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise TraceFileError(f"{path}: is not a regular file; tail follows files")
        if info is not None and (inode is None or info.st_ino != inode
                                 or info.st_size < position):
            fresh = inode is not None or missing  # a new file: all of it is new
            inode = info.st_ino
            position = 0 if (from_start or fresh) else info.st_size
            number, buffer = 0, b""
            known_lines = known_lines or fresh
        if info is not None and info.st_size > position:
            with path.open("rb") as source:
                source.seek(position)
                chunk = source.read(min(info.st_size - position, 8 * _CHUNK))
            position += len(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                number += 1
                if line.strip():
                    where = f"{path}:{number}" if known_lines else f"{path}"
                    try:
                        yield decode_line(line, where)
                    except TraceFileError as error:
                        yield error
            if len(buffer) > MAX_LINE_BYTES:
                yield TraceFileError(f"{path}: line longer than "
                                     f"{MAX_LINE_BYTES // 1024 // 1024} MiB skipped")
                buffer = b""
            quiet_since = time.monotonic()
            continue
        if idle is not None and time.monotonic() - quiet_since > idle:
            return
        time.sleep(poll)


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
