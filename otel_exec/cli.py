"""The ``otel-exec`` command."""

from __future__ import annotations

import argparse

_EPILOG = """examples:
  otel-exec demo                      run the example workflows, traced, and show them
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otel-exec``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="otel-exec", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Executions of falyx, dataknobs-fsm and routilux as OpenTelemetry spans.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "demo", help="run the example workflows of every installed framework, traced",
        description="Run the example workflows of every installed framework on the embedded "
                    "default (in-memory store, no server) and print the history and the trees. "
                    "Exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.")
    options = parser.parse_args(argv)
    if options.command == "demo":
        from otel_exec import demo

        return demo.run()
    parser.print_help()
    return 0
