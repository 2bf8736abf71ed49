"""What the browser tests share: Debian's chromium through Playwright, a guard that keeps every request on
127.0.0.1, browser contexts with that guard, and screenshots kept when FRONTDESK_BROWSER_SCREENSHOTS is set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = (
    f"Debian's chromium is not installed ({CHROMIUM} is missing). Install it with "
    "'sudo apt-get update && sudo apt-get install -y chromium' (make test does this itself when run as root, "
    "through .ci/ensure-chromium). Playwright's own browser download is not used."
)
SHOTS = os.environ.get("FRONTDESK_BROWSER_SCREENSHOTS")


class OffsiteGuard:
    """Aborts, and remembers, every request that would leave 127.0.0.1."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


def new_context(
    browser: Browser | None, guard: OffsiteGuard, *, timeout_ms: int = 10_000, **options: Any
) -> BrowserContext:
    """A browser context whose requests go through `guard`; fails saying how to install chromium without one."""
    if browser is None:
        pytest.fail(INSTALL)
    context = browser.new_context(**options)
    context.route("**/*", guard)
    context.set_default_timeout(timeout_ms)
    return context


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot of the page as <name>.png when FRONTDESK_BROWSER_SCREENSHOTS names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)
