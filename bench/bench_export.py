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
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rotel(folder: Path) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    python = Path(os.environ.get("BACKENDS_VENV", ROOT / ".venv-backends")) / "bin" / "python"
    if not python.exists():
        sys.exit("no backends virtualenv: run `make backends`")
    agent = Path(subprocess.check_output(
        [str(python), "-c", "import rotel, os; print(os.path.dirname(rotel.__file__))"],
        text=True).strip()) / "rotel-agent"
    libdir = subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        text=True).strip()
    grpc, http, log = free_port(), free_port(), folder / "rotel.log"
    process = subprocess.Popen(
        [str(agent), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
         "--otlp-http-endpoint", f"127.0.0.1:{http}", "--exporter", "blackhole",
         "--debug-log", "traces", "--debug-log-verbosity", "basic",
         "--pid-file", str(folder / "rotel.pid"), "--log-file", str(folder / "rotel.err")],
        env={**os.environ, "LD_LIBRARY_PATH": libdir}, stdout=log.open("wb"),
        stderr=subprocess.STDOUT)
    time.sleep(0.5)
    return process, grpc, http, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {options.spans:,} @traced spans per protocol")
    for protocol in ("http/protobuf", "grpc"):
        with tempfile.TemporaryDirectory() as folder:
            process, grpc, http, log = rotel(Path(folder))
            try:
                port = grpc if protocol == "grpc" else http
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
                done = subprocess.run([sys.executable, "-c", PRODUCER, str(options.spans)],
                                      env=env, capture_output=True, text=True, check=True)
                produced, exported = map(float, done.stdout.split())
                time.sleep(1.0)
                received = sum(int(n) for n in re.findall(
                    r"(?<!resource_)spans=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())))
                drops = done.stderr.count("Queue full")
            finally:
                process.terminate()
                process.wait(10)
        print(f"  {protocol:14} produced {options.spans / produced:9,.0f} spans/s, "
              f"exported {options.spans / exported:9,.0f} spans/s end to end, "
              f"received by the collector {received:,} / {options.spans:,}, "
              f"'Queue full' warnings {drops}")


if __name__ == "__main__":
    main()
