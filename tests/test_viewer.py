"""``otel-exec view`` / ``otel_exec.view()``: one self-contained HTML page, checked in a real
browser (Debian's Chromium driven by Playwright) against the views computed from the same
spans: rows equal spans, a failed step shows its exception, the FSM tab its paths, the
routilux tab its event flow, and nothing leaves the page."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from playwright.sync_api import expect

import otel_exec
from otel_exec import ExecutionStore
from otel_exec.semconv import ExecStatus
from otel_exec.viewer import TooManySpans, write_page
from otel_exec.views import Views
from tests.browser import chromium
from tests.conftest import needs_fsm

OTEL_EXEC = str(Path(sys.executable).with_name("otel-exec"))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OTEL_EXEC, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's trace file: every framework, with failures, retries, paths and jobs."""
    folder = tmp_path_factory.mktemp("viewer")
    done = _run("demo", "--output", "demo.jsonl", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "demo.jsonl"


@pytest.fixture(scope="module")
def demo(demo_file: Path) -> Views:
    return Views(otel_exec.load(demo_file))


@pytest.fixture(scope="module")
def page_file(demo_file: Path) -> Path:
    done = _run("view", demo_file.name, "-o", "demo.html", cwd=demo_file.parent)
    assert done.returncode == 0, done.stderr
    assert "141 spans" in done.stdout or "spans →" in done.stdout
    return demo_file.parent / "demo.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Page:
    """An opened page, with every request it made and every script error it raised."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 1800})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: self.errors.append(message.text)
                     if message.type == "error" else None)
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready]", timeout=15_000)

    def every_row(self, host: str) -> list[str]:
        """The ``data-span`` of every row of a virtualised list, scrolling it end to end."""
        spans: list[str] = self.page.eval_on_selector(host, """async (host) => {
            const seen = new Set();
            for (let top = 0; top < host.scrollHeight; top += host.clientHeight) {
                host.scrollTop = top;
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                host.querySelectorAll(".row").forEach(row => seen.add(row.dataset.span));
            }
            host.scrollTop = 0;
            return [...seen];
        }""")
        return spans

    def texts(self, selector: str) -> list[str]:
        return [text.strip() for text in self.page.locator(selector).all_inner_texts()]

    def close(self) -> None:
        self.page.close()
        assert self.errors == []
        assert self.requests == [self.url], "the page fetched something"


@pytest.fixture
def page(browser: Any, page_file: Path) -> Iterator[Page]:
    opened = Page(browser, page_file)
    yield opened
    opened.close()


def _select_trace(page: Page, trace_id: str) -> None:
    page.page.click(f'#trace-list [data-trace="{trace_id}"]')


def test_rows_equal_spans(page: Page, demo: Views) -> None:
    store = demo.store
    traces = store.trace_ids()
    assert page.page.get_attribute("#trace-list", "data-count") == str(len(traces))
    assert sorted(page.page.eval_on_selector_all(
        "#trace-list .row", "rows => rows.map(row => row.dataset.trace)")) == sorted(traces)
    for trace in traces:
        _select_trace(page, trace)
        shown = page.every_row("#waterfall")
        assert sorted(shown) == sorted(e.span_id for e in store.by_trace(trace))
        assert page.page.get_attribute("#waterfall", "data-count") == str(len(shown))


@needs_fsm
def test_failed_step_shows_its_exception(page: Page, demo: Views) -> None:
    failed = [e for e in demo.store.executions()
              if e.kind == "step" and e.status is ExecStatus.FAILED and e.traceback]
    assert failed, "the demo has a failing FSM step"
    step = failed[0]
    _select_trace(page, step.trace_id)
    page.page.click(f'#waterfall [data-span="{step.span_id}"]')
    assert page.page.get_attribute("#details", "data-span") == step.span_id
    exception = page.texts('#details [data-field="exception"]')[0]
    event = next(ev for ev in step.events if ev.name == "exception").attributes or {}
    assert exception == f"{event['exception.type']}: {event['exception.message']}"
    assert step.traceback is not None
    assert step.traceback.strip().splitlines()[-1] in page.texts("#details pre")[0]
    assert page.texts('#details [data-field="status"]')[0].startswith("failed")


@needs_fsm
def test_fsm_tab_shows_each_run_path(page: Page, demo: Views) -> None:
    page.page.click('#tabs [data-tab="runs"]')
    histories = demo.history.histories()
    assert histories
    assert page.page.locator("#tab-runs .run").count() == len(histories)
    for history in histories:
        card = f'#tab-runs .run[data-span="{history.execution_id}"]'
        expected = [[f"{step.state_name} ({step.status.value})" for step in path]
                    for path in history.get_all_paths()]
        paths = page.page.locator(f"{card} .path")
        shown = [paths.nth(n).locator(".chip").all_inner_texts() for n in range(paths.count())]
        assert shown == expected
    step = histories[0].get_all_paths()[0][-1]
    page.page.click(f'#tab-runs .chip[data-span="{step.step_id}"]')
    assert page.page.is_visible("#tab-traces")
    assert page.page.get_attribute("#details", "data-span") == step.step_id


def test_routilux_tab_shows_event_flow(page: Page, demo: Views) -> None:
    page.page.click('#tabs [data-tab="jobs"]')
    jobs = demo.job_state.jobs()
    assert jobs
    for job in jobs:
        tracker = demo.tracker(job.span_id)
        card = f'#tab-jobs .job[data-span="{job.span_id}"]'
        flows = page.texts(f"{card} li.flow")
        assert len(flows) == len(tracker.event_flow) > 0
        expected = sorted(f"{flow['source_routine_id']} —{flow['event_name']}→ "
                          f"{flow['target_routine_id']}" for flow in tracker.event_flow)
        assert sorted(flows) == expected
        state = demo.job_state(job.span_id)
        assert page.texts(f"{card} table.routines td:first-child") == list(state.routine_states)
    # a delivery's target opens that routine; its link jumps to the routine that emitted
    page.page.locator("#tab-jobs li.flow a.jump").nth(1).click()
    target = page.page.get_attribute("#details", "data-span")
    routine = demo.store.find(target or "")
    assert routine is not None and routine.links
    page.page.click("#details .link a.jump")
    source = f"{routine.links[0].context.span_id:016x}"
    assert page.page.get_attribute("#details", "data-span") == source


def test_history_tab_mirrors_the_registry(page: Page, demo: Views) -> None:
    page.page.click('#tabs [data-tab="history"]')
    entries = demo.registry.get_all()
    assert page.page.get_attribute("#history-list", "data-count") == str(len(entries))
    shown = [row.split("\n")[:2] for row in page.texts("#history-list .row")]
    # falyx's entries show falyx's index; the others, which take none while falyx numbers, a dash
    assert shown == [["—" if e.index is None else str(e.index), e.name] for e in entries][
        :len(shown)]
    assert any(e.index is not None for e in entries) and any(e.index is None for e in entries)


def test_search_filters_and_keys(page: Page, demo: Views) -> None:
    store = demo.store
    page.page.fill("#search", "fraud")
    expect(page.page.locator("#counts")).to_contain_text("match")
    with_fraud = {e.trace_id for e in store.executions() if "fraud" in e.name.lower()}
    assert page.page.get_attribute("#trace-list", "data-count") == str(len(with_fraud))
    page.page.fill("#search", "")
    page.page.select_option("#status-filter", "error")
    expect(page.page.locator("#counts")).to_contain_text("match")
    failing = {e.trace_id for e in store.executions() if not e.success}
    assert page.page.get_attribute("#trace-list", "data-count") == str(len(failing))
    page.page.select_option("#status-filter", "all")
    expect(page.page.locator("#counts")).not_to_contain_text("match")
    # keyboard: down to the next span, zoom, unzoom, next trace, fold
    page.page.click("#waterfall .span-row >> nth=0")
    rows = page.page.eval_on_selector_all("#waterfall .span-row",
                                          "rows => rows.map(row => row.dataset.span)")
    page.page.keyboard.press("ArrowDown")
    assert page.page.get_attribute("#details", "data-span") == rows[1]
    page.page.keyboard.press("Enter")
    assert page.page.is_visible("#unzoom")
    page.page.keyboard.press("Escape")
    assert not page.page.is_visible("#unzoom")
    page.page.keyboard.press("ArrowUp")
    page.page.keyboard.press("ArrowLeft")
    assert page.page.locator("#waterfall .span-row").count() == 1
    page.page.keyboard.press("ArrowRight")
    assert page.page.locator("#waterfall .span-row").count() == len(rows)
    before = page.page.inner_text("#waterfall-title")
    page.page.keyboard.press("]")
    assert page.page.inner_text("#waterfall-title") != before
    page.page.keyboard.press("/")
    assert page.page.evaluate("document.activeElement.id") == "search"


HOSTILE = '<img src="http://127.0.0.1:9/x" onerror="window.pwned=1">'


def test_hostile_values_shown_literally_and_offline(store: ExecutionStore, browser: Any,
                                                   tmp_path: Path) -> None:
    @otel_exec.traced(name=HOSTILE)
    def hostile(text: str) -> str:
        raise ValueError("</script><script>window.pwned=2</script>\x1b]0;title\x07")

    with pytest.raises(ValueError):
        hostile("</script>\u2028<b>bold</b>")
    path = otel_exec.view(tmp_path / "hostile.html")
    opened = Page(browser, path)
    try:
        assert opened.page.evaluate("window.pwned") is None
        assert opened.page.locator("img, b").count() == 0
        # (other tests may leave spans running in the default store: they are on the page too)
        assert HOSTILE in opened.texts("#trace-list .row span:first-child")
        opened.page.locator("#trace-list .row").filter(has_text="127.0.0.1").click()
        message = opened.texts('#details [data-field="exception"]')[0]
        assert "</script><script>window.pwned=2</script>\\x1b]0;title\\x07" in message
        assert "<b>bold</b>" in opened.page.inner_text("#details")
    finally:
        opened.close()


def test_unrepresentable_values_still_make_a_page(store: ExecutionStore, browser: Any,
                                                 tmp_path: Path) -> None:
    with otel_exec.span("odd numbers", attributes={"nan": float("nan"), "inf": float("inf"),
                                                   "big": 2**70, "many": (1, 2, 3)}):
        pass
    opened = Page(browser, otel_exec.view(tmp_path / "odd.html"))
    try:
        opened.page.locator("#trace-list .row").filter(has_text="odd numbers").click()
        details = opened.page.inner_text("#details")
        assert str(2**70) in details and "[1,2,3]" in details
        assert "odd numbers" in opened.texts("#trace-list .row span:first-child")
    finally:
        opened.close()


def test_log_records_show_in_the_details_of_their_execution(store: ExecutionStore,
                                                            browser: Any,
                                                            tmp_path: Path) -> None:
    from otel_exec.instrumentation import logs

    logs.install()

    @otel_exec.traced(name="logged step")
    def logged() -> None:
        logging.getLogger("app.pipeline").error("disk <b>full</b> on /data")

    logged()
    opened = Page(browser, otel_exec.view(tmp_path / "logs.html"))
    try:
        opened.page.locator("#trace-list .row").filter(has_text="logged step").click()
        lines = opened.texts("#details .event.log")
        assert len(lines) == 1 and lines[0].startswith(
            "ERROR app.pipeline: disk <b>full</b> on /data")
        assert opened.page.locator("#details b").count() == 0
    finally:
        opened.close()


def test_the_page_holds_hostile_names_titles_and_many_attributes(browser: Any,
                                                                tmp_path: Path) -> None:
    """U+202E in a span name is escaped in the waterfall's header too; a title saying
    {{DATA}} stays a title; 1,000 attributes show 200 and a count; a long key is cut."""
    from otel_exec import ExecutionStore
    from otel_exec.execution import Execution
    from otel_exec.viewer import write_page

    store = ExecutionStore()
    attributes = {f"attribute_{i}": i for i in range(1_000)}
    attributes["k" * 300] = "long key"
    store.add(Execution("evil\u202ename", 7, 8, None, 1_000, 2_000, attributes))
    path = write_page(store, tmp_path / "odd.html", title="report {{DATA}} /*SCRIPT*/")
    opened = Page(browser, path)
    try:
        assert opened.page.title() == "report {{DATA}} /*SCRIPT*/"
        assert opened.page.inner_text("#title") == "report {{DATA}} /*SCRIPT*/"
        opened.page.locator("#trace-list .row").first.click()
        header = opened.page.inner_text("#waterfall-title")
        assert r"evil\u202ename" in header and "\u202e" not in header  # shown, not obeyed
        assert opened.page.locator("#details dl.fields").last.locator("dt").count() == 201
        assert "801 more not shown" in opened.page.inner_text("#details")
    finally:
        opened.close()


def test_an_empty_store_makes_a_page_that_says_so(browser: Any, tmp_path: Path) -> None:
    opened = Page(browser, write_page(ExecutionStore(), tmp_path / "empty.html"))
    try:
        assert opened.page.get_attribute("#trace-list", "data-count") == "0"
        assert "No trace" in opened.page.inner_text("#waterfall-title")
        opened.page.click('#tabs [data-tab="runs"]')
        assert "No dataknobs-fsm runs" in opened.page.inner_text("#tab-runs")
    finally:
        opened.close()


def test_secrets_never_reach_the_page(store: ExecutionStore, tmp_path: Path) -> None:
    secret = "hunter2-s3cr3t-value"

    @otel_exec.traced(name="login")
    def login(user: str, password: str) -> str:
        raise PermissionError(f"bad login for {user}: password={secret}")

    with pytest.raises(PermissionError):
        login("ann", password=secret)
    with otel_exec.span("call", url=f"https://ann:{secret}@example.test/x"):
        pass
    page = otel_exec.view(tmp_path / "secret.html").read_text(encoding="utf-8")
    assert "login" in page and "[REDACTED]" in page
    assert secret not in page


def test_running_executions_are_on_the_page(store: ExecutionStore, tmp_path: Path) -> None:
    with otel_exec.span("still running"):
        data = _page_data(otel_exec.view(tmp_path / "live.html"))
    assert [(row[8], row[9]) for row in data["spans"] if row[3] == "still running"] == [
        (-1, "running")]


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [f"{tag} {name}" for name, _ in attrs if name in ("src", "href")]
        if tag in ("link", "iframe", "object", "embed", "img"):
            self.found.append(tag)


def _page_data(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script id="otel-exec-data" type="application/json">(.*?)</script>',
                      text, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_page_is_one_file_that_fetches_nothing(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    parser = _Fetches()
    parser.feed(text)
    assert parser.found == []
    assert "default-src 'none'" in text
    assert text.count("</script>") == 2  # the data block and the script, nothing else closes


def test_view_takes_the_filters_of_the_other_commands(demo_file: Path, demo: Views) -> None:
    failing = [e for e in demo.store.executions() if not e.success]
    done = _run("view", demo_file.name, "--status", "error", "-o", "errors.html",
                cwd=demo_file.parent)
    assert done.returncode == 0, done.stderr
    data = _page_data(demo_file.parent / "errors.html")
    assert sorted(row[0] for row in data["spans"]) == sorted(e.span_id for e in failing)


def test_view_refuses_more_spans_than_a_page_holds(demo_file: Path, store: ExecutionStore,
                                                   tmp_path: Path) -> None:
    done = _run("view", demo_file.name, "--max-spans", "10", "-o", "big.html",
                cwd=demo_file.parent)
    assert done.returncode == 2
    assert "--trace" in done.stderr and "Traceback" not in done.stderr
    assert not (demo_file.parent / "big.html").exists()

    @otel_exec.traced
    def work() -> None:
        return None

    work()
    work()
    with pytest.raises(TooManySpans, match="more than one page"):
        otel_exec.view(tmp_path / "x.html", max_spans=1)
    finished = [row[3] for row in _page_data(otel_exec.view(tmp_path / "x.html"))["spans"]
                if row[9] != "running"]
    assert finished == [work.__qualname__] * 2


def test_search_finds_executions_by_attribute(store: ExecutionStore, browser: Any,
                                              tmp_path: Path) -> None:
    @otel_exec.traced(name="charge")
    def charge(n: int) -> int:
        return n

    with otel_exec.attributes(run_id="r-42"):
        charge(1)
        charge(2)
    with otel_exec.attributes(run_id="r-43"):
        charge(3)
    opened = Page(browser, otel_exec.view(tmp_path / "runs.html"))
    try:
        opened.page.fill("#search", "run_id=R-42")
        expect(opened.page.locator("#counts")).to_contain_text("match")
        assert opened.page.get_attribute("#trace-list", "data-count") == "2"
        opened.page.fill("#search", "run_id=r-4")  # a value is matched whole
        expect(opened.page.locator("#trace-list")).to_have_attribute("data-count", "0")
        opened.page.click('#tabs button:has-text("History")')
        opened.page.fill("#search", "run_id=r-43")
        expect(opened.page.locator("#tab-history .history-row")).to_have_count(1)
    finally:
        opened.close()


def test_search_finds_values_exception_text_and_ids_and_esc_clears_it(
        store: ExecutionStore, browser: Any, tmp_path: Path) -> None:
    @otel_exec.traced(name="charge")
    def charge(card: str) -> str:
        if card == "expired":
            raise ValueError("card declined by issuer")
        return "ok"

    for card in ("visa-4242", "expired", "amex-0005"):
        with contextlib.suppress(ValueError):
            charge(card)
    trace_ids = [e.trace_id for e in store.by_name("charge")]
    opened = Page(browser, otel_exec.view(tmp_path / "search.html"))
    try:
        count = lambda: opened.page.get_attribute("#trace-list", "data-count")  # noqa: E731
        total = count()
        for text, expected in (("amex-0005", "1"), ("DECLINED BY", "1"), (trace_ids[0], "1"),
                               ("no such thing anywhere", "0")):
            opened.page.fill("#search", text)
            expect(opened.page.locator("#trace-list")).to_have_attribute("data-count", expected)
        opened.page.fill("#search", "amex-0005")
        expect(opened.page.locator("#trace-list")).to_have_attribute("data-count", "1")
        opened.page.press("#search", "Escape")
        assert opened.page.input_value("#search") == ""
        expect(opened.page.locator("#trace-list")).to_have_attribute("data-count", total)
    finally:
        opened.close()


def test_enter_on_a_button_or_link_is_theirs_not_a_zoom(page: Page) -> None:
    page.page.click("#waterfall .span-row >> nth=1")  # a span with a parent
    page.page.focus("#collapse-all")
    page.page.keyboard.press("Enter")
    assert not page.page.is_visible("#unzoom")
    assert page.page.locator("#waterfall .span-row").count() == 1  # collapsed, as clicked
    page.page.click("#expand-all")
    page.page.click("#waterfall .span-row >> nth=1")
    parent = page.page.locator("#details a.jump").first
    parent.focus()
    page.page.keyboard.press("Enter")
    assert not page.page.is_visible("#unzoom")
    assert page.page.get_attribute("#details", "data-span") == page.page.get_attribute(
        "#waterfall .span-row >> nth=0", "data-span")
    page.page.focus('#tabs button[data-tab="history"]')
    page.page.keyboard.press("Enter")
    assert page.page.is_visible("#tab-history") and not page.page.is_visible("#unzoom")


def test_failures_show_in_the_trace_list_and_the_jobs_tab(page: Page) -> None:
    """A trace whose root completed but which holds failures is drawn as failed; a routine
    that failed before it last ran shows its error beside its error count."""
    statuses = page.page.eval_on_selector_all(
        "#trace-list .row .status", "cells => cells.map(c => [c.textContent, c.className])")
    with_failures = [cls for text, cls in statuses if "failed" in text]
    assert with_failures and all("error" in cls for cls in with_failures)
    assert any(text.startswith("completed ·") for text, _ in statuses)
    page.page.click('#tabs [data-tab="jobs"]')
    rows = page.page.eval_on_selector_all(
        "#tab-jobs table.routines tr", "rows => rows.slice(1).map(r => [...r.cells].map("
        "c => c.textContent))")
    failing = [row for row in rows if row[3] != "0"]
    assert failing and all(row[4] for row in failing), failing


@pytest.fixture
def private() -> tuple[Any, ExecutionStore]:
    """A tracer feeding a store of its own: a page of just this test's traces (the default
    store may hold spans other tests left running)."""
    from opentelemetry.sdk.trace import TracerProvider

    from otel_exec import ExecutionSpanProcessor

    own = ExecutionStore()
    provider = TracerProvider()
    provider.add_span_processor(ExecutionSpanProcessor(own, every_span=True))
    return provider.get_tracer("viewer-test"), own


ORIGIN = 1_700_000_000_000_000_000
"""Epoch nanoseconds the waterfall tests' spans are timed from."""


def _timed(tracer: Any, name: str, start_ms: float, end_ms: float | None, parent: Any = None,
           origin: int = ORIGIN) -> Any:
    """An execution span at fixed times (end None: left running)."""
    span = tracer.start_span(name, context=None if parent is None else
                             trace_api.set_span_in_context(parent),
                             start_time=origin + int(start_ms * 1e6),
                             attributes={"exec.framework": "python", "exec.kind": "function"})
    if end_ms is not None:
        span.end(end_time=origin + int(end_ms * 1e6))
    return span


def _slow_and_fast_jobs(tracer: Any) -> None:
    """A one-span trace of 900 ms, and one of 10 ms holding three 1 ms parts."""
    _timed(tracer, "slow job", 0, 900)
    fast = _timed(tracer, "fast job", 0, None)
    for n in range(3):
        _timed(tracer, f"part {n}", n, n + 1, fast)
    fast.end(end_time=ORIGIN + int(10e6))


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""
    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_zoom_deep_trees_running_spans_and_contrast(private: tuple[Any, ExecutionStore],
                                                    browser: Any, tmp_path: Path) -> None:
    tracer, own = private
    root = _timed(tracer, "zoom root", 0, None)
    _timed(tracer, "early child", 0, 10, root)
    _timed(tracer, "late child", 20, 30, root)
    root.end(end_time=ORIGIN + int(40e6))
    parent = _timed(tracer, "deep 0", 0, None)
    deep = [parent]
    for level in range(1, 160):
        deep.append(_timed(tracer, f"deep {level}", level, None, deep[-1]))
    for level, span in reversed(list(enumerate(deep))):
        span.end(end_time=ORIGIN + int((400 - level) * 1e6))
    waiting = _timed(tracer, "still running", 0, None)
    _timed(tracer, "done inside", 0, 5, waiting)
    opened = Page(browser, write_page(own, tmp_path / "waterfall.html"))
    try:
        page = opened.page
        page.locator("#trace-list .row").filter(has_text="zoom root").click()
        page.locator("#waterfall .span-row").filter(has_text="late child").dblclick()
        early = page.locator("#waterfall .span-row").filter(has_text="early child")
        assert early.locator(".bar").count() == 0
        assert "before the zoomed span" in early.inner_text()
        assert page.locator("#axis span").first.inner_text() == "20.0 ms"
        page.locator("#trace-list .row").filter(has_text="deep 0").click()
        page.eval_on_selector("#waterfall", "host => { host.scrollTop = host.scrollHeight; }")
        deepest = page.locator("#waterfall .span-row").filter(has_text="deep 159")
        name = deepest.locator(".name").bounding_box()
        assert name is not None and name["width"] > 40
        assert deepest.locator(".depth").inner_text() == "159›"
        page.locator("#trace-list .row").filter(has_text="still running").click()
        row = page.locator("#waterfall .span-row").filter(has_text="still running")
        bar, lane = row.locator(".bar").bounding_box(), row.locator(".lane").bounding_box()
        assert bar is not None and lane is not None and bar["width"] > lane["width"] * 0.5
        colours = page.eval_on_selector_all(
            ".status.ok", "cells => cells.map(c => [getComputedStyle(c).color, "
            "getComputedStyle(document.body).backgroundColor])")
        assert colours and all(_contrast(fg, bg) >= 4.5 for fg, bg in colours), colours
    finally:
        waiting.end()
        opened.close()


def test_sorting_the_address_markers_and_the_keyboard(private: tuple[Any, ExecutionStore],
                                                      browser: Any, tmp_path: Path) -> None:
    tracer, own = private
    _slow_and_fast_jobs(tracer)

    flaky = tracer.start_span("flaky", attributes={
        "exec.framework": "python", "exec.kind": "function", "exec.status": "failed"})
    flaky.record_exception(ValueError("boom"))
    flaky.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "ValueError: boom"))
    flaky.end()
    failing = own.by_name("flaky")[0]
    path = write_page(own, tmp_path / "sorted.html")
    opened = Page(browser, path)
    try:
        page = opened.page
        first = page.locator("#trace-list .row").first.inner_text
        page.select_option("#trace-sort", "slowest")
        assert first().startswith("slow job")
        page.select_option("#trace-sort", "spans")
        assert first().startswith("fast job")
        page.select_option("#trace-sort", "failures")
        assert first().startswith("flaky")
        # events on the bar: the exception's tick
        page.locator("#trace-list .row").filter(has_text="flaky").click()
        marker = page.locator('#waterfall .span-row .marker[data-event="exception"]')
        assert marker.count() == 1 and "ValueError" in (marker.get_attribute("title") or "")
        # the address holds the selection, and opens it again
        assert f"span={failing.span_id}" in page.evaluate("location.hash")
        # the keyboard reaches the trace list: focus a row, Enter selects it
        row = page.locator("#trace-list .row").filter(has_text="slow job")
        row.focus()
        page.keyboard.press("Enter")
        assert "slow job" in page.inner_text("#waterfall-title")
        assert row.get_attribute("role") == "option"
    finally:
        opened.close()
    part = own.by_name("part 1")[0]
    again = browser.new_page()
    try:
        again.goto(f"{path.resolve().as_uri()}#trace={part.trace_id}&span={part.span_id}")
        again.wait_for_selector("body[data-ready]", timeout=15_000)
        assert again.get_attribute("#details", "data-span") == part.span_id
        assert "fast job" in again.inner_text("#waterfall-title")
    finally:
        again.close()


def test_duration_filter_statistics_copying_and_a_cleared_details_pane(
        private: tuple[Any, ExecutionStore], browser: Any, tmp_path: Path) -> None:
    tracer, own = private
    _slow_and_fast_jobs(tracer)
    opened = Page(browser, write_page(own, tmp_path / "tools.html"))
    try:
        page = opened.page
        page.fill("#min-duration", "500")
        page.dispatch_event("#min-duration", "change")
        expect(page.locator("#trace-list")).to_have_attribute("data-count", "1")
        assert page.locator("#trace-list .row").first.inner_text().startswith("slow job")
        page.fill("#search", "no such span anywhere")
        expect(page.locator("#trace-list")).to_have_attribute("data-count", "0")
        assert page.get_attribute("#details", "data-span") is None
        assert "Select a span." in page.inner_text("#details")
        page.fill("#search", "")
        page.fill("#min-duration", "")
        page.dispatch_event("#min-duration", "change")
        expect(page.locator("#trace-list")).to_have_attribute("data-count", "2")
        page.locator("#trace-list .row").filter(has_text="fast job").click()
        expect(page.locator("#waterfall-title")).to_contain_text("fast job")
        page.click("#stats-toggle")
        rows = page.eval_on_selector_all("#trace-stats tr", "rows => rows.slice(1).map("
                                         "r => [...r.cells].map(c => c.textContent))")
        by_name = {row[0]: row for row in rows}
        assert by_name["fast job"][1:] == ["1", "0", "10.0 ms", "7.00 ms"]
        assert by_name["part 1"][1:] == ["1", "0", "1.00 ms", "1.00 ms"]
        with contextlib.suppress(Exception):  # where the clipboard can be granted, it is used
            page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        assert "viewer-test" in page.inner_text("#details")  # the instrumentation scope
        page.click("#details button.copy:has-text('copy as JSON')")
        copied = page.locator("#details textarea.copy-text")
        text = (copied.input_value() if copied.count()
                else page.evaluate("navigator.clipboard.readText()"))
        assert json.loads(text)["name"] == "fast job"
        assert json.loads(text)["scope"] == "viewer-test"
    finally:
        opened.close()


def test_the_header_filters_apply_to_the_runs_and_jobs_tabs(page: Page, demo: Views) -> None:
    runs = page.page.locator("#tab-runs .card.run")
    jobs = page.page.locator("#tab-jobs .card.job")
    all_runs, all_jobs = runs.count(), jobs.count()
    assert all_runs > 1 and all_jobs >= 1
    page.page.select_option("#status-filter", "error")
    failing_runs = [h for h in demo.history.histories() if h.get_summary()["failed_steps"]]
    expect(runs).to_have_count(len(failing_runs))
    assert 0 < len(failing_runs) < all_runs
    assert "match the filters" in page.page.inner_text("#tab-runs")
    page.page.select_option("#status-filter", "all")
    expect(runs).to_have_count(all_runs)
    page.page.fill("#search", "no run is called this")
    expect(runs).to_have_count(0)
    expect(jobs).to_have_count(0)
    page.page.fill("#search", "")
    expect(jobs).to_have_count(all_jobs)
    # a step's chip takes Enter as a click: it opens the step's span
    page.page.click('#tabs [data-tab="runs"]')
    chip = page.page.locator("#tab-runs .chip").first
    chip.focus()
    page.page.keyboard.press("Enter")
    assert page.page.get_attribute("#details", "data-span") == chip.get_attribute("data-span")


def test_a_trace_whose_parent_span_is_not_here_says_so(private: tuple[Any, ExecutionStore],
                                                       browser: Any, tmp_path: Path) -> None:
    tracer, own = private
    elsewhere = trace_api.NonRecordingSpan(trace_api.SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True,
        trace_flags=trace_api.TraceFlags(1)))  # a caller that sends its spans elsewhere
    _timed(tracer, "handle order", 0, 5, elsewhere)
    _timed(tracer, "whole", 0, 9)
    data = _page_data(write_page(own, tmp_path / "partial.html"))
    assert sorted(row[15] for row in data["spans"]) == ["", "00f067aa0ba902b7"]
    opened = Page(browser, tmp_path / "partial.html")
    try:
        page = opened.page
        rows = page.locator("#trace-list .row")
        expect(rows.filter(has_text="handle order")).to_contain_text("handle order · partial")
        expect(rows.filter(has_text="whole")).not_to_contain_text("partial")
        rows.filter(has_text="handle order").click()
        page.locator("#waterfall .span-row").first.click()
        expect(page.locator('#details [data-field="absent-parent"]')).to_contain_text(
            "00f067aa0ba902b7, not here")
    finally:
        opened.close()


def test_critical_path_minimap_and_the_names_width(private: tuple[Any, ExecutionStore],
                                                   browser: Any, tmp_path: Path) -> None:
    tracer, own = private
    root = _timed(tracer, "plan", 0, None)
    first = _timed(tracer, "fetch", 0, None, root)
    _timed(tracer, "fetch part", 5, 25, first)
    first.end(end_time=ORIGIN + int(30e6))
    build = _timed(tracer, "build", 30, None, root)
    _timed(tracer, "compile", 30, 50, build)  # ends after "link" began: on the path, clipped
    _timed(tracer, "link", 35, 85, build)
    _timed(tracer, "lint", 40, 60, build)  # beside "link", which took longer
    build.end(end_time=ORIGIN + int(90e6))
    side = _timed(tracer, "report", 40, None, root)  # beside "build"
    for n in range(200):
        _timed(tracer, f"page {n}", 40 + n * 0.1, 40 + n * 0.1 + 1, side)
    side.end(end_time=ORIGIN + int(70e6))
    root.end(end_time=ORIGIN + int(100e6))
    opened = Page(browser, write_page(own, tmp_path / "critical.html"))
    try:
        page = opened.page
        rows = page.locator("#waterfall .span-row")
        page.click("#critical-toggle")
        expect(page.locator("#critical-toggle")).to_have_attribute("aria-pressed", "true")
        page.click("#collapse-all")
        page.click("#expand-all")
        on_path = set(page.eval_on_selector_all(
            "#waterfall .span-row[data-critical] .name", "names => names.map(n => n.textContent)"))
        assert on_path == {"plan", "fetch", "fetch part", "build", "compile", "link"}
        assert rows.filter(has_text="lint").get_attribute("data-critical") is None

        minimap = page.locator("#minimap")
        assert minimap.get_attribute("data-rows") == "208"
        box = minimap.bounding_box()
        assert box is not None
        assert page.eval_on_selector("#waterfall", "host => host.scrollTop") == 0
        page.mouse.click(box["x"] + 10, box["y"] + box["height"] - 2)  # near the last row
        page.wait_for_function("document.getElementById('waterfall').scrollTop > 1000")
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 10)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 10, steps=4)
        page.mouse.up()
        expect(page.locator("#waterfall-title")).to_contain_text("zoomed to 30.0 ms–60.0 ms")
        assert page.locator("#axis span").first.inner_text() == "30.0 ms"
        page.click("#unzoom")
        expect(page.locator("#waterfall-title")).not_to_contain_text("zoomed")

        name = rows.first.locator(".name")
        before = rows.first.locator(".label").bounding_box()
        resizer = page.locator("#name-resizer")
        grip = resizer.bounding_box()
        assert before is not None and grip is not None
        page.mouse.move(grip["x"] + 4, grip["y"] + 4)
        page.mouse.down()
        page.mouse.move(grip["x"] + 204, grip["y"] + 4, steps=5)
        page.mouse.up()
        after = rows.first.locator(".label").bounding_box()
        assert after is not None and after["width"] > before["width"] + 150
        selected = page.get_attribute("#details", "data-span")
        resizer.focus()
        width = int(resizer.get_attribute("aria-valuenow") or 0)
        page.keyboard.press("ArrowLeft")  # the separator's, not the waterfall's fold key
        assert int(resizer.get_attribute("aria-valuenow") or 0) == width - 2
        assert page.get_attribute("#details", "data-span") == selected
        assert name.is_visible()
    finally:
        opened.close()
