"""The ``otel-exec`` command."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otel-exec``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="otel-exec",
        description="Executions of falyx, dataknobs-fsm and routilux as OpenTelemetry spans.",
    )
    parser.parse_args(argv)
    parser.print_help()
    return 0
