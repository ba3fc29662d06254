"""The benchmarks still run: each one at a tiny size, in a process of its own, prints its
figures (nothing is asserted on time). Left out: ``bench_export.py`` (needs the backends) and
``bench_instructions.py`` (needs valgrind, minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_fsm

BENCH = Path(__file__).resolve().parent.parent / "bench"

RUNS = {
    "bench_core.py": (["--calls", "20", "--rounds", "1"], "store, added to a span otel_exec"),
    "bench_peers.py": (["--calls", "20", "--rounds", "1"], "otel_exec @traced (store on)"),
    "bench_falyx.py": (["--calls", "2", "--rounds", "1"], "falyx Action, added"),
    "bench_fsm.py": (["--runs", "2", "--rounds", "1"], "added per span made  "),
    "bench_routilux.py": (["--jobs", "1", "--rounds", "1"], "added per routine execution"),
    "bench_gc.py": (["--executions", "2000"], "first read"),
    "bench_load.py": (["--spans", "500", "--rounds", "1"], "x the floor"),
    "bench_view.py": (["--spans", "300"], "first paint"),
    "bench_calls.py": ([], "routilux (routine execution)"),
    "bench_values.py": (["--calls", "2", "--rounds", "1"], "built-in policy / bare span"),
    "bench_startup.py": (["--rounds", "1"], "adds"),
    "bench_sql.py": (["--spans", "500", "--rounds", "1"], "engine from the copy"),
}
WITH_FSM = {"bench_fsm.py", "bench_calls.py"}


@pytest.mark.parametrize("script", [pytest.param(name, marks=needs_fsm if name in WITH_FSM else ())
                                    for name in sorted(RUNS)])
def test_bench_runs_and_reports(script: str) -> None:
    arguments, expected = RUNS[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *arguments],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout, done.stdout[-2000:]
