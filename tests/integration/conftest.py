"""Real OTLP pipeline for the integration tests: a rotel collector and an Arize Phoenix backend,
both from the backends virtualenv (``make backends``), on free loopback ports, started and
stopped by PID, every wait bounded."""

from __future__ import annotations

import json
import os
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

from tests.integration import pipeline

ROOT = Path(__file__).resolve().parents[2]


def backends_python() -> Path:
    """The backends venv's python; skipped locally, a failure under CI, when missing."""
    try:
        return pipeline.backends_python()
    except pipeline.BackendsMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


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
    ports = Phoenix(pipeline.free_port(), pipeline.free_port())
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
        pipeline.wait_for_port(ports.grpc, process, 30)
        yield ports
    finally:
        pipeline.stop(process)
        log.close()


@pytest.fixture
def rotel(phoenix: Phoenix, tmp_path: Path) -> Iterator[pipeline.Rotel]:
    backends_python()
    collector = pipeline.start_rotel(tmp_path, f"http://127.0.0.1:{phoenix.grpc}")
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

