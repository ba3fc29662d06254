"""Real OTLP pipeline for the integration tests: a rotel collector and an Arize Phoenix backend,
both from the backends virtualenv (``make backends``), on free loopback ports, started and
stopped by PID, every wait bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def backends_python() -> Path:
    """The backends venv's python ($BACKENDS_VENV or .venv-backends)."""
    folder = Path(os.environ.get("BACKENDS_VENV", ROOT / ".venv-backends"))
    python = folder / "bin" / "python"
    if not python.exists():
        message = f"no backends virtualenv at {folder}: run `make backends`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
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


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@dataclass
class Phoenix:
    http: int
    grpc: int

    def spans(self, project: str, trace_id: str) -> list[dict[str, Any]]:
        url = (f"http://127.0.0.1:{self.http}/v1/projects/{project}/spans/otlpv1"
               f"?trace_id={trace_id}&limit=1000")
        try:
            return list(get_json(url)["data"])
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the project appears with its first span
                return []
            raise


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    python = backends_python()
    ports = Phoenix(free_port(), free_port())
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
           "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(ports.http),
           "PHOENIX_GRPC_PORT": str(ports.grpc), "PHOENIX_TELEMETRY_ENABLED": "false",
           "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false"}
    log = (tmp_path_factory.getbasetemp() / "phoenix.log").open("wb")
    process = subprocess.Popen([str(python.with_name("phoenix")), "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"phoenix exited with {process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{ports.http}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("phoenix did not answer /healthz in 150s") from None
                time.sleep(0.25)
        wait_for_port(ports.grpc, process, 30)
        yield ports
    finally:
        stop(process)
        log.close()


@dataclass
class Rotel:
    grpc: int
    http: int
    log: Path
    process: subprocess.Popen[bytes]
    command: list[str]
    env: dict[str, str]

    def endpoint(self, protocol: str) -> str:
        return f"http://127.0.0.1:{self.grpc if protocol == 'grpc' else self.http}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=out,
                                        stderr=subprocess.STDOUT)
        out.close()
        wait_for_port(self.grpc, self.process, 20)
        wait_for_port(self.http, self.process, 20)

    def stop(self) -> None:
        stop(self.process)


def start_rotel(folder: Path, export_to: str) -> Rotel:
    """rotel on free ports, forwarding OTLP gRPC to ``export_to``, printing every span."""
    python = backends_python()
    agent = Path(subprocess.check_output(
        [str(python), "-c", "import rotel, os; print(os.path.dirname(rotel.__file__))"],
        text=True).strip()) / "rotel-agent"
    libdir = subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        text=True).strip()
    grpc, http = free_port(), free_port()
    command = [str(agent), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
               "--otlp-http-endpoint", f"127.0.0.1:{http}", "--exporter", "otlp",
               "--otlp-exporter-endpoint", export_to, "--otlp-exporter-protocol", "grpc",
               "--debug-log", "traces", "--debug-log-verbosity", "detailed",
               "--pid-file", str(folder / "rotel.pid"), "--log-file", str(folder / "rotel.err")]
    env = {**os.environ, "LD_LIBRARY_PATH": libdir}
    rotel = Rotel(grpc, http, folder / "rotel.log", None, command, env)  # type: ignore[arg-type]
    rotel.start()
    return rotel


@pytest.fixture
def rotel(phoenix: Phoenix, tmp_path: Path) -> Iterator[Rotel]:
    collector = start_rotel(tmp_path, f"http://127.0.0.1:{phoenix.grpc}")
    try:
        yield collector
    finally:
        collector.stop()


def run_traced(script: str, env: dict[str, str], timeout: float = 120,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the project's python and only these OTEL_* variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full.update(env, PYTHONPATH=str(ROOT), COLUMNS="160")
    return subprocess.run([sys.executable, "-c", script], env=full, capture_output=True,
                          text=True, timeout=timeout, input=stdin, check=False)

