"""Starting the real collector (rotel) from the backends virtualenv; used by the integration
tests and by bench/bench_export.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class BackendsMissing(RuntimeError):
    """The backends virtualenv (``make backends``) is not there."""


def backends_python() -> Path:
    """The backends venv's python ($BACKENDS_VENV or .venv-backends)."""
    folder = Path(os.environ.get("BACKENDS_VENV", ROOT / ".venv-backends"))
    python = folder / "bin" / "python"
    if not python.exists():
        raise BackendsMissing(f"no backends virtualenv at {folder}: run `make backends`")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Rotel:
    """A running rotel: its OTLP ports, its span log, and how to (re)start it."""

    grpc: int
    http: int
    log: Path
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def endpoint(self, protocol: str) -> str:
        return f"http://127.0.0.1:{self.grpc if protocol == 'grpc' else self.http}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        wait_for_port(self.grpc, self.process, 20)
        wait_for_port(self.http, self.process, 20)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def start_rotel(folder: Path, export_to: str | None, verbosity: str = "detailed") -> Rotel:
    """rotel on free ports, forwarding OTLP gRPC to ``export_to`` (dropping when None), and
    logging every span it receives."""
    python = backends_python()
    agent = Path(subprocess.check_output(
        [str(python), "-c", "import rotel, os; print(os.path.dirname(rotel.__file__))"],
        text=True).strip()) / "rotel-agent"
    libdir = subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        text=True).strip()
    grpc, http = free_port(), free_port()
    exporter = (["--exporter", "blackhole"] if export_to is None else
                ["--exporter", "otlp", "--otlp-exporter-endpoint", export_to,
                 "--otlp-exporter-protocol", "grpc"])
    command = [str(agent), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
               "--otlp-http-endpoint", f"127.0.0.1:{http}", *exporter,
               "--debug-log", "traces", "--debug-log-verbosity", verbosity,
               "--pid-file", str(folder / "rotel.pid"), "--log-file", str(folder / "rotel.err")]
    rotel = Rotel(grpc, http, folder / "rotel.log", command,
                  {**os.environ, "LD_LIBRARY_PATH": libdir})
    rotel.start()
    return rotel
