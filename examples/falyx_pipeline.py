"""A headless falyx release CLI, traced: a build chain with auto_inject, a concurrent test group
with a flaky step that recovers on retry, and a publish step that fails.

    python examples/falyx_pipeline.py            # prints falyx's history, as spans, and the tree
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/falyx_pipeline.py
"""

from __future__ import annotations

import asyncio

from falyx import Falyx
from falyx.action import Action, ActionGroup, ChainedAction
from falyx.retry import RetryPolicy

import otel_exec


async def checkout() -> str:
    await asyncio.sleep(0.01)
    return "a1b2c3d"


async def compile_sources(last_result: str) -> list[str]:
    await asyncio.sleep(0.02)
    return [f"{last_result}/core.o", f"{last_result}/cli.o"]


async def package(last_result: list[str]) -> str:
    await asyncio.sleep(0.01)
    return f"release-{len(last_result)}-objects.tar.gz"


async def unit_tests() -> str:
    await asyncio.sleep(0.03)
    return "412 passed"


async def lint() -> str:
    await asyncio.sleep(0.01)
    return "clean"


def flaky_integration_tests() -> object:
    attempts = 0

    async def integration_tests() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts < 3:
            raise ConnectionError(f"test database not ready (attempt {attempts})")
        return "37 passed"

    return integration_tests


async def upload(artifact: str = "release.tar.gz") -> str:
    await asyncio.sleep(0.01)
    raise PermissionError(f"registry refused {artifact}: token expired")


def build_cli() -> Falyx:
    cli = Falyx("release", never_prompt=True)
    cli.add_command("B", "Build", ChainedAction("build", [
        Action("checkout", checkout), Action("compile", compile_sources),
        Action("package", package)], auto_inject=True), tags=["ci"])
    cli.add_command("T", "Test", ActionGroup("test_suite", [
        Action("unit_tests", unit_tests), Action("lint", lint),
        Action("integration_tests", flaky_integration_tests(),
               retry_policy=RetryPolicy(enabled=True, max_retries=3, delay=0.01, backoff=2.0)),
    ]), tags=["ci"])
    cli.add_command("P", "Publish", Action("upload", upload), tags=["release"])
    return cli


async def release() -> None:
    cli = build_cli()
    execute = getattr(cli, "execute_command", None) or cli.run_key  # falyx 0.2, or 0.1.8x
    for command in ("B", "T", "P"):
        try:
            await execute(command)
        except Exception as error:
            print(f"{command}: {error}")


def run() -> None:
    """Run the workflow (otel_exec already configured, falyx instrumented)."""
    asyncio.run(release())


def main() -> None:
    otel_exec.configure(service_name="release-cli")
    otel_exec.instrument("falyx")
    run()
    otel_exec.summary()
    otel_exec.tree()


if __name__ == "__main__":
    main()
