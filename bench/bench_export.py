"""Export throughput through a real collector: spans per second from @traced calls, through the
BatchSpanProcessor and OTLP exporter, into rotel (blackhole exporter), and how many arrived.

    .venv/bin/python bench/bench_export.py [--spans 20000]        # needs `make backends`

Each protocol runs in a fresh interpreter (a fresh global provider); rotel's own "Received
traces" log lines are the count of what arrived, so drops are measured, not assumed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.pipeline import start_rotel  # noqa: E402 - after the path is set

PRODUCER = """
import sys, time
import otel_exec
otel_exec.configure(exit_timeout=30)

@otel_exec.traced
def work(i):
    return i

count = int(sys.argv[1])
started = time.perf_counter()
for i in range(count):
    work(i)
produced = time.perf_counter() - started
otel_exec.flush(60)
print(produced, time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {options.spans:,} @traced spans per protocol")
    for protocol in ("http/protobuf", "grpc"):
        with tempfile.TemporaryDirectory() as folder:
            collector = start_rotel(Path(folder), None, verbosity="basic")
            try:
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint(protocol),
                        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
                done = subprocess.run([sys.executable, "-c", PRODUCER, str(options.spans)],
                                      env=env, capture_output=True, text=True, check=True)
                produced, exported = map(float, done.stdout.split())
                time.sleep(1.0)
                received = sum(int(n) for n in re.findall(
                    r"(?<!resource_)spans=(\d+)",
                    re.sub(r"\x1b\[[0-9;]*m", "", collector.log.read_text())))
                drops = done.stderr.count("Queue full")
            finally:
                collector.stop()
        print(f"  {protocol:14} produced {options.spans / produced:9,.0f} spans/s, "
              f"exported {options.spans / exported:9,.0f} spans/s end to end, "
              f"received by the collector {received:,} / {options.spans:,}, "
              f"'Queue full' warnings {drops}")


if __name__ == "__main__":
    main()
