"""The ``otel-exec`` command: the demo, and summary / tree / stats / history / jobs of a trace file.

Every command reads OTLP JSON lines (``otel_exec.save``, ``configure(file=...)``, or an
OpenTelemetry Collector's file exporter). User errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from otel_exec.views import Views

_EPILOG = """examples:
  otel-exec demo                              run the example workflows, traced, and show them
  otel-exec summary traces.jsonl              the falyx-style history table
  otel-exec summary traces.jsonl --status error --name deploy
  otel-exec summary traces.jsonl --result-index 3
  otel-exec tree traces.jsonl --trace 4bf92f3577b34da6a3ce929d0e0e4736
  otel-exec stats traces.jsonl --json         per name: count, failures, p50/p95/max, total
  otel-exec history traces.jsonl              dataknobs-fsm runs
  otel-exec jobs traces.jsonl                 routilux jobs
"""


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _summary(views: Views, options: argparse.Namespace, console: Console) -> int:
    registry = views.registry
    if not options.json:
        registry.summary(name=options.name or "", index=options.index,
                         result_index=options.result_index, last_result=options.last_result,
                         status=options.status, console=console, limit=options.limit or None)
        return 0
    selection = registry.select(options.name or "", options.index, options.result_index,
                                options.last_result, options.status)
    if selection.missing is not None:
        raise LookupError(selection.missing)
    found = selection.result
    if found is not None:
        _print_json({"signature": found.signature, "result": found.result_text,
                     "traceback": found.traceback})
    else:
        _print_json([e.to_dict() for e in selection.executions])
    return 0


def _tree(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import trace_trees
    from otel_exec.views.tree import forest

    store = views.store
    if options.trace is not None and not store.by_trace(options.trace):
        raise LookupError(f"no trace {options.trace} in the file")
    if options.json:
        traces = [options.trace] if options.trace else list(store.trace_ids())
        _print_json({trace: forest(store.by_trace(trace)) for trace in traces})
    else:
        console.print(*trace_trees(store, options.trace))
    return 0


def _stats(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import stats_table
    from otel_exec.views.stats import stats

    rows = stats(views.store.executions())
    if options.json:
        _print_json([row.to_dict() for row in rows])
    else:
        console.print(stats_table(rows))
    return 0


def _history(views: Views, options: argparse.Namespace, console: Console) -> int:
    from rich.pretty import Pretty

    from otel_exec.render import literal

    histories = views.history.histories()
    if not histories:
        raise LookupError("no dataknobs-fsm runs in the file")
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
        console.print(Pretty(summary["stream_progress"]))
    return 0


def _jobs(views: Views, options: argparse.Namespace, console: Console) -> int:
    from otel_exec.render import literal

    states, trackers = views.job_state, views.tracker
    jobs = states.jobs()
    if not jobs:
        raise LookupError("no routilux jobs in the file")
    rows = []
    for job in jobs:
        state, tracker = states(job.span_id), trackers(job.span_id)
        rows.append((state, tracker))
    if options.json:
        _print_json([{**state.serialize(), "performance": tracker.get_performance_metrics()}
                     for state, tracker in rows])
        return 0
    for state, tracker in rows:
        performance = tracker.get_flow_performance()
        console.print(literal(state.flow_id, "bold").append_text(literal(
            f" job {state.job_id}: {state.status}, {performance['total_routines']} routines, "
            f"{performance['total_events']} deliveries, "
            f"{performance['total_execution_time']:.3f}s")))
        for routine_id, routine_state in state.routine_states.items():
            errors = routine_state["errors"]
            line = literal(f"  {routine_id}: last {routine_state['status']}, "
                           f"{routine_state['executions']} run(s)")
            if errors:
                line.append(f", {errors} error(s)", style="red")
            console.print(line)
    return 0


_COMMANDS = {"summary": _summary, "tree": _tree, "stats": _stats, "history": _history,
             "jobs": _jobs}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-exec", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Executions of falyx, dataknobs-fsm and routilux as OpenTelemetry spans.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the example workflows of every installed framework, traced",
        description="Run the example workflows of every installed framework on the embedded "
                    "default (in-memory store, no server), print the history and the trees and "
                    "write the trace file. Exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT "
                    "is set.", epilog="example:\n  otel-exec demo --output run.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--output", default="otel-exec-demo.jsonl",
                      help="trace file to write (default: %(default)s)")
    helps = {"summary": "the falyx-style execution history of a trace file",
             "tree": "the execution trees of a trace file",
             "stats": "per name: count, failures, p50 / p95 / max and total duration",
             "history": "dataknobs-fsm runs (ExecutionHistory) of a trace file",
             "jobs": "routilux jobs (JobState, ExecutionTracker) of a trace file"}
    for name, text in helps.items():
        command = commands.add_parser(
            name, help=text, description=text[0].upper() + text[1:] + ".",
            epilog=f"example:\n  otel-exec {name} traces.jsonl --json",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("file", help="OTLP JSON lines file")
        command.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "summary":
            command.add_argument("--name", help="only executions with this name")
            command.add_argument("--status", choices=("all", "success", "error"), default="all")
            command.add_argument("--index", type=int, help="only the execution with this index")
            command.add_argument("--result-index", type=int,
                                 help="print that execution's result or traceback")
            command.add_argument("--last-result", action="store_true",
                                 help="print the newest result")
            command.add_argument("--limit", type=int, default=1000,
                                 help="table rows at most, newest kept (0: all; default "
                                      "%(default)s; --json is never limited)")
        if name == "tree":
            command.add_argument("--trace", help="only this trace id (32 hex digits)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otel-exec``; returns the exit status."""
    options = _parser().parse_args(argv)
    if options.command is None:
        _parser().print_help()
        return 0
    if options.command == "demo":
        from otel_exec import demo

        return demo.run(output=options.output)
    from otel_exec.persist import TraceFileError, load
    from otel_exec.views import Views

    try:
        views = Views(load(options.file))
        return _COMMANDS[options.command](views, options, Console())
    except (TraceFileError, LookupError, ValueError) as error:
        message = str(error).strip("'\"")
        sys.stderr.write(f"otel-exec {options.command}: {message}\n")
        return 2
