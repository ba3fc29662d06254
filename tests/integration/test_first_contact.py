"""What a new user runs first, as the README writes it: a wheel built from the checkout and
installed (not editable) into a new virtualenv, every command run from a folder outside the
checkout, zero-code included, against a real OTLP receiver (HTTP and gRPC) that counts each
span: every span arrives exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp_receiver import Receiver, receiving

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

CLI = """
import asyncio
from falyx.action import Action, ChainedAction

async def fetch():
    return [1, 2, 3]

async def total(last_result):
    return sum(last_result)

async def main():
    chain = ChainedAction("release", [Action("fetch", fetch), Action("total", total)],
                          auto_inject=True)
    print("result", await chain())
{configure}
asyncio.run(main())
"""
"""A falyx program that knows nothing of otel_exec (zero-code), or one that also calls
``otel_exec.configure()``: the chain and its two actions are three spans."""


@pytest.fixture(scope="module", params=["newest", "oldest"])
def installed(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A new virtualenv with the wheel (and falyx, the distro) installed, with the newest
    OpenTelemetry pip finds or the oldest pyproject.toml allows; its bin folder."""
    oldest = (["-c", str(ROOT / ".ci" / "opentelemetry-oldest.txt")]
              if request.param == "oldest" else [])
    work = tmp_path_factory.mktemp("first-contact")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(work / "dist"), str(ROOT)], check=True, timeout=300)
    (wheel,) = (work / "dist").glob("otel_exec-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    bin_dir = work / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                    f"{wheel}[falyx,routilux]", "opentelemetry-distro", *oldest], check=True,
                   timeout=600)
    sdk = subprocess.run([str(bin_dir / "python"), "-c", "from opentelemetry.sdk.version "
                          "import __version__; print(__version__)"], capture_output=True,
                         text=True, check=True, timeout=60).stdout.strip()
    assert (sdk == "1.40.0") == (request.param == "oldest"), sdk
    return bin_dir


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the checkout, as a user's project is."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("OTEL_", "PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(command, cwd=cwd, env={**clean, **env}, capture_output=True,
                          text=True, timeout=180, check=False)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path,
                                                             outside: Path) -> None:
    done = run([str(installed / "python"), "-c", "import otel_exec; print(otel_exec.__file__)"],
               outside)
    assert done.returncode == 0, done.stderr
    assert "site-packages" in done.stdout and str(ROOT) not in done.stdout


def test_the_demo_runs_from_outside_the_checkout(installed: Path, outside: Path) -> None:
    done = run([str(installed / "otel-exec"), "demo", "--output", "demo.jsonl"], outside)
    assert done.returncode == 0, done.stderr
    assert "✓ falyx release CLI" in done.stdout and "✓ routilux order flow" in done.stdout
    assert (outside / "demo.jsonl").stat().st_size > 0
    summary = run([str(installed / "otel-exec"), "summary", "demo.jsonl", "--json"], outside)
    assert summary.returncode == 0 and "integration_tests" in summary.stdout, summary.stderr


@pytest.mark.parametrize("configure", ["", "import otel_exec\notel_exec.configure()\n",
                                       "import otel_exec\n"
                                       "otel_exec.configure(service_name='other', "
                                       "otlp_endpoint='{endpoint}')\n"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_zero_code_exports_each_span_once(installed: Path, outside: Path, receiver: Receiver,
                                          protocol: str, configure: str) -> None:
    """The README's zero-code line: the distro's exporter sends every span, once, whether the
    program also calls ``configure()`` or even names the same endpoint again."""
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    endpoint = f"http://localhost:{port}"
    (outside / "cli.py").write_text(CLI.format(configure=configure.format(endpoint=endpoint)))
    receiver.clear()
    env = {"OTEL_SERVICE_NAME": "release-cli", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
           "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    if protocol != "grpc":  # the distro's default is gRPC
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    done = run([str(installed / "opentelemetry-instrument"), str(installed / "python"),
                "cli.py"], outside, **env)
    assert done.returncode == 0, done.stderr
    assert "result 6" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    receiver.wait_for(3)
    assert sorted(receiver.names.values()) == ["fetch", "release", "total"], done.stderr
    assert set(receiver.received.values()) == {1}, receiver.received
    assert set(receiver.services.values()) == {"release-cli"}
    if "other" in configure:
        assert "service.name stays 'release-cli', not 'other'" in done.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_configure_with_an_endpoint_exports_each_span_once(installed: Path, outside: Path,
                                                           receiver: Receiver,
                                                           protocol: str) -> None:
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    configure = textwrap.dedent(f"""
        import otel_exec
        otel_exec.configure(service_name="release-cli", otlp_endpoint="http://127.0.0.1:{port}",
                            otlp_protocol="{protocol}")
        otel_exec.instrument()
    """)
    (outside / "cli.py").write_text(CLI.format(configure=configure))
    receiver.clear()
    done = run([str(installed / "python"), "cli.py"], outside)
    assert done.returncode == 0, done.stderr
    receiver.wait_for(3)
    assert sorted(receiver.names.values()) == ["fetch", "release", "total"], done.stderr
    assert set(receiver.received.values()) == {1}
    assert set(receiver.services.values()) == {"release-cli"}
