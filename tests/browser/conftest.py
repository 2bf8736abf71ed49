"""Fixtures of the browser tests: chromium for each test module, and a fresh off-site guard per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browsing import CHROMIUM, OffsiteGuard
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | None]:
    """Debian's chromium through Playwright; None when it is not installed (each test then fails saying how
    to install it: a missing browser is never a reason to skip). Module-scoped on purpose: Playwright's sync
    API keeps an event loop running while it is open, which the asyncio tests of later modules cannot share."""
    if not CHROMIUM.exists():
        yield None
        return
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def guard() -> OffsiteGuard:
    return OffsiteGuard()
