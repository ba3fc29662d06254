"""Headless Chromium (Debian's package, installed by ``make browser``) driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
"""The machine has no network: without the background-networking flags Chromium keeps
trying to reach its own services."""


def chromium_path() -> str | None:
    """``OTEL_EXEC_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    return (os.environ.get("OTEL_EXEC_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright ``Browser`` on the system's Chromium (Playwright's own download is not
    used: it cannot be fetched here)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium: run `make browser` (Debian's chromium package) or set "
                           "OTEL_EXEC_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
