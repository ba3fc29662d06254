"""Plain Python traced with ``@otel_exec.traced``: an order pipeline with async fan-out, a
generator of records, a retry loop and a rejected order.

    python examples/python_functions.py          # prints the history table and the trace tree
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/python_functions.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import otel_exec

PRICES = {"tea": 4.5, "cake": 3.0, "scone": 2.5}


class PaymentDeclined(Exception):
    """The card was declined."""


@otel_exec.traced
def read_orders() -> Iterator[dict[str, object]]:
    yield {"id": 1, "items": ["tea", "cake"], "card": "4242", "password": "hunter2"}
    yield {"id": 2, "items": ["scone"], "card": "0000"}
    yield {"id": 3, "items": ["tea", "tea", "scone"], "card": "4242"}


@otel_exec.traced
async def price(item: str) -> float:
    await asyncio.sleep(0.005)
    return PRICES[item]


@otel_exec.traced
async def quote(order: dict[str, object]) -> float:
    items = order["items"]
    assert isinstance(items, list)
    return sum(await asyncio.gather(*(price(item) for item in items)))


@otel_exec.traced
def charge(card: str, amount: float) -> str:
    if card == "0000":
        raise PaymentDeclined(f"card ending {card} declined for {amount:.2f}")
    return f"receipt-{card}-{amount:.2f}"


@otel_exec.traced(name="process_order")
async def process_order(order: dict[str, object]) -> str | None:
    total = await quote(order)
    try:
        return charge(str(order["card"]), total)
    except PaymentDeclined:
        return None


@otel_exec.traced(name="order_batch")
async def order_batch() -> list[str | None]:
    return [await process_order(order) for order in read_orders()]


def run() -> None:
    """Run the workflow (otel_exec already configured)."""
    asyncio.run(order_batch())


def main() -> None:
    otel_exec.configure(service_name="orders")
    run()
    otel_exec.summary()
    otel_exec.tree()


if __name__ == "__main__":
    main()
