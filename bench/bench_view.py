"""The HTML viewer at scale: seconds to write the page and to its first paint in Chromium.

    .venv/bin/python bench/bench_view.py [--spans 10000 100000]

For each size, otel_exec records that many spans (a parent @traced call with nine children,
one in 50 failing), saves them, then times ``otel-exec view`` on the file (read + write the
page) and opens the page in headless Chromium (Debian's, ``make browser``): first paint is the
page's own clock at the first frame after the trace list, the waterfall and the details are
drawn; then a search over every span and a click on a span are timed the same way. Then
``otel-exec serve`` takes the same file as OTLP/JSON requests: spans received per second, the
served page's first paint, and the time from a new request to the page showing it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import otel_exec
from otel_exec import cli
from tests.browser import chromium


@otel_exec.traced(name="step")
def step(i: int) -> int:
    if i % 50 == 0:
        raise ValueError(f"item {i}")
    return i


@otel_exec.traced(name="batch")
def batch(first: int) -> int:
    done = 0
    for i in range(first, first + 9):
        with contextlib.suppress(ValueError):
            done += step(i)
    return done


def measure(spans: int, browser: object, folder: Path) -> None:
    store = otel_exec.configure(max_spans=spans)
    store.clear()
    for first in range(0, spans, 10):
        batch(first)
    trace = folder / f"spans-{spans}.jsonl"
    otel_exec.save(trace)
    page = folder / f"spans-{spans}.html"
    started = time.perf_counter()
    assert cli.main(["view", str(trace), "-o", str(page), "--max-spans", "0"]) == 0
    written = time.perf_counter() - started
    tab = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    started = time.perf_counter()
    tab.goto(page.resolve().as_uri())
    tab.wait_for_selector("body[data-ready]", timeout=120_000)
    opened = time.perf_counter() - started
    first_paint = float(tab.get_attribute("body", "data-ready")) / 1000
    started = time.perf_counter()
    tab.fill("#search", "step")
    tab.locator("#counts").filter(has_text="match").wait_for(timeout=60_000)
    searched = time.perf_counter() - started
    started = time.perf_counter()
    tab.click("#waterfall .span-row >> nth=1")
    tab.locator("#details h2").filter(has_text="step").wait_for(timeout=60_000)
    clicked = time.perf_counter() - started
    tab.close()
    print(f"{spans:>8,} spans  page {page.stat().st_size / 1e6:6.1f} MB  "
          f"otel-exec view {written:5.2f} s  first paint {first_paint:5.2f} s "
          f"(open to ready {opened:5.2f} s)  search {searched:4.2f} s  "
          f"click {clicked:4.2f} s")


def measure_serve(spans: int, browser: object, trace: Path) -> None:
    """``otel-exec serve``: spans received per second (the saved file posted as OTLP JSON, one
    request a line), the page's first paint, and how long a new span takes to show on it."""
    from tests.integration.pipeline import free_port, stop, wait_for_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "otel_exec", "serve", "--port", str(port),
                                "--max-spans", str(spans * 2)], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, timeout=30)
        lines = trace.read_bytes().splitlines()
        started = time.perf_counter()
        for line in lines:
            _post(port, line)
        received = spans / (time.perf_counter() - started)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.wait_for_selector("body[data-ready]", timeout=120_000)
        first_paint = float(tab.get_attribute("body", "data-ready")) / 1000
        before = tab.get_attribute("#trace-list", "data-count")
        started = time.perf_counter()
        _post(port, _one_new_span())
        tab.wait_for_function(
            f"() => document.body.dataset.ready && "
            f"document.getElementById('trace-list').dataset.count !== '{before}'",
            timeout=120_000)
        updated = time.perf_counter() - started
        tab.close()
    finally:
        stop(process)
    print(f"{spans:>8,} spans  otel-exec serve: received {received:8,.0f} spans/s  "
          f"first paint {first_paint:5.2f} s  a new span on the page in {updated:5.2f} s "
          "(polled each second)")


def _one_new_span() -> bytes:
    """An OTLP/JSON request of one span in a trace of its own."""
    import json
    import secrets

    now = time.time_ns()
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "bench"}, "spans": [{
        "traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8), "name": "new",
        "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}]}]}]}).encode()


def _post(port: int, body: bytes) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/v1/traces", body=body,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"serve answered {response.status}")
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[10_000, 100_000])
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, headless Chromium")
    with chromium() as browser, tempfile.TemporaryDirectory() as folder:
        for spans in options.spans:
            measure(spans, browser, Path(folder))
        for spans in options.spans:
            measure_serve(spans, browser, Path(folder) / f"spans-{spans}.jsonl")


if __name__ == "__main__":
    main()
