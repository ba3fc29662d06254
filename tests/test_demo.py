"""The README's main command, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_otel_exec_demo_runs_every_installed_framework() -> None:
    cli = Path(sys.executable).with_name("otel-exec")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"COLUMNS": "160"}
    done = subprocess.run([str(cli), "demo"], capture_output=True, text=True, timeout=120,
                          env=env, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "📊 Execution History" in out
    for expected in ("order_batch", "PaymentDeclined", "Build", "integration_tests",
                     "falyx.retry.attempt×2", "PermissionError", "chained_action"):
        assert expected in out, expected
    assert "Traceback" not in done.stderr


def test_the_cli_prints_help() -> None:
    from otel_exec.cli import main

    assert main([]) == 0
