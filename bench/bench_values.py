"""What a value's exported text costs, side by side in one run with a bare SDK span.

    .venv/bin/python bench/bench_values.py [--calls 2000] [--rounds 7]

Every argument, keyword and result an execution captures becomes a bounded, scrubbed text
(``ValuePolicy.text``). Each value below is turned into text under the built-in policy, under
one with a secret pattern of its own (``configure(secret_patterns=...)``: every built-in shape
is searched for, with it) and under one with a name pattern of its own
(``configure(sensitive_keys=...)`` with a regular expression: any name may be a sensitive
one); a bare SDK span is timed in the same rounds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import per_call_us, report
from opentelemetry import trace

import otel_exec
from otel_exec.values import DEFAULT_SENSITIVE_KEYS, ValuePolicy, policy

VALUES: dict[str, object] = {
    "(1,)": (1,),
    "('hello', 3)": ("hello", 3),
    "a dict with an api_key": {"user": "bob", "api_key": "s3cr3t"},
    "a call's text with password=": ("connect(host='db.example.org', user='app', "
                                     "password='hunter2', timeout=30)"),
    "a 256-character log line saying 'session token'": (
        "request handled for user alice with a fresh session token and the result was cached "
        * 4),
    "256 characters of prose": "lorem ipsum dolor sit amet, consectetur adipiscing elit " * 10,
    "300 x's (a run of 40: the bare AWS key shape)": "x" * 300,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    otel_exec.configure(max_spans=10_000)
    tracer = trace.get_tracer("bench")
    policies = {"built-in policy": policy(),
                "a secret pattern of its own": ValuePolicy(secret_patterns=(r"\bpin-\d+",)),
                "a name pattern of its own": ValuePolicy(
                    sensitive_keys=(*DEFAULT_SENSITIVE_KEYS, r"pin\d*"))}

    def bare_span() -> None:
        with tracer.start_as_current_span("work"):
            pass

    cases: dict[str, Callable[[], object]] = {"bare SDK span (current)": bare_span}
    for name, value in VALUES.items():
        for label, values in policies.items():
            cases[f"{name}, {label}"] = partial(values.text, value)
    timings = per_call_us(cases, calls=options.calls, rounds=options.rounds)
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds of "
          f"{options.calls:,} calls, median, CPU µs per call")
    ratios = {f"{case} / bare span": (case, "bare SDK span (current)")
              for case in cases if case != "bare SDK span (current)"}
    report("A value's text", timings, ratios, timings.rounds)


if __name__ == "__main__":
    main()
