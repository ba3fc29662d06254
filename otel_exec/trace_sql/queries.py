"""Questions in SQL: any query (``sql``), and the commands' own (summary, stats, history,
jobs) answered by the engine, with the rows the in-memory views would show."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, StatusCode, TraceFlags

from otel_exec import semconv
from otel_exec.execution import Execution
from otel_exec.trace_sql import schema
from otel_exec.trace_sql.engines import Cluster, Engine, Files, expand, literal
from otel_exec.views.registry import Selection
from otel_exec.views.stats import NameStats

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


@dataclass
class Result:
    """A query's answer: column names and types, and the rows as Python values."""

    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}``."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def fetch(engine: Engine, query: str) -> Result:
    """Run ``query`` and read its answer."""
    data = orjson.loads(engine.run(query, "JSONCompact") or b"{}")
    meta = data.get("meta", [])
    return Result([column["name"] for column in meta], [column["type"] for column in meta],
                  [tuple(row) for row in data.get("data", [])])


@contextlib.contextmanager
def open_engine(files: Sequence[str] = (), clickhouse: str | None = None,
                table: str = schema.TABLE, allow_write: bool = False,
                cache: bool = True) -> Iterator[Engine]:
    """The engine for trace files (chDB) or for a ClickHouse server (exactly one of them).

    Raises:
        SqlError: Neither or both are given, or the engine is not installed.
        TraceFileError: A file is missing or is not a regular file.
    """
    from otel_exec.trace_sql.engines import SqlError

    if bool(files) == bool(clickhouse):
        raise SqlError("give trace files or --clickhouse URL (one of them)")
    if clickhouse:
        yield Cluster(clickhouse, table, allow_write)
        return
    with Files(expand(files), cache=cache) as engine:
        yield engine


def sql(query: str, *files: str, clickhouse: str | None = None, table: str = schema.TABLE,
        allow_write: bool = False) -> Result:
    """Run ``query`` over ``otel_traces`` and the views, on trace files (OTLP JSON lines,
    ``.gz``, globs) or on the ClickHouse server at ``clickhouse``.

    Raises:
        SqlError: The engine refused the query or could not run it (one line).
        TraceFileError: A file is missing or not OTLP JSON lines (``file:line``).
    """
    with open_engine(files, clickhouse, table, allow_write) as engine:
        return fetch(engine, query)


# ---- filters ----------------------------------------------------------------------------------
@dataclass
class Filters:
    """The commands' span filters, as a condition on the ``executions`` view's columns."""

    trace: str | None = None
    name: str | None = None
    kind: str | None = None
    framework: str | None = None
    service: str | None = None
    status: str = "all"
    attributes: Sequence[tuple[str, str]] = ()
    since: float | None = None
    until: float | None = None

    def where(self) -> str:
        """The condition (``1`` when nothing is filtered)."""
        tests = [f"{column} = {literal(value)}" for column, value in (
            ("trace_id", (self.trace or "").lower() or None), ("name", self.name),
            ("kind", self.kind), ("framework", self.framework), ("service", self.service))
            if value is not None]
        if self.status != "all":
            tests.append("success" if self.status == "success" else "NOT success")
        tests += [f"attributes[{literal(key)}] = {literal(value)}"
                  for key, value in self.attributes]
        if self.since is not None:
            tests.append(f"start_ns >= {int(self.since * 1e9)}")
        if self.until is not None:
            tests.append(f"start_ns < {int(self.until * 1e9)}")
        return " AND ".join(tests) or "1"


# ---- rows as executions -------------------------------------------------------------------------
_HANDED_COLUMNS = (
    "name", "trace_id", "span_id", "parent_span_id", "start_ns", "end_ns", "attributes",
    "arrayMap(t -> toUnixTimestamp64Nano(t), event_times)", "event_names", "event_attributes",
    "status_code", "status_message", "scope", "service", "link_trace_ids", "link_span_ids",
    "link_attributes")
"""What a row hands to Python to be an ``Execution`` (columns of the executions view)."""
_HANDED = ", ".join(_HANDED_COLUMNS)
_INT = re.compile(r"-?(?:0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?")
_TEXTS = frozenset({semconv.EXEC_ARGS, semconv.EXEC_KWARGS, semconv.EXEC_RESULT,
                    semconv.EXEC_ITEMS, semconv.EXCEPTION_MESSAGE, semconv.EXCEPTION_TYPE,
                    semconv.EXCEPTION_STACKTRACE, semconv.LOG_MESSAGE, semconv.FSM_ERROR,
                    semconv.ROUTILUX_JOB_ID, semconv.ROUTILUX_ROUTINE_ID, semconv.ROUTILUX_REASON,
                    semconv.SERVICE_NAME, semconv.SERVICE_VERSION})
"""Keys whose values are always text (the bounded text of a Python value, an id, a message)."""
_CODES = {"Error": StatusCode.ERROR, "STATUS_CODE_ERROR": StatusCode.ERROR,
          "Ok": StatusCode.OK, "STATUS_CODE_OK": StatusCode.OK}


def typed(key: str, text: str) -> Any:
    """An attribute's value from the table's text: what OTLP carried (a bool, an int, a float,
    an array as a tuple), where the text can only have come from that; else the text."""
    if key in _TEXTS or not text:
        return text
    if text in ("true", "false"):
        return text == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and repr(float(text)) == text:
        return float(text)
    if text[0] == "[" and text[-1] == "]":
        with contextlib.suppress(ValueError):
            items = json.loads(text)
            if isinstance(items, list):
                return tuple(items)
    return text


def _attributes(texts: dict[str, str]) -> dict[str, Any]:
    return {key: typed(key, text) for key, text in texts.items()}


def execution_of(row: Sequence[Any], index: int | None = None) -> Execution:
    """A handed row (``_HANDED``'s columns) as the execution the in-memory views read."""
    (name, trace_id, span_id, parent, start_ns, end_ns, attributes, times, names, event_attrs,
     code, message, scope, service, link_traces, link_spans, link_attrs) = row
    events = tuple(Event(event_name, _attributes(event_attributes), stamp)
                   for event_name, event_attributes, stamp in zip(names, event_attrs, times,
                                                                  strict=True))
    links = tuple(Link(SpanContext(int(trace, 16), int(span, 16), is_remote=True,
                                   trace_flags=TraceFlags(1)), _attributes(link_attributes))
                  for trace, span, link_attributes in zip(link_traces, link_spans, link_attrs,
                                                          strict=True))
    return Execution(name, int(trace_id, 16), int(span_id, 16),
                     int(parent, 16) if parent else None, start_ns, end_ns,
                     _attributes(attributes), events, links, _CODES.get(code, StatusCode.UNSET),
                     message or None, scope, index, None, service or None)


# ---- the commands -------------------------------------------------------------------------------
def stats(engine: Engine, filters: Filters) -> list[NameStats]:
    """``otel-exec stats``: per name and kind, count, failures, p50 / p95 / max and total
    (nearest-rank percentiles, as the in-memory statistics)."""
    result = fetch(engine, f"""
        SELECT name, kind, count() AS count, countIf(NOT success) AS failures,
            arraySort(groupArray(duration)) AS ordered,
            ordered[greatest(1, toUInt64(ceil(0.5 * count - 1e-9)))] AS p50,
            ordered[greatest(1, toUInt64(ceil(0.95 * count - 1e-9)))] AS p95,
            arrayMax(ordered) AS max, sum(end_ns - start_ns) / 1e9 AS total
        FROM executions
        WHERE {filters.where()}
        GROUP BY name, kind ORDER BY total DESC, name""")
    return [NameStats(name, kind, count, failures, p50, p95, top, total)
            for name, kind, count, failures, _, p50, p95, top, total in result.rows]


_TITLE = "📊 Execution History"


def registry(engine: Engine, filters: Filters, name: str = "", index: int | None = None,
             result_index: int | None = None, last_result: bool = False, status: str = "all",
             limit: int | None = None, slowest: int | None = None) -> Selection:
    """``otel-exec summary``: what the registry view selects for these arguments (falyx's
    order: last_result, result_index, name, index, the whole history), the rows numbered as
    the in-memory registry numbers them, only the rows shown read back. ``filters`` apply
    after numbering; a lookup by index that they reject selects nothing."""
    where = filters.where()
    kept = {"all": "", "success": " AND success"}.get(status, " AND NOT success")
    named = f"name = {literal(name)}" if name else "1"
    owned, has_name, matched = fetch(engine, f"""
        SELECT countIf(own_index IS NOT NULL) > 0, countIf({named}) > 0,
            countIf({where} AND {named}{kept})
        FROM executions WHERE {_REGISTRY}""").rows[0]  # one pass for every count asked
    numbering = _Numbering(engine, bool(owned))
    if last_result:
        rows = numbering.rows(f"NOT ignore_in_history AND {where}", 1)
        return (Selection(result=rows[0][0]) if rows else
                Selection(missing="No valid executions found to display last result."))
    if (result_index is not None and result_index >= 0) or (
            not name and index is not None and index >= 0):
        number = result_index if result_index is not None and result_index >= 0 else index
        found = numbering.lookup(int(number or 0),
                                 where + ("" if number == result_index else kept))
        if found is None:
            return Selection(missing=f"No execution found for index {number}.")
        execution, matches = found
        if number == result_index:
            return Selection(result=execution) if matches else Selection()
        return Selection(title=f"{_TITLE} for Index {index}",
                         executions=[execution] if matches else [])
    if name and not has_name:
        return Selection(missing=f"No executions found for action '{name}'.")
    bound = slowest if slowest is not None else limit if limit and limit > 0 else None
    shown = [execution for execution, _ in numbering.rows(f"{where} AND {named}{kept}", bound,
                                                          slowest is not None)]
    return Selection(title=f"{_TITLE} for '{name}'" if name else _TITLE, executions=shown,
                     hidden=0 if slowest is not None else matched - len(shown))


_REGISTRY = "in_registry"
_COMPLETION = "end_ns, start_ns DESC"
"""The registry's completion order (the outer of two spans ending together first)."""


class _Numbering:
    """The registry's numbers for the rows a request shows, without numbering every entry:
    falyx's own indices where the spans have them; else an entry's number is how many entries
    completed before it, counted up to the oldest row shown and numbered from there."""

    def __init__(self, engine: Engine, owned: bool) -> None:
        self.engine = engine
        self.owned = owned  # whether any entry has falyx's own index

    def lookup(self, number: int, matches: str) -> tuple[Execution, bool] | None:
        """The entry with index ``number`` and whether it passes ``matches``."""
        choice = (f"own_index = {number} ORDER BY end_ns DESC LIMIT 1" if self.owned
                  else f"1 ORDER BY {_COMPLETION} LIMIT 1 OFFSET {number}")
        chosen = fetch(self.engine, f"SELECT span_id, trace_id, {matches} FROM executions "
                                    f"WHERE {_REGISTRY} AND {choice}").rows
        if not chosen:
            return None
        (row,) = self._read(chosen)
        return execution_of(row, number), bool(chosen[0][2])

    def rows(self, where: str, bound: int | None,
             slowest: bool = False) -> list[tuple[Execution, int | None]]:
        """Entries matching ``where``: the newest ``bound`` (or the slowest), oldest first,
        numbered. They are chosen on a few narrow columns; only those chosen are read whole."""
        order = "end_ns - start_ns DESC, end_ns DESC" if slowest else "end_ns DESC, start_ns"
        chosen = fetch(self.engine, f"""
            SELECT span_id, trace_id, own_index FROM executions WHERE {_REGISTRY} AND {where}
            ORDER BY {order} {f'LIMIT {int(bound)}' if bound is not None else ''}""").rows
        own = {(span, trace): index for span, trace, index in chosen}
        rows = self._read(chosen)
        numbers = ([own[(row[2], row[1])] for row in rows] if self.owned
                   else list(self._numbers(rows)))
        return [(execution_of(row, number), number)
                for row, number in zip(rows, numbers, strict=True)]

    def _read(self, chosen: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The handed rows of the chosen (span id, trace id, ...), in completion order."""
        if not chosen:
            return []
        ids = ", ".join(f"({literal(row[0])}, {literal(row[1])})" for row in chosen)
        return fetch(self.engine, f"SELECT {_HANDED} FROM executions WHERE (span_id, trace_id) "
                                  f"IN ({ids}) ORDER BY {_COMPLETION}").rows

    def _numbers(self, rows: list[tuple[Any, ...]]) -> Iterator[int | None]:
        """Completion-order numbers of ``rows`` (in completion order)."""
        if not rows:
            return
        end, start = rows[0][5], rows[0][4]
        before = f"(end_ns < {end} OR (end_ns = {end} AND start_ns > {start}))"
        base = fetch(self.engine, f"SELECT count() FROM executions WHERE {_REGISTRY} AND "
                                  f"{before}").rows[0][0]
        ids = ", ".join(f"({literal(row[2])}, {literal(row[1])})" for row in rows)
        found = dict(((span, trace), number) for span, trace, number in fetch(self.engine, f"""
            SELECT span_id, trace_id, number FROM (
                SELECT span_id, trace_id, row_number() OVER (ORDER BY {_COMPLETION}) - 1
                    AS number
                FROM executions WHERE {_REGISTRY} AND NOT {before})
            WHERE (span_id, trace_id) IN ({ids})""").rows)
        for row in rows:
            number = found.get((row[2], row[1]))
            yield None if number is None else base + number


def spans_with(engine: Engine, framework: str, kinds: Sequence[str],
               filters: Filters) -> list[Execution]:
    """Every span of the traces that hold a ``framework`` span of one of ``kinds`` (matching
    the filters), those that match them: what the history and jobs views are built from, the
    rest never read."""
    kinds_list = ", ".join(literal(kind) for kind in kinds)
    where = filters.where()
    result = fetch(engine, f"""
        SELECT {_HANDED} FROM executions
        WHERE trace_id IN (SELECT trace_id FROM executions
                           WHERE framework = {literal(framework)} AND kind IN ({kinds_list})
                             AND {where})
          AND {where}
        ORDER BY end_ns, start_ns DESC""")
    return [execution_of(row) for row in result.rows]


def any_match(engine: Engine, filters: Filters) -> bool:
    """Whether any span passes the filters."""
    return bool(fetch(engine, f"SELECT 1 FROM executions WHERE {filters.where()} LIMIT 1").rows)
