"""The ``otel_traces`` table as the OpenTelemetry Collector's ClickHouse exporter lays it out,
the SELECT that reads OTLP JSON lines into that layout, and the frameworks' views over it.

One layout, one SQL: a query written against ``otel_traces`` and these views runs unchanged on
trace files (chDB) and on a ClickHouse server fed by the collector.
"""

from __future__ import annotations

import hashlib
import re

from otel_exec import semconv
from otel_exec.semconv import ExecStatus

TABLE = "otel_traces"

COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind",
    "ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes",
    "Duration", "StatusCode", "StatusMessage", "Events.Timestamp", "Events.Name",
    "Events.Attributes", "Links.TraceId", "Links.SpanId", "Links.TraceState",
    "Links.Attributes")
"""The exporter's columns, in its order."""

COLLECTOR_DDL = """\
CREATE TABLE IF NOT EXISTS {table} (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""
"""The table the collector's ``clickhouse`` exporter creates (``create_schema: true``), as in
collector-config/clickhouse-traces.sql."""

# ---- reading OTLP JSON lines -------------------------------------------------------------------
_VALUE = "String"
"""An ``AnyValue`` is read as its JSON text and taken apart by ``_value_text``: faster than a
tuple of its seven possible fields, most of them absent."""
_ATTRIBUTES = f"Array(Tuple(key String, value {_VALUE}))"
_SPAN = (
    "Tuple(traceId String, spanId String, parentSpanId String, traceState String, name String, "
    "kind String, startTimeUnixNano String, endTimeUnixNano String, "
    f"attributes {_ATTRIBUTES}, "
    f"events Array(Tuple(timeUnixNano String, name String, attributes {_ATTRIBUTES})), "
    "links Array(Tuple(traceId String, spanId String, traceState String, "
    f"attributes {_ATTRIBUTES})), status Tuple(code String, message String))")
_SCOPE = f"Tuple(scope Tuple(name String, version String), spans Array({_SPAN}))"
LINE_STRUCTURE = (f"resourceSpans Array(Tuple(resource Tuple(attributes {_ATTRIBUTES}), "
                  f"scopeSpans Array({_SCOPE}), instrumentationLibrarySpans Array({_SCOPE})))")
"""What the engine reads of a line: the OTLP JSON fields a span row needs, each typed."""

READ_SETTINGS = {
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_numbers_as_strings": 1,
    "input_format_skip_unknown_fields": 1,
    "input_format_json_ignore_unknown_keys_in_named_tuple": 1,
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 1,
}

_ARRAY_ITEM = (
    "multiIf(JSONHas(x, 'stringValue'), toJSONString(JSONExtractString(x, 'stringValue')), "
    "JSONHas(x, 'intValue'), trim(BOTH '\"' FROM JSONExtractRaw(x, 'intValue')), "
    "JSONHas(x, 'boolValue'), JSONExtractRaw(x, 'boolValue'), "
    "JSONHas(x, 'doubleValue'), JSONExtractRaw(x, 'doubleValue'), JSONExtractRaw(x))")


def _value_text(value: str) -> str:
    """An ``AnyValue`` (its JSON text) as the exporter's text: strings as they are, numbers in
    decimal, booleans ``true``/``false``, arrays as JSON, key-value lists as their JSON. A
    string value written compactly (as OpenTelemetry's writers do) takes the fast path."""
    return (f"multiIf(startsWith({value}, '{{\"stringValue\":'), "
            f"visitParamExtractString({value}, 'stringValue'), "
            f"JSONType({value}, 'arrayValue') = 'Object', concat('[', arrayStringConcat("
            f"arrayMap(x -> {_ARRAY_ITEM}, JSONExtractArrayRaw({value}, 'arrayValue', 'values')),"
            f" ','), ']'), JSONHas({value}, 'stringValue'), "
            f"JSONExtractString({value}, 'stringValue'), "
            f"trim(BOTH '\"' FROM JSONExtractRaw({value}, JSONExtractKeys({value})[1])))")


def _map(attributes: str) -> str:
    return (f"CAST(mapFromArrays(arrayMap(a -> a.key, {attributes}), "
            f"arrayMap(a -> {_value_text('a.value')}, {attributes})), "
            "'Map(LowCardinality(String), String)')")


def _time(nanoseconds: str) -> str:
    return f"fromUnixTimestamp64Nano(toInt64OrZero({nanoseconds}), 'UTC')"


SPAN_ROWS = f"""\
SELECT
    {_time('s.startTimeUnixNano')} AS Timestamp,
    lower(s.traceId) AS TraceId,
    lower(s.spanId) AS SpanId,
    lower(s.parentSpanId) AS ParentSpanId,
    s.traceState AS TraceState,
    CAST(s.name, 'LowCardinality(String)') AS SpanName,
    CAST(transform(replaceOne(s.kind, 'SPAN_KIND_', ''),
        ['1', '2', '3', '4', '5', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'],
        ['Internal', 'Server', 'Client', 'Producer', 'Consumer',
         'Internal', 'Server', 'Client', 'Producer', 'Consumer'], 'Unspecified'),
        'LowCardinality(String)') AS SpanKind,
    CAST(ResourceAttributes['service.name'], 'LowCardinality(String)') AS ServiceName,
    {_map('r.resource.attributes')} AS ResourceAttributes,
    sc.scope.name AS ScopeName,
    sc.scope.version AS ScopeVersion,
    {_map('s.attributes')} AS SpanAttributes,
    toUInt64OrZero(s.endTimeUnixNano) - toUInt64OrZero(s.startTimeUnixNano) AS Duration,
    CAST(multiIf(s.status.code IN ('1', 'STATUS_CODE_OK'), 'Ok',
                 s.status.code IN ('2', 'STATUS_CODE_ERROR'), 'Error', 'Unset'),
         'LowCardinality(String)') AS StatusCode,
    s.status.message AS StatusMessage,
    arrayMap(e -> {_time('e.timeUnixNano')}, s.events) AS `Events.Timestamp`,
    arrayMap(e -> CAST(e.name, 'LowCardinality(String)'), s.events) AS `Events.Name`,
    arrayMap(e -> {_map('e.attributes')}, s.events) AS `Events.Attributes`,
    arrayMap(l -> lower(l.traceId), s.links) AS `Links.TraceId`,
    arrayMap(l -> lower(l.spanId), s.links) AS `Links.SpanId`,
    arrayMap(l -> l.traceState, s.links) AS `Links.TraceState`,
    arrayMap(l -> {_map('l.attributes')}, s.links) AS `Links.Attributes`
FROM {{source}}
LEFT ARRAY JOIN resourceSpans AS r
LEFT ARRAY JOIN arrayConcat(r.scopeSpans, r.instrumentationLibrarySpans) AS sc
LEFT ARRAY JOIN sc.spans AS s
"""
"""OTLP JSON lines (``{source}``: a ``file(..., 'JSONEachRow', LINE_STRUCTURE)``, put in by
``span_rows``) as rows of
``otel_traces``, in the exporter's text for every value. A line, resource or scope without
spans is a row with no ``TraceId`` (a line that is not OTLP is one too): readers leave them out
after checking the file."""

def span_rows(source: str) -> str:
    """``SPAN_ROWS`` reading ``source``."""
    return SPAN_ROWS.replace("{source}", source)


# ---- the views ---------------------------------------------------------------------------------
_KNOWN = ", ".join(f"'{status.value}'" for status in ExecStatus)
_FAILED = ", ".join(f"'{status.value}'" for status in semconv.ERROR_STATUSES)

EXECUTIONS = f"""\
SELECT
    TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id,
    SpanName AS name, ServiceName AS service,
    if(mapContains(SpanAttributes, '{semconv.EXEC_KIND}'),
       SpanAttributes['{semconv.EXEC_KIND}'], '{semconv.KIND_SPAN}') AS kind,
    if(mapContains(SpanAttributes, '{semconv.EXEC_FRAMEWORK}'),
       SpanAttributes['{semconv.EXEC_FRAMEWORK}'], ScopeName) AS framework,
    multiIf(SpanAttributes['{semconv.EXEC_STATUS}'] IN ({_KNOWN}),
            SpanAttributes['{semconv.EXEC_STATUS}'],
            StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'failed', 'completed') AS status,
    status NOT IN ({_FAILED}) AS success,
    Timestamp AS start, toUnixTimestamp64Nano(Timestamp) AS start_ns,
    toUnixTimestamp64Nano(Timestamp) + Duration AS end_ns,
    Duration / 1e9 AS duration,
    SpanAttributes['{semconv.EXEC_RESULT}'] AS result,
    SpanAttributes['{semconv.ERROR_TYPE}'] AS error_type,
    arrayLastIndex(n -> n = '{semconv.EXCEPTION_EVENT}', `Events.Name`) AS _exception,
    if(_exception = 0, '',
       `Events.Attributes`[_exception]['{semconv.EXCEPTION_TYPE}']) AS exception_type,
    if(_exception = 0, '',
       `Events.Attributes`[_exception]['{semconv.EXCEPTION_MESSAGE}']) AS exception_message,
    StatusMessage AS status_message,
    mapContains(SpanAttributes, '{semconv.EXEC_FRAMEWORK}')
        AND SpanAttributes['{semconv.EXEC_RECORDED}'] != 'false' AS in_registry,
    if(toInt64OrNull(SpanAttributes['{semconv.FALYX_INDEX}']) >= 0,
       toInt64OrNull(SpanAttributes['{semconv.FALYX_INDEX}']), NULL) AS own_index,
    SpanAttributes['{semconv.EXEC_IGNORE_IN_HISTORY}'] = 'true' AS ignore_in_history,
    SpanAttributes AS attributes, ScopeName AS scope, StatusCode AS status_code,
    `Events.Timestamp` AS event_times, `Events.Name` AS event_names,
    `Events.Attributes` AS event_attributes, `Links.TraceId` AS link_trace_ids,
    `Links.SpanId` AS link_span_ids, `Links.Attributes` AS link_attributes
FROM {TABLE}
"""
"""Every span as an execution: its kind, framework, status verdict and outcome (the verdicts
of the in-memory views: ``exec.status``, else the span status)."""

REGISTRY = """\
SELECT *,
    if(max(own_index IS NOT NULL) OVER (), own_index,
       row_number() OVER (ORDER BY end_ns, start_ns DESC) - 1) AS index
FROM executions
WHERE in_registry
"""
"""The registry (falyx's ``ExecutionRegistry``, every framework's executions): falyx's own
indices when the spans have them, else numbered in completion order."""

FSM_RUNS = f"""\
SELECT trace_id, span_id AS run_id, parent_span_id,
    if(mapContains(attributes, '{semconv.FSM_NAME}'), attributes['{semconv.FSM_NAME}'], name)
        AS fsm_name,
    kind, status, success, start, duration, error_type, exception_type, exception_message
FROM executions
WHERE framework = '{semconv.FRAMEWORK_DATAKNOBS_FSM}'
  AND kind IN ('{semconv.KIND_FSM_RUN}', '{semconv.KIND_BATCH}', '{semconv.KIND_STREAM}')
"""
"""dataknobs-fsm runs, batches and streams."""

FSM_STEPS = f"""\
SELECT trace_id, span_id AS step_id, parent_span_id,
    if(mapContains(attributes, '{semconv.FSM_STATE}'), attributes['{semconv.FSM_STATE}'], name)
        AS state_name,
    if(mapContains(attributes, '{semconv.FSM_NETWORK}'), attributes['{semconv.FSM_NETWORK}'],
       'main') AS network_name,
    nullIf(attributes['{semconv.FSM_ARC_TAKEN}'], '') AS arc_taken,
    status, success, start, duration, exception_type, exception_message,
    attributes['{semconv.FSM_ERROR}'] AS fsm_error
FROM executions
WHERE framework = '{semconv.FRAMEWORK_DATAKNOBS_FSM}' AND kind = '{semconv.KIND_STEP}'
"""
"""dataknobs-fsm steps (``parent_span_id`` is the run's, or a subnetwork's inside it)."""

ROUTILUX_JOBS = f"""\
SELECT trace_id, span_id, attributes['{semconv.ROUTILUX_FLOW}'] AS flow_id,
    if(mapContains(attributes, '{semconv.ROUTILUX_JOB_ID}'),
       attributes['{semconv.ROUTILUX_JOB_ID}'], span_id) AS job_id,
    status, success, start, duration, status_message, exception_type, exception_message
FROM executions
WHERE framework = '{semconv.FRAMEWORK_ROUTILUX}' AND kind = '{semconv.KIND_JOB}'
"""
"""routilux jobs."""

ROUTILUX_ROUTINES = f"""\
SELECT trace_id, span_id, parent_span_id,
    if(mapContains(attributes, '{semconv.ROUTILUX_ROUTINE_ID}'),
       attributes['{semconv.ROUTILUX_ROUTINE_ID}'], name) AS routine_id,
    status, success, start, duration, exception_type, exception_message
FROM executions
WHERE framework = '{semconv.FRAMEWORK_ROUTILUX}' AND kind = '{semconv.KIND_ROUTINE}'
"""
"""routilux routine executions (``trace_id`` and the job's span tie them to their job)."""

VIEWS = {"executions": EXECUTIONS, "falyx_history": REGISTRY, "fsm_runs": FSM_RUNS,
         "fsm_steps": FSM_STEPS, "routilux_jobs": ROUTILUX_JOBS,
         "routilux_routines": ROUTILUX_ROUTINES}
"""Each view's SELECT, in dependency order (each reads ``otel_traces`` or a view above it)."""


def with_views(query: str, table: str = TABLE, source: str | None = None) -> str:
    """``query`` with the views it names (and those they read) as leading common table
    expressions over ``table``, and ``otel_traces`` itself defined by ``source`` when given:
    the same SQL on a server where no view was created and on files."""
    needed = [name for name in VIEWS if re.search(rf"\b{name}\b", query)]
    if needed and "executions" not in needed:
        needed.insert(0, "executions")
    ctes = [f"{name} AS (\n{_on(VIEWS[name], table)})" for name in needed]
    if source is not None:
        ctes.insert(0, f"{TABLE} AS (\n{source})")
    if not ctes:
        return query
    lead = re.match(r"\s*(?:--[^\n]*\n\s*)*WITH\b", query, re.IGNORECASE)
    if lead:
        return f"WITH {', '.join(ctes)},\n{query[lead.end():]}"
    return f"WITH {', '.join(ctes)}\n{query}"


def _on(view: str, table: str) -> str:
    return view.replace(f"FROM {TABLE}\n", f"FROM {table}\n")


LAYOUT_VERSION = hashlib.sha256((LINE_STRUCTURE + SPAN_ROWS).encode()).hexdigest()[:8]
"""Names this reading of OTLP JSON: a columnar copy made by another is made again."""
