"""A dataknobs-fsm loan pipeline, traced: validation, a scoring sub-network, a ledger resource,
a branch on the score, an application that fails validation, and a stream of applications.

    python examples/fsm_pipeline.py              # prints the FSM history summary and the trees
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/fsm_pipeline.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from dataknobs_fsm.api.simple import SimpleFSM
from rich.console import Console
from rich.pretty import Pretty

import otel_exec


def validate(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if data.get("amount", 0) <= 0:
        raise ValueError(f"application {data.get('id')}: amount must be positive")
    return {**data, "valid": True}


def score(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {**data, "score": (data["amount"] // 10 * 37 + data.get("id", 0) * 13) % 100}


def record(data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {**data, "recorded": True}


def approvable(data: dict[str, Any], context: Any = None) -> bool:
    return bool(data.get("score", 0) >= 40)


def too_risky(data: dict[str, Any], context: Any = None) -> bool:
    return bool(data.get("score", 0) < 40)


CONFIG: dict[str, Any] = {
    "name": "loan_pipeline",
    "main_network": "main",
    "resources": [{"name": "ledger", "type": "database", "config": {"backend": "memory"}}],
    "networks": [
        {"name": "main", "states": [
            {"name": "received", "is_start": True, "arcs": [
                {"target": "validated", "metadata": {"name": "check"}}]},
            {"name": "validated", "transforms": [{"type": "registered", "name": "validate"}],
             "arcs": [{"target": "recorded", "target_network": "scoring",
                       "return_state": "recorded", "metadata": {"name": "score"}}]},
            {"name": "recorded", "resources": ["ledger"],
             "transforms": [{"type": "registered", "name": "record"}], "arcs": [
                 {"target": "approved", "metadata": {"name": "approve"},
                  "condition": {"type": "registered", "name": "approvable"}},
                 {"target": "declined", "metadata": {"name": "decline"},
                  "condition": {"type": "registered", "name": "too_risky"}}]},
            {"name": "approved", "is_end": True},
            {"name": "declined", "is_end": True},
        ]},
        {"name": "scoring", "states": [
            {"name": "scored", "is_start": True,
             "transforms": [{"type": "registered", "name": "score"}],
             "arcs": [{"target": "scoring_done"}]},
            {"name": "scoring_done", "is_end": True},
        ]},
    ],
}
FUNCTIONS = {"validate": validate, "score": score, "record": record,
             "approvable": approvable, "too_risky": too_risky}


def run() -> None:
    """Run the workflow (otel_exec already configured, dataknobs_fsm instrumented)."""
    fsm = SimpleFSM(CONFIG, custom_functions=FUNCTIONS)
    fsm.process({"id": 1, "name": "Ada", "amount": 1200})
    fsm.process({"id": 2, "name": "Bob", "amount": -5})
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "applications.jsonl"
        source.write_text("".join(json.dumps({"id": i, "name": f"applicant {i}",
                                              "amount": 100 * i}) + "\n" for i in range(3, 9)))
        fsm.process_stream(str(source), chunk_size=4)
    fsm.close()


def main() -> None:
    otel_exec.configure(service_name="loan-pipeline")
    otel_exec.instrument("dataknobs_fsm")
    run()
    console = Console()
    for history in otel_exec.history.histories():
        summary = history.get_summary()
        console.print(Pretty({key: summary[key] for key in (
            "fsm_name", "execution_id", "total_steps", "completed_steps", "failed_steps",
            "skipped_steps", "total_paths", "stream_progress")}))
    otel_exec.tree()


if __name__ == "__main__":
    main()
