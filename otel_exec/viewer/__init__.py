"""``otel-exec view`` and ``otel_exec.view()``: one self-contained HTML page of traces.

The page holds its data, script and style inline and a Content-Security-Policy that forbids
every request, so it opens from disk in any browser and can be mailed as an attachment. Every
string that came from the program is put into the page as JSON (``<``, ``>`` and ``&`` escaped,
so no value can close the data block) and shown with ``textContent``, never parsed as HTML, its
control characters shown as escapes by the page as the terminal views show them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from otel_exec import semconv
from otel_exec.render import outcome_text
from otel_exec.values import visible
from otel_exec.views import Views

if TYPE_CHECKING:
    from collections.abc import Sequence

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore
    from otel_exec.views.history import HistoryView

MAX_SPANS = 200_000
"""The most spans one page holds by default (about 100 MB of HTML); past it, filter the spans
(a trace, a time window, a name) or raise the bound knowingly."""

RUN_LIMIT = 500
"""FSM runs and routilux jobs shown in their tabs, newest first (every span stays in Traces)."""

_SPECIAL = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"))
"""What must not appear as itself in the data block (``str.replace`` each: ``translate`` with
a table is 100 times slower on a page of 50 MB)."""


class TooManySpans(LookupError):
    """More spans than a page should hold; the message says which filter to use."""


def too_many(count: str, bound: int) -> str:
    """What to do when ``count`` spans are more than a page of ``bound`` should hold."""
    return (f"{count} spans: more than one page should hold ({bound:,}); narrow them with "
            "--trace, --since/--until, --name, --kind or --status, or raise --max-spans")


def _json_ready(value: Any) -> Any:
    """What orjson cannot write by itself: an attribute mapping (the SDK's
    ``BoundedAttributes``) as a dict, anything else as its text."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _small_ints(value: Any) -> Any:
    """``value`` with every integer past 64 bits as its text (orjson writes no larger)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, Mapping):
        return {key: _small_ints(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_small_ints(item) for item in value]
    return value


def _spans(executions: Sequence[Execution], origin: int,
           service: str | None) -> tuple[list[list[Any]], list[str]]:
    """Each span as a compact row (times in microseconds from ``origin``), parents by
    position, traces oldest first, spans by start within a trace."""
    first_start: dict[int, int] = {}
    for execution in executions:
        trace = execution._trace_id
        first_start[trace] = min(first_start.get(trace, execution.start_ns), execution.start_ns)
    ordered = sorted(executions, key=lambda e: (first_start[e._trace_id], e._trace_id,
                                                e.start_ns))
    position = {(e._trace_id, e._span_id): i for i, e in enumerate(ordered)}
    traces: list[str] = []
    trace_number: dict[int, int] = {}
    rows: list[list[Any]] = []
    for execution in ordered:
        trace = execution._trace_id
        if trace not in trace_number:
            trace_number[trace] = len(traces)
            traces.append(execution.trace_id)
        parent, absent = -1, ""
        if execution._parent_id is not None:
            parent = position.get((trace, execution._parent_id), -1)
            if parent < 0:  # still running, or in a process that sends its spans elsewhere
                absent = f"{execution._parent_id:016x}"
        end = execution.end_ns
        rows.append([
            execution.span_id, parent, trace_number[trace], execution.name,
            execution.kind, execution.framework, execution.service or service or "",
            (execution.start_ns - origin) // 1000,
            -1 if end is None else max(0, (end - execution.start_ns) // 1000),
            execution.status.value, execution.status_description or "",
            execution.attributes,
            [[event.name, (event.timestamp - origin) // 1000, event.attributes or {}]
             for event in execution.events],
            [[position.get((link.context.trace_id, link.context.span_id), -1),
              f"{link.context.span_id:016x}", link.attributes or {}]
             for link in execution.links],
            execution.scope, absent,
        ])
    return rows, traces


def _history(store: ExecutionStore) -> list[dict[str, Any]]:
    """The registry's entries, as ``otel-exec summary`` lists them."""
    rows = []
    for entry in store.entries():
        rows.append({"index": entry.index, "name": entry.name,
                     "span": entry.span_id, "start": entry.start_time, "end": entry.end_time,
                     "duration": entry.duration, "status": entry.status.value,
                     "success": entry.success, "outcome": outcome_text(entry)})
    return rows


def _runs(view: HistoryView) -> tuple[list[dict[str, Any]], int]:
    """dataknobs-fsm runs with their paths of states, as ``otel-exec history`` prints them."""
    roots = view.roots()
    runs = []
    for root in roots[-RUN_LIMIT:]:
        history = view(root.span_id)
        summary = history.get_summary()
        runs.append({
            "fsm": history.fsm_name, "span": root.span_id, "start": root.start_time,
            "status": root.status.value,
            "summary": {key: summary[key] for key in ("total_steps", "failed_steps",
                                                      "skipped_steps", "total_paths")},
            "paths": [[{"span": step.step_id, "state": step.state_name,
                        "status": step.status.value, "arc": step.arc_taken,
                        "error": str(step.error) if step.error else None}
                       for step in path] for path in history.get_all_paths()]})
    return runs, len(roots)


def _jobs(views: Views) -> tuple[list[dict[str, Any]], int]:
    """routilux jobs with their routine states, as ``otel-exec jobs`` prints them."""
    states, trackers = views.job_state, views.tracker
    jobs = states.jobs()
    shown = []
    for job in jobs[-RUN_LIMIT:]:
        state, tracker = states(job.span_id), trackers(job.span_id)
        performance = tracker.get_flow_performance()
        last_error = {record.routine_id: record.data["error"]  # a routine that failed, then ran
                      for record in state.execution_history if record.data.get("error")}
        shown.append({
            "flow": state.flow_id, "job": state.job_id, "span": job.span_id,
            "status": state.status, "start": job.start_time,
            "routines": performance["total_routines"], "deliveries": performance["total_events"],
            "duration": job.duration, "busy": performance["total_execution_time"],
            "error": None if job.success else job.status_description,
            "states": [{"routine": routine, "status": routine_state["status"],
                        "executions": routine_state["executions"],
                        "errors": routine_state["errors"],
                        "error": routine_state.get("error") or last_error.get(routine)}
                       for routine, routine_state in state.routine_states.items()]})
    return shown, len(jobs)


def page_data(store: ExecutionStore, *, title: str, service: str | None = None,
              ) -> dict[str, Any]:
    """Everything the page shows: spans (finished, and running ones as running), and the
    falyx / FSM / routilux views of them."""
    executions = store.executions() + store.running()
    origin = min((e.start_ns for e in executions), default=0)
    spans, traces = _spans(executions, origin, service)
    views = Views(store)
    runs, run_count = _runs(views.history)
    jobs, job_count = _jobs(views)
    return {"title": title, "origin_ms": origin / 1e6,
            "written": datetime.now().astimezone().isoformat(timespec="seconds"),
            "traces": traces, "spans": spans, "history": _history(store),
            "runs": runs, "run_count": run_count, "jobs": jobs, "job_count": job_count,
            "kinds": sorted({row[4] for row in spans}),
            "frameworks": sorted({row[5] for row in spans}),
            "failed_statuses": sorted(status.value for status in semconv.ERROR_STATUSES)}


def render_page(data: Mapping[str, Any]) -> str:
    """The HTML page for ``page_data``: one file, nothing fetched (a ``live`` page, served
    by ``otel-exec serve``, asks its own server whether spans arrived, and nothing else)."""
    assets = files(__package__)
    page = assets.joinpath("page.html").read_text(encoding="utf-8")
    payload = page_json(data).decode()
    for character, escape in _SPECIAL:
        payload = payload.replace(character, escape)
    parts = {"/*STYLE*/": assets.joinpath("viewer.css").read_text(encoding="utf-8"),
             "/*SCRIPT*/": assets.joinpath("viewer.js").read_text(encoding="utf-8"),
             "{{TITLE}}": _html_text(visible(str(data["title"]))), "{{DATA}}": payload,
             "{{CONNECT}}": "; connect-src 'self'" if data.get("live") else ""}
    # one pass over the template: a part's own text (a title saying {{DATA}}) is never read
    return _PLACEHOLDER.sub(lambda found: parts[found[0]], page)


def page_json(data: Mapping[str, Any]) -> bytes:
    """``page_data`` as JSON (NaN and infinities as null, which ``JSON.parse`` takes, and
    integers past 64 bits as text)."""
    try:
        return orjson.dumps(data, default=_json_ready)
    except orjson.JSONEncodeError:
        return orjson.dumps(_small_ints(data), default=_json_ready)


_PLACEHOLDER = re.compile(r"/\*STYLE\*/|/\*SCRIPT\*/|\{\{TITLE\}\}|\{\{DATA\}\}|\{\{CONNECT\}\}")


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_page(store: ExecutionStore, path: str | Path, *, title: str = "otel-exec traces",
               service: str | None = None, max_spans: int | None = MAX_SPANS) -> Path:
    """Write the page of every execution in ``store`` to ``path``.

    Raises:
        TooManySpans: The store holds more than ``max_spans`` spans (None: no bound).
    """
    count = len(store) + len(store.running())
    if max_spans is not None and count > max_spans:
        raise TooManySpans(too_many(f"{count:,}", max_spans))
    target = Path(path)
    target.write_text(render_page(page_data(store, title=title, service=service)),
                      encoding="utf-8")
    return target
