"""A routilux order flow, traced: a source fans out to two processors, one of which fails on
some orders under the CONTINUE strategy, and an aggregator collects the rest.

    python examples/routilux_flow.py             # prints the job state, tracker metrics and tree
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/routilux_flow.py
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.pretty import Pretty
from routilux.core.error import ErrorHandler, ErrorStrategy
from routilux.core.flow import Flow
from routilux.core.routine import Routine
from routilux.core.runtime import Runtime

import otel_exec


def on_new_data(slots: dict[str, Any], worker_state: Any) -> tuple[bool, dict[str, Any], str]:
    """Activation policy: run as soon as a slot has new data."""
    data = {name: slot.consume_all_new() for name, slot in slots.items()}
    return (True, data, "new data") if any(data.values()) else (False, {}, "")


class SingleSlotRoutine(Routine):
    """A routine with one input slot, one output event and the on-new-data policy."""

    def __init__(self, slot: str = "in", event: str | None = "out") -> None:
        super().__init__()
        self.add_slot(slot)
        if event:
            self.add_event(event)
        self.set_activation_policy(on_new_data)
        self.set_logic(self.run)

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        raise NotImplementedError


class OrderSource(SingleSlotRoutine):
    def __init__(self) -> None:
        super().__init__("orders")

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        for batch in items:
            for order in batch["orders"]:
                self.emit("out", worker_state=worker_state, **order)


class Pricing(SingleSlotRoutine):
    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        for order in items:
            time.sleep(0.005)
            self.emit("out", worker_state=worker_state, id=order["id"],
                      total=order["qty"] * 4.5)


class FraudCheck(SingleSlotRoutine):
    def __init__(self) -> None:
        super().__init__(event=None)

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        for order in items:
            if order["qty"] > 50:
                raise RuntimeError(f"order {order['id']}: quantity {order['qty']} needs review")


class Ledger(SingleSlotRoutine):
    def __init__(self) -> None:
        super().__init__(event=None)
        self.totals: list[float] = []

    def run(self, items: list[Any], policy_message: Any = None, worker_state: Any = None) -> None:
        self.totals.extend(item["total"] for item in items)


def build_flow() -> Flow:
    flow = Flow("orders")
    flow.add_routine(OrderSource(), "source")
    flow.add_routine(Pricing(), "pricing")
    flow.add_routine(FraudCheck(), "fraud_check")
    flow.add_routine(Ledger(), "ledger")
    flow.connect("source", "out", "pricing", "in")
    flow.connect("source", "out", "fraud_check", "in")
    flow.connect("pricing", "out", "ledger", "in")
    flow.routines["fraud_check"].set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    return flow


def run() -> str:
    """Run one job (otel_exec configured, routilux instrumented); return its job id."""
    flow = build_flow()
    runtime = Runtime()
    try:
        _, job = runtime.post("orders", "source", "orders", {"orders": [
            {"id": 1, "qty": 3}, {"id": 2, "qty": 80}, {"id": 3, "qty": 12}]})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and otel_exec.job_state(job.job_id).status == "running":
            time.sleep(0.01)
    finally:
        runtime.shutdown(wait=True, timeout=5)
    del flow
    return str(job.job_id)


def main() -> None:
    otel_exec.configure(service_name="orders")
    otel_exec.instrument("routilux")
    job_id = run()
    console = Console()
    state = otel_exec.job_state(job_id)
    console.print(state, Pretty(state.routine_states))
    console.print(Pretty(otel_exec.tracker(job_id).get_performance_metrics()))
    otel_exec.tree()


if __name__ == "__main__":
    main()
