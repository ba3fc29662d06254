"""``otel-exec demo``: the example workflows of every installed framework, traced on the
embedded default (in-memory store, no server), then the history table and the trees.

Exports over OTLP too when the standard ``OTEL_EXPORTER_OTLP_*`` variables are set.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

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
    for example in EXAMPLES:
        framework = FRAMEWORKS.get(example.framework or "")
        if framework is not None and not (framework.installed()
                                          and framework.load().is_instrumented_by_opentelemetry):
            console.print(Text(f"skipped {example.title}: pip install "
                               f"'otel-exec[{framework.extra}]'", style="yellow"))
            continue
        with console.status(f"running the {example.title} example..."):
            runpy.run_path(str(folder / example.file), run_name="otel_exec_demo")["run"]()
        console.print(f"[green]✓[/] {example.title}")
    otel_exec.summary(console=console)
    otel_exec.tree(console=console)
    if output is not None:
        written = otel_exec.save(output)
        console.print(Text("✓ ", style="green").append(
            f"{written} spans written to {output} (try: otel-exec stats {output})"))
    otel_exec.flush()
    return 0
