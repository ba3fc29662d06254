"""The ``otel-exec`` command: the demo, and summary / tree / stats / history / jobs of a trace file.

Every command reads OTLP JSON lines (``otel_exec.save``, ``configure(file=...)``, or an
OpenTelemetry Collector's file exporter). User errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import re
import sys
from itertools import islice
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console

from otel_exec import semconv

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from otel_exec.execution import Execution
    from otel_exec.views import Views
    from otel_exec.views.registry import Selection
    from otel_exec.views.stats import NameStats

_EPILOG = """examples:
  otel-exec demo                              run the example workflows, traced, and show them
  otel-exec summary traces.jsonl              the falyx-style history table
  otel-exec summary traces.jsonl --status error --name deploy
  otel-exec summary traces.jsonl --result-index 3
  otel-exec summary a.jsonl b.jsonl.gz --since 2026-12-01T08:00 --slowest 20
  otel-exec tree traces.jsonl --trace 4bf92f3577b34da6a3ce929d0e0e4736
  cat traces.jsonl | otel-exec stats -
  otel-exec stats traces.jsonl --json         per name: count, failures, p50/p95/max, total
  otel-exec history traces.jsonl              dataknobs-fsm runs
  otel-exec jobs traces.jsonl                 routilux jobs
  otel-exec tail traces.jsonl --status error  follow a live file (configure(file=...))
  otel-exec view traces.jsonl -o trace.html   one HTML page: waterfall, details, framework tabs
  otel-exec sql traces.jsonl "SELECT * FROM fsm_steps WHERE NOT success"
                                              SQL over traces (pip install 'otel-exec[sql]')
  otel-exec doctor                            versions, provider, exporters, what is instrumented
"""


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _print_json_object(items: Iterable[tuple[str, Any]]) -> None:
    """``_print_json(dict(items))``, written an item at a time (the same text, without the
    whole object in memory)."""
    write = sys.stdout.write
    first = True
    for key, value in items:
        text = json.dumps(value, indent=2, default=str).replace("\n", "\n  ")
        write(f"{'{' if first else ','}\n  {json.dumps(key)}: {text}")
        first = False
    write("{}\n" if first else "\n}\n")


def _summary(views: Views, options: argparse.Namespace, console: Console) -> int:
    """One execution looked up by index (its result, or its row), among every span read: the
    filters apply to what was found, so an index means one execution under every filter. A
    lookup that finds nothing is exit status 2 with falyx's message."""
    selection = views.registry.select(
        options.name or "", options.index, options.result_index, options.last_result,
        options.status, _limit(options))
    matches = _matcher(options)
    found = selection.result or next(iter(selection.executions), None)
    if matches is not None and found is not None and not matches(found):
        raise LookupError(f"no executions match {_filters(options)}")
    return _show_selection(selection, options, console)


TABLE_ROWS = 1000
"""Rows of the ``summary`` table when no ``--limit`` is given (Rich draws about 1,000 rows a
second here); ``--json`` lists every row unless limited."""


def _limit(options: argparse.Namespace, default: int = TABLE_ROWS) -> int | None:
    """``summary``'s row limit (``tree``'s trace limit, with its default): None for all."""
    if options.limit is None:
        return None if options.json else default
    return options.limit if options.limit > 0 else None


TREE_TRACES = 200
"""Traces ``otel-exec tree`` draws when no ``--limit`` (or ``--trace``) is given."""


def _by_index(options: argparse.Namespace) -> bool:
    """Whether ``summary`` looks an execution up by index (which needs every span in memory;
    every other request reads the files as a stream)."""
    by_result = options.result_index is not None and options.result_index >= 0
    return not options.last_result and (by_result or (
        not options.name and options.index is not None and options.index >= 0))


def _show_selection(selection: Selection, options: argparse.Namespace,
                    console: Console) -> int:
    from otel_exec.render import result_view, summary_table

    if selection.missing is not None:
        raise LookupError(selection.missing)
    if not selection.executions and selection.result is None and _filters(options):
        raise LookupError(f"no executions match {_filters(options)}")
    found = selection.result
    if options.json:
        if found is not None:
            _print_json({"signature": found.signature, "result": found.result_text,
                         "traceback": found.traceback})
        else:
            _print_json([e.to_dict() for e in selection.executions])
    elif found is not None:
        console.print(result_view(found))
    else:
        console.print(summary_table(selection.executions, title=selection.title,
                                    hidden=selection.hidden))
    return 0


TREES_PER_PRINT = 256
"""Trace trees rendered at a time by ``otel-exec tree``."""


def _tree(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import trace_trees
    from otel_exec.views.tree import forest

    store = views.store
    if options.trace is not None and not store.by_trace(options.trace):
        raise LookupError(f"no trace {options.trace} among the spans read")
    if options.json:
        _print_json_object((trace, forest(store.by_trace(trace))) for trace in store.trace_ids())
    else:
        trees = trace_trees(store, options.trace)
        while batch := list(islice(trees, TREES_PER_PRINT)):  # memory: a batch, not the file
            console.print(*batch)
    return 0


def _stats(executions: Iterable[Execution], options: argparse.Namespace,
           console: Console) -> int:
    from otel_exec.views.stats import stats

    return _show_stats(stats(executions), options, console)


def _show_stats(rows: list[NameStats], options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import stats_table

    if not rows and _filters(options):
        raise LookupError(f"no executions match {_filters(options)}")
    if options.slowest is not None:
        rows = sorted(rows, key=lambda row: row.max, reverse=True)[:options.slowest]
    if options.json:
        _print_json([row.to_dict() for row in rows])
    else:
        console.print(stats_table(rows))
    return 0


def _history(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import literal

    histories = views.history.histories()
    if not histories and not options.json:
        console.print("No dataknobs-fsm runs in the trace (nothing to show).")
        return 0
    if options.json:
        _print_json([history.to_dict() for history in histories])
        return 0
    for history in histories:
        summary = history.get_summary()
        console.print(literal(history.fsm_name, "bold").append_text(literal(
            f" {history.execution_id}: {summary['total_steps']} steps, "
            f"{summary['failed_steps']} failed, {summary['skipped_steps']} skipped, "
            f"{summary['total_paths']} path(s)")))
        for path in history.get_all_paths():
            console.print(literal("  " + " → ".join(f"{step.state_name} ({step.status.value})"
                                                    for step in path)))
        progress = summary["stream_progress"]
        if progress["streams_processed"]:
            console.print(literal(f"  streamed: {progress['streams_processed']} stream(s), "
                                  f"{progress['total_chunks']} chunk(s), "
                                  f"{progress['total_records']} record(s)", "dim"))
    return 0


def _jobs(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import literal

    states, trackers = views.job_state, views.tracker
    jobs = states.jobs()
    if not jobs and not options.json:
        console.print("No routilux jobs in the trace (nothing to show).")
        return 0
    rows = [(job, states(job.span_id), trackers(job.span_id)) for job in jobs]
    if options.json:
        _print_json([{**state.serialize(), "duration": job.duration,
                      "performance": tracker.get_performance_metrics()}
                     for job, state, tracker in rows])
        return 0
    for job, state, tracker in rows:
        performance = tracker.get_flow_performance()
        took = "" if job.duration is None else f" in {job.duration:.3f}s"
        console.print(literal(state.flow_id, "bold").append_text(literal(
            f" job {state.job_id}: {state.status}{took}, {performance['total_routines']} "
            f"routines ({performance['total_execution_time']:.3f}s running), "
            f"{performance['total_events']} deliveries")))
        if job.status_description and not job.success:
            console.print(literal(f"  {job.status_description}", "red"))
        for routine_id, routine_state in state.routine_states.items():
            errors = routine_state["errors"]
            line = literal(f"  {routine_id}: last {routine_state['status']}, "
                           f"{routine_state['executions']} run(s)")
            if errors:
                line.append(f", {errors} error(s)", style="red")
            console.print(line)
    return 0


TAIL_REMEMBERS = 100_000
"""Span ids ``tail`` remembers, so a span written twice (a file appended to again, a
collector retrying) is shown once."""


def _tail(options: argparse.Namespace, console: Console) -> int:
    """Follow a trace file: one line per execution as it completes; Ctrl-C ends it."""
    from otel_exec.render import literal, status_label
    from otel_exec.trace_files import TraceFileError, follow

    try:
        matches = _matcher(options)
        seen: dict[tuple[Any, ...], None] = {}  # the newest spans shown: each once

        def ready() -> None:
            sys.stderr.write(f"otel-exec tail: following {options.files[0]} (Ctrl-C ends)\n")
            sys.stderr.flush()

        for batch in follow(options.files[0], from_start=options.from_start, idle=options.idle,
                            ready=ready):
            if isinstance(batch, TraceFileError):
                sys.stderr.write(f"otel-exec tail: {batch} (skipped)\n")
                continue
            for execution in batch if matches is None else filter(matches, batch):
                key = (execution._trace_id, execution._span_id, execution.end_ns,
                       execution.name)
                if key in seen:
                    continue
                seen[key] = None
                if len(seen) > TAIL_REMEMBERS:
                    del seen[next(iter(seen))]
                line = literal(f"{execution.start_datetime:%H:%M:%S}  {execution.name}", "bold")
                line.append_text(literal(f"  {execution.kind}  ", "dim"))
                line.append_text(status_label(execution))
                line.append(f"  {execution.duration or 0:.3f}s", style="dim")
                error = None if execution.success else (execution.exception_text
                                                        or execution.status_description)
                if error:
                    line.append_text(literal(f"  {error}", "red"))
                console.print(line, soft_wrap=True)
    except KeyboardInterrupt:
        return 0
    return 0


def _view(views: Views, options: argparse.Namespace, console: Console) -> int:
    """Write the self-contained HTML page of the spans read."""
    from otel_exec.render import literal
    from otel_exec.viewer import write_page

    title = ", ".join("stdin" if name == "-" else name for name in options.files)
    path = write_page(views.store, options.output, title=f"otel-exec · {title}",
                      max_spans=options.max_spans or None)
    console.print(literal(f"✓ {len(views.store):,} spans → {path} (self-contained: open it "
                          "in any browser)"), soft_wrap=True)
    return 0


_COMMANDS = {"summary": _summary, "tree": _tree, "history": _history, "jobs": _jobs,
             "view": _view}
_ENGINE_COMMANDS = ("summary", "stats", "history", "jobs")
"""The commands that can run in a SQL engine (``--sql``, ``--clickhouse``)."""


def _through_engine(options: argparse.Namespace, console: Console) -> int:
    """``summary``, ``stats``, ``history`` or ``jobs`` answered by a SQL engine: the same rows
    and verdicts as read into memory, from the rows the engine selects."""
    from otel_exec.trace_files import store_of
    from otel_exec.trace_sql import queries
    from otel_exec.views import Views

    own = options.command == "summary"  # falyx's --name and --status: the registry's own
    filters = queries.Filters(
        options.trace, None if own else options.name, options.kind, options.framework,
        options.service, "all" if own else options.status, options.attr or (),
        options.since, options.until)
    with queries.open_engine(options.files, options.clickhouse, options.table,
                             cache=not options.no_cache) as engine:
        if options.command == "stats":
            return _show_stats(queries.stats(engine, filters), options, console)
        if options.command == "summary":
            return _show_selection(queries.registry(
                engine, filters, options.name or "", options.index, options.result_index,
                options.last_result, options.status, _limit(options), options.slowest),
                options, console)
        spans = queries.spans_with(engine, *_VIEW_ROOTS[options.command], filters)
        if not spans and _filters(options) and not queries.any_match(engine, filters):
            raise LookupError(f"no executions match {_filters(options)}")
    return _COMMANDS[options.command](Views(store_of(spans)), options, console)


SQL_TABLE_ROWS = 1000
"""Rows of a ``sql`` answer drawn as a table (``--csv`` and ``--json`` write every row)."""


def _sql(options: argparse.Namespace, console: Console) -> int:
    """``otel-exec sql``: a query over otel_traces and the views, as a table, CSV or JSON."""
    from otel_exec.render import literal
    from otel_exec.trace_sql import queries

    *files, query = options.arguments
    with queries.open_engine(files, options.clickhouse, options.table, options.allow_write,
                             cache=not options.no_cache) as engine:
        if options.csv or options.json:
            sys.stdout.buffer.write(engine.run(query, "CSVWithNames" if options.csv
                                               else "JSONEachRow"))
            return 0
        result = queries.fetch(engine, query)
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE, caption=None if len(result.rows) <= SQL_TABLE_ROWS else (
        f"{len(result.rows) - SQL_TABLE_ROWS:,} more rows: add LIMIT, or use --csv / --json"))
    for column, kind in zip(result.columns, result.types, strict=True):
        table.add_column(literal(column), justify="right" if re.match(
            r"(Nullable\()?(U?Int|Float|Decimal)", kind) else "left", overflow="fold")
    for row in result.rows[:SQL_TABLE_ROWS]:
        table.add_row(*(literal("NULL" if value is None else value if isinstance(value, str)
                                else json.dumps(value, default=str)) for value in row))
    console.print(table)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _trace_id(text: str) -> str:
    """A trace id as ``--trace`` takes it: 32 hex digits."""
    if len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a trace id (32 hex digits)")
    return text.lower()


def _parser() -> argparse.ArgumentParser:
    from otel_exec import __version__

    parser = _Parser(
        prog="otel-exec", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Executions of falyx, dataknobs-fsm and routilux as OpenTelemetry spans.")
    parser.add_argument("--version", action="version", version=f"otel-exec {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = commands.add_parser(
        "demo", help="run the example workflows of every installed framework, traced",
        description="Run the example workflows of every installed framework on the embedded "
                    "default (in-memory store, no server), print the history and the trees and "
                    "write the trace file. Exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT "
                    "is set.", epilog="example:\n  otel-exec demo --output run.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--output", default="otel-exec-demo.jsonl",
                      help="trace file to write (default: %(default)s)")
    reading = _Parser(add_help=False)
    reading.add_argument("files", nargs="*", metavar="FILE",
                         help="OTLP JSON lines files (- for standard input, .gz read as gzip)")
    found = reading.add_argument_group("filters (a span is kept when it matches them all)")
    found.add_argument("--trace", type=_trace_id, help="only this trace id (32 hex digits)")
    found.add_argument("--name", help="only executions with this name")
    found.add_argument("--kind", help="only this exec.kind (action, step, routine, job...)")
    found.add_argument("--attr", type=_attribute, action="append", metavar="NAME=VALUE",
                       help="only executions with this attribute (otel_exec.attributes); "
                            "repeat for several")
    found.add_argument("--framework", help="only this framework (falyx, dataknobs_fsm, "
                                           "routilux, python)")
    found.add_argument("--service", help="only spans of this service.name")
    found.add_argument("--status", choices=("all", "success", "error"), default="all",
                       help="only successes or only errors")
    found.add_argument("--since", type=_moment, help="only executions that started at or after "
                                                     "this time (ISO 8601 or epoch seconds)")
    found.add_argument("--until", type=_moment, help="only executions that started before this "
                                                     "time")
    helps = {"summary": "the falyx-style execution history of trace files",
             "tree": "the execution trees of trace files",
             "stats": "per name: count, failures, p50 / p95 / max and total duration",
             "history": "dataknobs-fsm runs (ExecutionHistory) of trace files",
             "jobs": "routilux jobs (JobState, ExecutionTracker) of trace files",
             "view": "one self-contained HTML page of trace files: waterfall, details, tabs"}
    for name, text in helps.items():
        first = "-o trace.html" if name == "view" else "--json"
        command = commands.add_parser(
            name, help=text, description=text[0].upper() + text[1:] + ".", parents=[reading],
            epilog=f"examples:\n  otel-exec {name} traces.jsonl {first}\n"
                   f"  otel-exec {name} a.jsonl b.jsonl.gz --since 2026-12-01T08:00 "
                   "--status error\n  cat traces.jsonl | otel-exec " + name + " -",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        if name != "view":
            command.add_argument("--json", action="store_true", help="machine-readable output")
        if name in _ENGINE_COMMANDS:
            _engine_arguments(command.add_argument_group(
                "SQL engine (the same rows, computed by ClickHouse)"), sql=True)
        if name in ("summary", "stats"):
            command.add_argument("--slowest", type=int, metavar="N",
                                 help="only the N slowest executions (summary) or names (stats)")
        if name == "tree":
            command.add_argument("--limit", type=int, metavar="N",
                                 help=f"traces at most, the newest kept (default: {TREE_TRACES} "
                                      "drawn, every trace in --json; 0: every trace); the "
                                      "traces not shown are never held in memory")
        if name == "summary":
            command.add_argument("--index", type=int, help="only the execution with this index")
            command.add_argument("--result-index", type=int,
                                 help="print that execution's result or traceback")
            command.add_argument("--last-result", action="store_true",
                                 help="print the newest result")
            command.add_argument("--limit", type=int, metavar="N",
                                 help=f"rows at most, the newest kept (default: {TABLE_ROWS} "
                                      "in the table, every row in --json; 0: every row); the "
                                      "rows not shown are never held in memory")
        if name == "view":
            from otel_exec.viewer import MAX_SPANS

            command.add_argument("-o", "--output", default="otel-exec-trace.html",
                                 help="the HTML file to write (default: %(default)s)")
            command.add_argument("--max-spans", type=int, default=MAX_SPANS, metavar="N",
                                 help="refuse more spans than this, naming the filters to use "
                                      "(0: no bound; default %(default)s)")
    asked = commands.add_parser(
        "sql", help="SQL over trace files or a ClickHouse server: otel_traces and the views",
        usage="otel-exec sql [options] [FILE ...] QUERY",
        description="Run a query over otel_traces (the collector's ClickHouse exporter layout) "
                    "and the views executions, falyx_history, fsm_runs, fsm_steps, "
                    "routilux_jobs, routilux_routines: on trace files in embedded ClickHouse "
                    "(pip install 'otel-exec[sql]'), or on a ClickHouse server fed by the "
                    "collector (--clickhouse; pip install 'otel-exec[clickhouse]').",
        epilog="examples:\n"
               "  otel-exec sql traces.jsonl \"SELECT name, count() FROM falyx_history "
               "GROUP BY name\"\n"
               "  otel-exec sql 'logs/*.jsonl.gz' \"SELECT * FROM fsm_steps WHERE "
               "state_name = 'score' AND NOT success\"\n"
               "  CLICKHOUSE_PASSWORD=... otel-exec sql --clickhouse https://ch:8443/otel "
               "\"SELECT * FROM routilux_jobs WHERE status = 'running'\"",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    asked.add_argument("arguments", nargs="+", metavar="[FILE ...] QUERY",
                       help="trace files (globs are expanded; none with --clickhouse), then "
                            "the query")
    output = asked.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON lines, every row")
    output.add_argument("--csv", action="store_true", help="CSV with a header, every row")
    _engine_arguments(asked, sql=False)
    asked.add_argument("--allow-write", action="store_true",
                       help="let statements other than reads run on the server")
    commands.add_parser(
        "doctor", help="what this installation can trace, and where spans would go",
        description="Print the Python, OpenTelemetry and framework versions, the tracer "
                    "provider, exporters and sampler that the OTEL_* variables give, which "
                    "frameworks can be instrumented, and whether otel_exec's fast paths are on. "
                    "In a program: otel_exec.doctor(), or OTEL_EXEC_DOCTOR=1 to print it at "
                    "exit.")
    from otel_exec import serve

    served = commands.add_parser(
        "serve", help="a local OTLP/HTTP endpoint and the live viewer page of what arrives",
        description="Receive OTLP/HTTP traces (protobuf or JSON, gzip) from any OpenTelemetry "
                    "program or collector at /v1/traces and show them on the viewer page at /, "
                    "kept up to date, until Ctrl-C. Another host than 127.0.0.1 needs a token.",
        epilog="examples:\n  otel-exec serve --file traces.jsonl\n"
               "  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_program.py",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    served.add_argument("--host", default=serve.DEFAULT_HOST,
                        help="address to listen on (default: %(default)s)")
    served.add_argument("--port", type=int, default=serve.DEFAULT_PORT,
                        help="port (default: %(default)s, OTLP/HTTP's; 0: any free one)")
    served.add_argument("--grpc-port", type=int, metavar="PORT",
                        help="also receive OTLP/gRPC on this port (4317 is OTLP/gRPC's)")
    served.add_argument("--file", help="also append what arrives to this trace file")
    served.add_argument("--max-spans", type=int, default=serve.DEFAULT_MAX_SPANS, metavar="N",
                        help="executions kept, the oldest dropped first (default: %(default)s)")
    served.add_argument("--max-mb", type=int, default=serve.DEFAULT_MAX_BYTES // 2**20,
                        metavar="MB", help="span data kept at most, about (default: "
                                           "%(default)s MB; the oldest dropped first)")
    served.add_argument("--token", help="required from clients and the page (default: none on "
                                        "a loopback address, else one made and printed)")
    following = _Parser(add_help=False)
    following.add_argument("files", nargs=1, metavar="FILE",
                           help="the trace file to follow (an existing regular file, not - "
                                "or .gz)")
    for action in found._group_actions:
        following._add_action(action)
    tail = commands.add_parser(
        "tail", help="follow a trace file: each execution as it completes",
        description="Follow a trace file written by configure(file=...): print each execution "
                    "as it completes, until Ctrl-C. Survives the file being rotated.",
        parents=[following], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  otel-exec tail traces.jsonl --status error\n"
               "  otel-exec tail traces.jsonl --from-start --idle 5")
    tail.add_argument("--from-start", action="store_true",
                      help="print what the file holds already, then follow it")
    tail.add_argument("--idle", type=_seconds, metavar="SECONDS",
                      help="stop after this long without a new execution")
    return parser


def _serve(options: argparse.Namespace) -> int:
    from pathlib import Path

    from otel_exec.serve import serve

    if options.max_spans < 1 or options.max_mb < 1 or not 0 <= options.port < 65536:
        sys.stderr.write("otel-exec serve: --max-spans and --max-mb must be 1 or more and "
                         "--port 0-65535\n")
        return 2
    if options.file is not None and not _writable(options.file):
        sys.stderr.write(f"otel-exec serve: cannot write {options.file!r}\n")
        return 2
    try:
        return serve(options.host, options.port, max_spans=options.max_spans,
                     file=None if options.file is None else Path(options.file),
                     max_bytes=options.max_mb * 2**20, token=options.token,
                     grpc_port=options.grpc_port)
    except OSError as exc:
        sys.stderr.write(f"otel-exec serve: cannot listen on {options.host}:{options.port} "
                         f"({exc.strerror or exc})\n")
        return 2


def _engine_arguments(group: Any, sql: bool) -> None:
    """The options that choose and tune the SQL engine."""
    if sql:
        group.add_argument("--sql", action="store_true",
                           help="compute this in embedded ClickHouse (pip install "
                                "'otel-exec[sql]'): files read by the engine, not by Python")
    group.add_argument("--clickhouse", metavar="URL",
                       help="a ClickHouse server instead of files: http(s)://host[:port]/db "
                            "(credentials from CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)")
    group.add_argument("--table", default="otel_traces",
                       help="the traces table on the server (default: %(default)s)")
    group.add_argument("--no-cache", action="store_true",
                       help="read large files again instead of keeping a columnar copy beside "
                            "them")


def _writable(path: str) -> bool:
    """Whether ``path`` can be written: its folder exists and takes files, and the file, if it
    exists, is a writable regular file."""
    import os
    from pathlib import Path

    target = Path(path)
    folder = target.parent
    if target.exists():
        return target.is_file() and os.access(target, os.W_OK)
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _filters(options: argparse.Namespace) -> str:
    """The filters given, as typed (for "no executions match ...")."""
    given = [f"--{name} {value}" for name, value in (
        ("trace", options.trace), ("name", options.name), ("kind", options.kind),
        ("framework", options.framework), ("service", options.service),
        ("since", options.since), ("until", options.until)) if value is not None]
    given += [f"--attr {name}={value}" for name, value in options.attr or ()]
    if options.status != "all":
        given.append(f"--status {options.status}")
    return " ".join(given)


def _attribute(text: str) -> tuple[str, str]:
    """``NAME=VALUE``: an attribute an execution must have, compared as text."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def _has_attribute(name: str, value: str) -> Callable[[Execution], bool]:
    """Whether an execution has attribute ``name`` equal to ``value`` as text."""
    return lambda e: name in e.attributes and str(e.attributes[name]) == value


def _seconds(text: str) -> float:
    """A duration: a finite number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _moment(text: str) -> float:
    """A time given as epoch seconds or ISO 8601 (local time when it has no zone)."""
    from datetime import datetime

    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return value
        raise argparse.ArgumentTypeError(f"{text!r} is not a time")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None


def _matcher(options: argparse.Namespace) -> Callable[[Execution], bool] | None:
    """Whether an execution passes the filters given (None when none is: every span passes);
    summary's --name and --status are falyx's own, applied by the registry view."""
    from otel_exec.render import keep

    trace = (options.trace or "").lower() or None
    own = options.command == "summary"
    tests: list[Callable[[Execution], bool]] = []
    if trace is not None:
        tests.append(lambda e: e.trace_id == trace)
    if options.kind is not None:
        tests.append(lambda e: e.kind == options.kind)
    if options.framework is not None:
        tests.append(lambda e: e.framework == options.framework)
    if options.service is not None:
        tests.append(lambda e: e.service == options.service)
    if not own and options.name is not None:
        tests.append(lambda e: e.name == options.name)
    if not own and options.status != "all":
        tests.append(lambda e: keep(e, options.status))
    for name, value in options.attr or ():
        tests.append(_has_attribute(name, value))
    if options.since is not None:
        tests.append(lambda e: e.start_time >= options.since)
    if options.until is not None:
        tests.append(lambda e: e.start_time < options.until)
    if not tests:
        return None
    return lambda e: all(test(e) for test in tests)


def _spans(options: argparse.Namespace, notes: list[str]) -> Iterable[Execution]:
    """The spans of the files that pass the filters, read as a stream."""
    from otel_exec.trace_files import iter_traces

    spans = iter_traces(*options.files, notes=notes)
    matches = _matcher(options)
    return spans if matches is None else filter(matches, spans)


_VIEW_ROOTS = {"history": (semconv.FRAMEWORK_DATAKNOBS_FSM, (
                   semconv.KIND_FSM_RUN, semconv.KIND_BATCH, semconv.KIND_STREAM)),
               "jobs": (semconv.FRAMEWORK_ROUTILUX, (semconv.KIND_JOB,))}
"""The framework whose spans alone a command's view is built from (runs, steps, resources,
chunks; jobs and routines), and the kinds of the view's roots: only those spans are held, not
the rest of the file."""


def _held(matches: Callable[[Execution], bool] | None, framework: str | None,
          matched: list[bool]) -> Callable[[Execution], bool] | None:
    """What a command holds of the spans read: those that match, and of those only
    ``framework``'s when given; ``matched`` gets an item when any span matched at all."""
    if framework is None:
        return matches

    def keep(execution: Execution) -> bool:
        if matches is not None and not matches(execution):
            return False
        if not matched:
            matched.append(True)
        return execution.framework == framework

    return keep


def _bounded(matches: Callable[[Execution], bool] | None,
             options: argparse.Namespace) -> Callable[[Execution], bool] | None:
    """``view --max-spans N``: stop reading (TooManySpans) at the first span past the bound."""
    bound = getattr(options, "max_spans", 0)
    if not bound:
        return matches
    from otel_exec.viewer import TooManySpans, too_many

    kept = 0

    def keep(execution: Execution) -> bool:
        nonlocal kept
        if matches is not None and not matches(execution):
            return False
        kept += 1
        if kept > bound:
            raise TooManySpans(too_many(f"more than {bound:,}", bound))
        return True

    return keep


def _refused(command: str, error: Exception) -> int:
    """A user error as one line on stderr (a lookup's message without the quotes a KeyError
    adds); exit status 2."""
    message = str(error).strip("'\"") if isinstance(error, LookupError) else str(error)
    sys.stderr.write(f"otel-exec {command}: {message}\n")
    return 2


def _run_engine(options: argparse.Namespace) -> int:
    """A command answered by a SQL engine; its errors are one line and exit status 2."""
    from otel_exec.trace_files import TraceFileError
    from otel_exec.trace_sql import SqlError

    try:
        if options.command == "sql":
            return _sql(options, Console())
        return _through_engine(options, Console())
    except (TraceFileError, LookupError, SqlError) as error:
        return _refused(options.command, error)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otel-exec``; returns the exit status: 0, or 2 for a file that cannot be
    read or a lookup that finds nothing (one line on stderr); 1 is only ever our own bug."""
    options = _parser().parse_args(argv)
    if options.command is None:
        _parser().print_help()
        return 0
    if options.command == "doctor":
        from otel_exec.diagnostics import doctor

        doctor()
        return 0
    output = getattr(options, "output", None)
    if output is not None and not _writable(output):
        sys.stderr.write(f"otel-exec {options.command}: cannot write {output}: no such folder "
                         "or not writable\n")
        return 2
    if options.command == "demo":
        from otel_exec import demo

        return demo.run(output=options.output)
    if options.command == "serve":
        return _serve(options)
    if options.command == "sql" or (options.command in _ENGINE_COMMANDS and (
            options.sql or options.clickhouse)):
        return _run_engine(options)
    if options.command == "tail":
        from pathlib import Path

        from otel_exec.trace_files import TraceFileError

        followed = options.files[0]
        if followed == "-" or followed.endswith(".gz") or not Path(followed).is_file():
            why = ("follows a file, not standard input or .gz (summary and tree read those)"
                   if followed == "-" or followed.endswith(".gz") else "no such file")
            sys.stderr.write(f"otel-exec tail: {followed}: {why}\n")
            return 2
        try:
            return _tail(options, Console())
        except TraceFileError as error:
            sys.stderr.write(f"otel-exec tail: {error}\n")
            return 2
    from otel_exec.trace_files import TraceFileError, iter_traces, read_traces, store_of
    from otel_exec.views import Views
    from otel_exec.views.registry import select_streamed

    if not options.files:
        sys.stderr.write(f"otel-exec {options.command}: give trace files (- for standard "
                         "input)\n")
        return 2
    notes: list[str] = []
    # Reading makes millions of short-lived objects and no reference cycles; with the cycle
    # collector on, each full collection walks the ever larger set of span ids seen (a third
    # of the time at a million spans). Off for this short-lived process's reading.
    gc.disable()
    try:
        if options.command == "stats":  # aggregated as the file is read: no span is held
            return _stats(_spans(options, notes), options, Console())
        if options.command == "summary":  # filtered after numbering: one index per row
            if not _by_index(options):  # the rows shown only
                return _show_selection(select_streamed(
                    iter_traces(*options.files, notes=notes), options.name or "",
                    options.last_result, options.status, _limit(options), options.slowest,
                    keep=_matcher(options)), options, Console())
            data = read_traces(*options.files)
            notes = data.notes
            return _summary(Views(store_of(data.executions)), options, Console())
        matched: list[bool] = []
        most_traces = (_limit(options, TREE_TRACES)
                       if options.command == "tree" and options.trace is None else None)
        data = read_traces(*options.files, keep=_held(
            _bounded(_matcher(options), options),
            _VIEW_ROOTS[options.command][0] if options.command in _VIEW_ROOTS else None, matched),
            most_traces=most_traces)
        notes = data.notes
        if most_traces is not None and data.older_traces:
            notes.append(f"the newest {most_traces:,} of {most_traces + data.older_traces:,} "
                         "traces shown (--limit N for more, 0 for every one; --trace ID for one)")
        if not (data.executions or matched) and _filters(options):
            raise LookupError(f"no executions match {_filters(options)}")
        views = Views(store_of(data.executions))
        return _COMMANDS[options.command](views, options, Console())
    except (TraceFileError, LookupError) as error:
        return _refused(options.command, error)
    finally:
        gc.enable()
        for note in notes:
            sys.stderr.write(f"otel-exec {options.command}: note: {note}\n")
