"""``otel-exec demo``: the example workflows of every installed framework, traced on the
embedded default (in-memory store, no server), then the history table and the trees.

Exports over OTLP too when the standard ``OTEL_EXPORTER_OTLP_*`` variables are set.
"""

from __future__ import annotations

import contextlib
import logging
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

import otel_exec
from otel_exec.instrumentation import FRAMEWORKS

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True)
class Example:
    """One example workflow: its file under ``examples/`` and the framework it needs."""

    title: str
    file: str
    framework: str | None = None


EXAMPLES = (
    Example("plain Python (@traced)", "python_functions.py"),
    Example("falyx release CLI", "falyx_pipeline.py", "falyx"),
    Example("dataknobs-fsm loan pipeline", "fsm_pipeline.py", "dataknobs_fsm"),
    Example("routilux order flow", "routilux_flow.py", "routilux"),
)


def examples_dir() -> Path | None:
    """The copy of ``examples/`` packaged inside the wheel, or ``examples/`` of a source
    checkout: whichever holds every example (another package's top-level ``examples`` folder
    in site-packages is not ours)."""
    package = Path(otel_exec.__file__).resolve().parent
    for candidate in (package / "_examples", package.parent / "examples"):
        if all((candidate / example.file).is_file() for example in EXAMPLES):
            return candidate
    return None


def run(console: Console | None = None, output: str | Path | None = "otel-exec-demo.jsonl",
        ) -> int:
    """Run every example whose framework is installed, print what was traced and write it to
    ``output`` as OTLP JSON lines. Returns the exit status."""
    console = console or Console()
    otel_exec.configure(service_name="otel-exec-demo")
    otel_exec.instrument()
    folder = examples_dir()
    if folder is None:
        console.print(Text("the example workflows are not installed with this copy of "
                           "otel-exec", style="red"))
        return 1
    shown: list[str | None] = []
    for example in EXAMPLES:
        framework = FRAMEWORKS.get(example.framework or "")
        if framework is not None and not (framework.installed()
                                          and framework.load().is_instrumented_by_opentelemetry):
            console.print(Text(f"skipped {example.title}: {framework.install_hint()}",
                               style="yellow"))
            continue
        before = set(otel_exec.store().trace_ids())
        with console.status(f"running the {example.title} example..."), _quiet_frameworks():
            runpy.run_path(str(folder / example.file), run_name="otel_exec_demo")["run"]()
        console.print(Text("✓ ", style="green").append(example.title))
        shown.append(_telling_trace(before))
    otel_exec.summary(console=console, limit=SUMMARY_ROWS)
    for trace_id in filter(None, shown):
        otel_exec.tree(trace_id, console=console)
    if output is not None:
        written = otel_exec.save(output)
        console.print(Text("✓ ", style="green").append(f"{written} spans written to {output}"))
        console.print(_next_steps(str(output)))
    otel_exec.flush()
    return 0


SUMMARY_ROWS = 20
"""Rows of the history table the demo prints (the newest; the file has them all)."""


@contextlib.contextmanager
def _quiet_frameworks() -> Iterator[None]:
    """The examples fail on purpose: keep the frameworks' own error logs off the screen (the
    spans and the trace file have every failure)."""
    loggers = [logging.getLogger(name) for name in ("falyx", "routilux", "dataknobs_fsm")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


TREE_SPANS = 40
"""The demo shows, for each example, its largest trace of at most this many spans."""


def _telling_trace(before: set[str]) -> str | None:
    """The example's most telling trace that fits a screen (the most different events and
    outcomes, then the most spans), to show as a tree."""
    store = otel_exec.store()
    scores = {}
    for trace in store.trace_ids():
        if trace not in before:
            members = store.by_trace(trace)
            telling = ({event.name for e in members for event in e.events}
                       | {e.status.value for e in members})
            scores[trace] = (len(members) <= TREE_SPANS, len(telling), len(members))
    return max(scores, key=scores.__getitem__, default=None)


def _next_steps(output: str) -> Text:
    lines = [("otel-exec summary", "--status error", "the failures, falyx-style"),
             ("otel-exec stats", "--slowest 5", "count, failures, p50 / p95 per name"),
             ("otel-exec tree", "--name order_batch", "every trace as a tree"),
             ("otel-exec history", "", "dataknobs-fsm runs and their paths"),
             ("otel-exec jobs", "", "routilux jobs and their routines"),
             ("otel-exec view", "-o demo.html", "all of it as one HTML page: open it in a browser")]
    text = Text("\nTry next:\n", style="bold")
    for command, extra, what in lines:
        text.append(f"  {command} {output} {extra}".rstrip(), style="cyan")
        text.append(f"\n      {what}\n", style="dim")
    text.append("  otel-exec serve", style="cyan")
    text.append("   then, in another terminal:  ", style="dim")
    text.append("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 otel-exec demo", style="cyan")
    text.append("\n      the page at http://127.0.0.1:4318/ follows each run as it arrives\n",
                style="dim")
    return text
