"""Reading a line of a trace file, hardened: bounded sizes, depths and values, every id, time
and status checked, and a ``TraceFileError`` naming the file and line for anything else."""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, TraceFlags

from otel_exec.execution import Execution
from otel_exec.trace_files.encode import CODES_STATUS

if TYPE_CHECKING:
    from collections.abc import Mapping


_logger = logging.getLogger(__name__)

class TraceFileError(ValueError):
    """A trace file that cannot be read, with the file and line that says why."""


MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line read (the collector writes one batch per line, a few MB at most)."""
MAX_DEPTH = 32
"""Deepest nesting of arrays and key-value lists inside an attribute value."""
MAX_VALUE_CHARS = 65_536
"""Longest text an attribute value decodes to (longer text ends in ``...``)."""
READ_CHUNK = 1024 * 1024
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
    if type(value) is str and len(value) <= 20 and value.isascii() and value.isdigit():
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
        Event(_bounded(str(_typed(event, dict, "an event").get("name", ""))),
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
        _links(get("links")), CODES_STATUS[code], description, scope, None, None, service)


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
