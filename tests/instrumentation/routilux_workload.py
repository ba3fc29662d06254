"""Real routilux 1.x flows for the tests: fan-out, error strategies, an aggregator."""

from __future__ import annotations

import threading
import time
from typing import Any

from routilux.core.error import ErrorHandler, ErrorStrategy
from routilux.core.flow import Flow
from routilux.core.routine import Routine

import otel_exec


def immediate(slots: dict[str, Any], worker_state: Any) -> tuple[bool, dict[str, Any], str]:
    """Run as soon as any slot has new data, with all of it."""
    data = {name: slot.consume_all_new() for name, slot in slots.items()}
    return (True, data, "immediate") if any(data.values()) else (False, {}, "")


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.add_slot("trigger")
        self.add_event("out")
        self.set_activation_policy(immediate)
        self.set_logic(self.run)

    def run(self, trigger: list[dict[str, Any]], policy_message: Any = None,
            worker_state: Any = None) -> None:
        for request in trigger:
            for n in range(request["count"]):
                self.emit("out", worker_state=worker_state, n=n)


class Step(Routine):
    """Doubles ``n`` and passes it on; fails when ``fail`` is set."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.threads: list[str] = []
        self.add_slot("in")
        self.add_event("out")
        self.set_activation_policy(immediate)
        self.set_logic(self.run)

    def run(self, items: list[dict[str, Any]], policy_message: Any = None,
            worker_state: Any = None) -> None:
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise ValueError("cannot process")
        for item in items:
            self.emit("out", worker_state=worker_state, n=item["n"] * 2)


class Collect(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []
        self.add_slot("in")
        self.set_activation_policy(immediate)
        self.set_logic(self.run)

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        self.got.extend(item["n"] for item in items)


FLOWS: list[Flow] = []
"""routilux's FlowRegistry holds flows weakly: the tests keep theirs alive here."""


def fan_out_flow(name: str, strategy: ErrorStrategy | None) -> Flow:
    """src → (ok, bad) ; ok → agg. ``bad`` fails under ``strategy``."""
    flow = Flow(name)
    FLOWS.append(flow)
    flow.add_routine(Source(), "src")
    flow.add_routine(Step(), "ok")
    flow.add_routine(Step(fail=True), "bad")
    flow.add_routine(Collect(), "agg")
    flow.connect("src", "out", "ok", "in")
    flow.connect("src", "out", "bad", "in")
    flow.connect("ok", "out", "agg", "in")
    if strategy is not None:
        flow.routines["bad"].set_error_handler(ErrorHandler(strategy=strategy))
    return flow


def run_fan_out(runtime: Any, name: str, strategy: ErrorStrategy | None, count: int) -> Any:
    """Post a job of a new fan-out flow called ``name`` and wait (bounded) for it to end;
    its JobState."""
    fan_out_flow(name, strategy)
    _, job = runtime.post(name, "src", "trigger", {"count": count})
    return wait_for_job(job.job_id)


def wait_for_job(job_id: str, timeout: float = 10.0) -> Any:
    """The job's JobState once its span has ended (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = otel_exec.job_state(job_id)
        except LookupError:
            state = None
        if state is not None and state.status not in ("running", "pending"):
            return state
        time.sleep(0.01)
    raise TimeoutError(f"job {job_id} did not end within {timeout}s")
