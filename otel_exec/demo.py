"""``otel-exec demo``: the example workflows of every installed framework, traced on the
embedded default (in-memory store, no server), then the history table and the trees.

Exports over OTLP too when the standard ``OTEL_EXPORTER_OTLP_*`` variables are set.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

import otel_exec
from otel_exec.instrumentation import FRAMEWORKS


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
    """``examples/`` of a source checkout, or the copy packaged inside the wheel."""
    package = Path(otel_exec.__file__).resolve().parent
    for candidate in (package.parent / "examples", package / "_examples"):
        if candidate.is_dir():
            return candidate
    return None


def run(console: Console | None = None, output: str | Path | None = "otel-exec-demo.jsonl",
        ) -> int:
    """Run every example whose framework is installed, print what was traced and write it to
    ``output`` as OTLP JSON lines. Returns the exit status."""
    console = console or Console()
    otel_exec.configure(service_name="otel-exec-demo")
    instrumented = otel_exec.instrument()
    folder = examples_dir()
    if folder is None:
        console.print("[red]the example workflows are not installed with this copy of otel-exec")
        return 1
    for example in EXAMPLES:
        if example.framework is not None and example.framework not in instrumented:
            extra = FRAMEWORKS[example.framework].extra
            console.print(f"[yellow]skipped {example.title}: pip install 'otel-exec[{extra}]'")
            continue
        with console.status(f"running the {example.title} example..."):
            runpy.run_path(str(folder / example.file), run_name="otel_exec_demo")["run"]()
        console.print(f"[green]✓[/] {example.title}")
    otel_exec.summary(console=console)
    otel_exec.tree(console=console)
    if output is not None:
        written = otel_exec.save(output)
        console.print(f"[green]✓[/] {written} spans written to {output} "
                      f"(try: otel-exec stats {output})")
    otel_exec.flush()
    return 0
