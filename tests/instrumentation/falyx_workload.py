"""A falyx workload that touches every action class and every verdict falyx can give."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from falyx import Falyx
from falyx.action import (
    Action,
    ActionFactory,
    ActionGroup,
    ChainedAction,
    FallbackAction,
    ProcessAction,
    ProcessPoolAction,
    ShellAction,
    SignalAction,
)
from falyx.action.process_pool_action import ProcessTask
from falyx.retry import RetryPolicy
from falyx.signals import BreakChainSignal, QuitSignal
from opentelemetry import trace


def square(x: int) -> int:
    return x * x


def trace_seen_in_worker(x: int) -> tuple[int, str, int]:
    """Runs in a worker process: the trace id it sees, if context was propagated."""
    context = trace.get_current_span().get_span_context()
    return x, f"{context.trace_id:032x}", os.getpid()


def fail_in_worker(x: int) -> int:
    raise ValueError(f"task {x} failed")


def flaky(failures: int, value: Any) -> Any:
    """An async function that fails ``failures`` times, then returns ``value``."""
    calls = 0

    async def attempt(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise TimeoutError(f"attempt {calls} timed out")
        return value

    return attempt


async def fetch() -> list[int]:
    return [1, 2, 3]


async def double(last_result: list[int]) -> list[int]:
    return [2 * x for x in last_result]


async def total(last_result: list[int]) -> int:
    return sum(last_result)


async def sleep_return(value: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return value


async def deploy() -> str:
    return "deployed"


async def broken(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("broken step")


async def stop_chain() -> None:
    raise BreakChainSignal()


def retry_policy(retries: int) -> RetryPolicy:
    return RetryPolicy(enabled=True, max_retries=retries, delay=0.001, backoff=1.0)


rolled_back: list[str] = []


async def undo_fetch(*args: Any, **kwargs: Any) -> None:
    rolled_back.append("fetch")


def build_actions() -> dict[str, Any]:
    """Fresh action objects (falyx actions keep state such as retry handlers)."""

    async def generated() -> str:
        return "generated"

    def factory() -> Action:
        return Action("generated", generated)

    return {
        "ok": Action("ok_action", fetch),
        "fail": Action("fail_action", broken),
        "flaky": Action("flaky_action", flaky(2, "recovered"), retry_policy=retry_policy(3)),
        "flaky_none": Action("flaky_none", flaky(1, None), retry_policy=retry_policy(2)),
        "hopeless": Action("hopeless", flaky(10, "never"), retry_policy=retry_policy(2)),
        "chain": ChainedAction("pipeline", [Action("fetch", fetch, rollback=undo_fetch),
                                            Action("double", double), Action("total", total)],
                               auto_inject=True),
        "group": ActionGroup("fan_out", [
            Action("sleep_a", sleep_return, args=("a", 0.05)),
            Action("sleep_b", sleep_return, args=("b", 0.02)),
            ChainedAction("nested_chain", [Action("n_step1", fetch), Action("n_step2", double)],
                          auto_inject=True),
        ]),
        "partial": ActionGroup("partial_group", [
            Action("pg_ok", sleep_return, args=("ok", 0.01)), Action("pg_fail", broken)]),
        "rollback_chain": ChainedAction("rollback_chain", [
            Action("fetch", fetch, rollback=undo_fetch), Action("explode", broken)]),
        "fallback_chain": ChainedAction("fb_chain", [Action("fails", broken),
                                                     FallbackAction("default")]),
        "break_chain": ChainedAction("brk_chain", [Action("before_break", fetch),
                                                   Action("brk", stop_chain),
                                                   Action("never_runs", fetch)]),
        "factory": ActionFactory("fac", factory),
        "process": ProcessAction("cpu_square", square, args=(7,)),
        "process_trace": ProcessAction("cpu_trace", trace_seen_in_worker, args=(1,)),
        "pool": ProcessPoolAction("pool", [ProcessTask(square, args=(2,)),
                                           ProcessTask(fail_in_worker, args=(3,))]),
        "shell": ShellAction("sh", "echo {}"),
        "quit": SignalAction("quit", QuitSignal()),
    }


async def run_actions(actions: dict[str, Any]) -> dict[str, Any]:
    """Run every action the way a falyx CLI would; return what each call returned or raised."""
    outcomes: dict[str, Any] = {}
    for key, action in actions.items():
        try:
            outcomes[key] = await (action("hello") if key == "shell" else action())
        except BaseException as exc:
            outcomes[key] = exc
    return outcomes


def build_cli() -> Falyx:
    flx = Falyx("ops", never_prompt=True)
    flx.add_command("D", "Deploy", Action("deploy_step", deploy), aliases=["deploy"],
                    tags=["ops"])
    flx.add_command("S", "Status", lambda: "all green")
    flx.add_command("F", "Fail", broken)
    return flx


async def run_cli(flx: Falyx) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    for line in ("D", "S", "F"):
        try:
            outcomes[line] = await flx.execute_command(line)
        except Exception as exc:
            outcomes[line] = exc
    return outcomes
