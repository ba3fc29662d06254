"""``otel-exec summary`` reads trace files as a stream (only the rows it shows are held): it
must select and number exactly what the registry of a store holding every span does, whatever
the order of the file, ties in end times, names, statuses and options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import StatusCode

import otel_exec
from otel_exec import ExecutionStore, cli
from otel_exec.execution import Execution
from otel_exec.trace_files import store_of
from otel_exec.views import Views
from otel_exec.views.registry import Selection, select_streamed

SPAN = st.tuples(
    st.integers(0, 20),                       # start
    st.integers(0, 5),                        # duration (ties on purpose)
    st.sampled_from(["a", "b", "c"]),         # name
    st.booleans(),                            # failed
    st.booleans(),                            # a registry entry (else another library's span)
    st.booleans(),                            # ignore_in_history
)


def _executions(specs: list[tuple[int, int, str, bool, bool, bool]]) -> list[Execution]:
    executions = []
    for number, (start, duration, name, failed, entry, ignored) in enumerate(specs, 1):
        attributes: dict[str, Any] = {"exec.kind": "function"}
        if entry:
            attributes["exec.framework"] = "python"
        if ignored:
            attributes["exec.ignore_in_history"] = True
        executions.append(Execution(
            name=name, trace_id=1, span_id=number, parent_id=None, start_ns=start,
            end_ns=start + duration, attributes=attributes,
            status_code=StatusCode.ERROR if failed else StatusCode.UNSET))
    return executions


def _shown(selection: Selection) -> tuple[Any, ...]:
    return (selection.missing, selection.title, selection.hidden,
            None if selection.result is None else (selection.result.index,
                                                   selection.result.span_id),
            [(e.index, e.span_id) for e in selection.executions])


@settings(max_examples=300)
@given(specs=st.lists(SPAN, max_size=40), name=st.sampled_from(["", "a", "z"]),
       status=st.sampled_from(["all", "success", "error"]), limit=st.sampled_from([0, 1, 3]),
       last_result=st.booleans())
def test_streamed_summary_equals_the_store_registry(specs: list[Any], name: str, status: str,
                                                    limit: int, last_result: bool) -> None:
    in_store = _executions(specs)
    in_store.sort(key=lambda e: (e.end_ns or 0, -e.start_ns))  # as read_traces orders a file
    registry = Views(store_of(in_store)).registry
    expected = registry.select(name, None, None, last_result, status, limit or None)
    streamed = select_streamed(iter(_executions(specs)), name, last_result, status, limit)
    assert _shown(streamed) == _shown(expected)
    in_order = sorted(_executions(specs), key=lambda e: (e.end_ns or 0, -e.start_ns))
    streamed = select_streamed(iter(in_order), name, last_result, status, limit)
    assert _shown(streamed) == _shown(expected)


@settings(max_examples=100)
@given(specs=st.lists(SPAN, max_size=30), slowest=st.integers(1, 5))
def test_streamed_slowest_keeps_the_real_indices(specs: list[Any], slowest: int) -> None:
    in_store = _executions(specs)
    in_store.sort(key=lambda e: (e.end_ns or 0, -e.start_ns))
    entries = Views(store_of(in_store)).registry.get_all()
    chosen = select_streamed(iter(_executions(specs)), slowest=slowest).executions
    assert len(chosen) == min(slowest, len(entries))
    by_span = {e.span_id: e for e in entries}
    assert [e.index for e in chosen] == sorted(by_span[e.span_id].index for e in chosen)
    assert all(by_span[e.span_id].index == e.index for e in chosen)
    durations = sorted((e.duration or 0 for e in entries), reverse=True)
    assert sorted((e.duration or 0 for e in chosen), reverse=True) == durations[:len(chosen)]


def test_spans_ending_together_are_numbered_children_first() -> None:
    """A file in end order whose parent comes before a child ending in the same nanosecond
    is not in completion order: the store numbers the child (the later start) first."""
    parent_first = [(0, 10, "parent", False, True, False), (5, 5, "child", False, True, False)]
    selection = select_streamed(iter(_executions(parent_first)))
    assert [(e.name, e.index) for e in selection.executions] == [("child", 0), ("parent", 1)]


def test_cli_summary_rows(store: ExecutionStore, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows the newest 1,000 rows, --json every row, --limit N the newest N in
    both; each with the index the store gives it, the file read in or out of order."""
    @otel_exec.traced(name="step")
    def step(i: int) -> int:
        return i

    for i in range(1_205):
        step(i)
    path = tmp_path / "rows.jsonl"
    otel_exec.save(path)
    entries = list(enumerate(e.span_id for e in store.entries()))  # a file numbers from 0
    lines = path.read_text().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(reversed(lines)) + "\n")
    for source in (path, shuffled):
        capsys.readouterr()
        assert cli.main(["summary", str(source), "--json"]) == 0
        assert [(row["index"], row["span_id"]) for row in json.loads(capsys.readouterr().out)
                ] == entries
        assert cli.main(["summary", str(source), "--json", "--limit", "3"]) == 0
        assert [(row["index"], row["span_id"]) for row in json.loads(capsys.readouterr().out)
                ] == entries[-3:]
        assert cli.main(["summary", str(source)]) == 0
        table = capsys.readouterr().out
        assert "205 older rows not shown" in table
        assert " 1204 " in table and " 205 " in table and " 204 " not in table
