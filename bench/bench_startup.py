"""What otel_exec adds to a program's start: fresh interpreters, side by side, interleaved.

    .venv/bin/python bench/bench_startup.py [--rounds 15]

Each round starts one new interpreter per case, in turn, and times it from the outside (wall
clock, fork to exit): ``python -c pass``, importing the OpenTelemetry SDK alone,
``import otel_exec``, and ``otel_exec.instrument()`` with every supported framework installed
but none imported by the program. The last case also checks that no framework was imported.
Medians and the figures otel_exec adds over the SDK alone are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": "pass",
    "import the OpenTelemetry SDK": "import opentelemetry.sdk.trace",
    "import otel_exec": "import otel_exec",
    "otel_exec.instrument()": (
        "import sys, otel_exec\n"
        "names = otel_exec.instrument()\n"
        "imported = [m for m in ('falyx', 'dataknobs_fsm', 'routilux') if m in sys.modules]\n"
        "assert not imported, f'instrument() imported {imported}'\n"
        "print(','.join(names))"),
}


def _run(code: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    instrumented = ""
    for code in CASES.values():  # warm the file system cache
        _run(code)
    for _ in range(rounds):
        for name, code in CASES.items():
            seconds, out = _run(code)
            samples[name].append(seconds * 1000)
            instrumented = out or instrumented
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"start-up, wall clock, median of {rounds} rounds (Python {sys.version.split()[0]}; "
          f"instrument() returned: {instrumented or 'nothing'})")
    for name, value in medians.items():
        print(f"  {name:<32} {value:8.1f} ms")
    sdk = medians["import the OpenTelemetry SDK"]
    for name in ("import otel_exec", "otel_exec.instrument()"):
        print(f"  {name} adds {medians[name] - sdk:+.1f} ms over the SDK alone")


if __name__ == "__main__":
    main()
