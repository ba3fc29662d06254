"""Real dataknobs-fsm machines for the tests: branching, failing, a sub-network, a resource."""

from __future__ import annotations

from typing import Any

from dataknobs_fsm.api.simple import SimpleFSM


def validate(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if "amount" not in data:
        raise ValueError("no amount")
    return {**data, "valid": True}


def score(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {**data, "score": data["amount"] % 7}


def load(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {**data, "loaded": True}


def is_ok(data: dict[str, Any], context: Any = None) -> bool:
    return bool(data.get("score", 0) < 5)


def is_bad(data: dict[str, Any], context: Any = None) -> bool:
    return bool(data.get("score", 0) >= 5)


attempts: dict[int, int] = {}


def flaky_fetch(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """An arc transform that fails with a retryable error on its first attempt per amount."""
    count = attempts[data["amount"]] = attempts.get(data["amount"], 0) + 1
    if count == 1:
        raise ConnectionError("upstream busy")
    return {**data, "fetched": count}


FUNCTIONS = {"validate": validate, "score": score, "load": load, "is_ok": is_ok,
             "is_bad": is_bad, "flaky_fetch": flaky_fetch}

LOANS: dict[str, Any] = {
    "name": "loans",
    "main_network": "main",
    "resources": [{"name": "ledger", "type": "database", "config": {"backend": "memory"}}],
    "networks": [
        {"name": "main", "states": [
            {"name": "start", "is_start": True, "arcs": [
                {"target": "validate", "metadata": {"name": "begin"}}]},
            {"name": "validate", "transforms": [{"type": "registered", "name": "validate"}],
             "data_mode": "reference",
             "arcs": [{"target": "decide", "target_network": "scoring",
                       "return_state": "decide", "metadata": {"name": "score_it"}}]},
            {"name": "decide", "resources": ["ledger"],
             "transforms": [{"type": "registered", "name": "load"}], "arcs": [
                 {"target": "approved", "condition": {"type": "registered", "name": "is_ok"},
                  "metadata": {"name": "ok"}},
                 {"target": "rejected", "condition": {"type": "registered", "name": "is_bad"},
                  "metadata": {"name": "bad"}}]},
            {"name": "approved", "is_end": True},
            {"name": "rejected", "is_end": True},
        ]},
        {"name": "scoring", "states": [
            {"name": "s_start", "is_start": True,
             "transforms": [{"type": "registered", "name": "score"}],
             "arcs": [{"target": "s_end"}]},
            {"name": "s_end", "is_end": True},
        ]},
    ],
}

FETCH: dict[str, Any] = {
    "name": "fetcher",
    "states": [{"name": "start", "is_start": True}, {"name": "done", "is_end": True}],
    "arcs": [{"from": "start", "to": "done", "name": "fetch",
              "transform": {"type": "registered", "name": "flaky_fetch"}}],
}


def loans() -> SimpleFSM:
    return SimpleFSM(LOANS, custom_functions=FUNCTIONS)


def fetcher() -> SimpleFSM:
    fsm = SimpleFSM(FETCH, custom_functions=FUNCTIONS)
    fsm._async_fsm._async_engine.retry_delay = 0.001  # the default retry delay is 1 s
    return fsm
