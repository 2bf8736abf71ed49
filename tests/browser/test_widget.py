"""The web chat widget in a real browser: Debian's chromium driven by Playwright, against the real app served by
uvicorn on 127.0.0.1 (offline answerer, demo help centre). Nothing but 127.0.0.1 may be reached.

Set FRONTDESK_BROWSER_SCREENSHOTS=<folder> to keep a screenshot of each step.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from browsing import OffsiteGuard, new_context, screenshot
from playwright.sync_api import Browser, BrowserContext, Page, expect

from frontdesk.app import create_app
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

pytestmark = pytest.mark.browser

LAKEVIEW = "Where is your Lakeview store?"
STORES_ARTICLE = "Store locations, opening hours and parking"
HANDOFF = "A person from our team will reply here"

# Records what the visitor could see while the answer was written: the typing indicator and partial text.
WATCH_STREAMING = """() => {
  const root = document.querySelector("#frontdesk-webchat").shadowRoot;
  window.__seen = [];
  new MutationObserver(() => {
    const typing = root.querySelector(".fd-typing");
    if (typing && !typing.hidden) window.__seen.push("typing");
    const partial = root.querySelector(".fd-msg--streaming .fd-bubble");
    if (partial && partial.textContent) window.__seen.push("partial:" + partial.textContent);
  }).observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
}"""
FOCUSED = """() => {
  const host = document.activeElement;
  if (!host || host.id !== "frontdesk-webchat") return host ? host.tagName : null;
  const inner = host.shadowRoot.activeElement;
  return inner ? (inner.id || inner.className) : "frontdesk-webchat";
}"""


@pytest.fixture(scope="module")
def server(browser: Browser | None, request: pytest.FixtureRequest) -> Iterator[str]:
    """The real app on a free port of 127.0.0.1, served by uvicorn in a background thread."""
    if browser is None:  # the tests fail at once; nothing to start
        yield ""
        return
    embedder: SentenceTransformerEmbedder = request.getfixturevalue("embedder")
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser") / "data", _env_file=None)  # type: ignore[call-arg]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(create_app(settings, embedder=embedder), log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start on 127.0.0.1 (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def _context(browser: Browser | None, guard: OffsiteGuard, **options: Any) -> BrowserContext:
    return new_context(browser, guard, **options)


def _shot(page: Page, name: str) -> None:
    screenshot(page, name)


def _answer(page: Page) -> object:
    """The finished answers of the assistant (not the greeting, not one being written)."""
    return page.locator(".fd-msg--agent:not(.fd-msg--greeting):not(.fd-msg--streaming) .fd-bubble")


def test_a_visitor_asks_sees_the_answer_stream_with_its_source_asks_for_a_person_and_resumes(
    server: str, browser: Browser | None, guard: OffsiteGuard
) -> None:
    context = _context(browser, guard, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{server}/demo")
    page.get_by_role("button", name="Chat with us").click()
    panel = page.get_by_role("dialog", name="Northwind Bikes support")
    expect(panel).to_be_visible()
    page.evaluate(WATCH_STREAMING)

    box = page.get_by_role("textbox", name="Your message")
    box.fill(LAKEVIEW)
    box.press("Enter")
    answer = page.locator(".fd-msg--agent:not(.fd-msg--greeting):not(.fd-msg--streaming) .fd-bubble")
    expect(answer).to_contain_text("Lakeview")
    final = answer.inner_text()
    seen: list[str] = page.evaluate("window.__seen")
    partial = [entry.removeprefix("partial:") for entry in seen if entry.startswith("partial:")]
    assert "typing" in seen, "the typing indicator showed before the answer"
    assert partial and len(partial[0]) < len(final), f"the answer appeared as it was written: {seen}"

    source = page.get_by_role("link", name=STORES_ARTICLE)
    expect(source).to_be_visible()
    assert (source.get_attribute("href") or "").startswith("https://help.northwind-bikes.example/")
    expect(page.locator("[aria-live=polite]")).to_contain_text("Assistant: ")
    _shot(page, "1-answer")

    page.get_by_role("button", name="Talk to a person").click()
    expect(page.get_by_text(HANDOFF).first).to_be_visible()
    expect(page.get_by_role("button", name="Keep chatting with the assistant")).to_be_enabled()
    _shot(page, "2-handoff")

    page.reload()  # the panel stays open, and the conversation is still there
    expect(page.get_by_role("dialog", name="Northwind Bikes support")).to_be_visible()
    expect(page.locator(".fd-msg--customer .fd-bubble")).to_have_text([LAKEVIEW])
    expect(answer).to_have_text([final])
    expect(page.get_by_role("link", name=STORES_ARTICLE)).to_be_visible()
    expect(page.get_by_text(HANDOFF).first).to_be_visible()
    _shot(page, "3-resumed")

    page.get_by_role("button", name="Keep chatting with the assistant").click()  # no longer waiting for a person
    expect(page.get_by_text("Of course, I'm here. What would you like to know?").first).to_be_visible()
    expect(page.get_by_role("button", name="Talk to a person")).to_be_enabled()
    context.close()
    assert guard.blocked == []


def test_the_chat_works_with_the_keyboard_alone(server: str, browser: Browser | None, guard: OffsiteGuard) -> None:
    context = _context(browser, guard, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{server}/demo")
    page.wait_for_function("() => document.querySelector('#frontdesk-webchat')")
    for _ in range(30):
        page.keyboard.press("Tab")
        if "fd-launcher" in (page.evaluate(FOCUSED) or ""):
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Northwind Bikes support")).to_be_visible()
    assert page.evaluate(FOCUSED) == "fd-input", "focus lands in the message box"
    page.keyboard.type("How long do refunds take?")
    page.keyboard.press("Enter")
    expect(_answer(page)).to_contain_text("refund", ignore_case=True)  # type: ignore[arg-type]

    # The end of the chat: rate it with the arrow keys, as a radio group is used without a mouse.
    page.get_by_role("button", name="End chat").press("Enter")
    assert page.evaluate(FOCUSED) == "fd-star-1", "focus moves to the rating"
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="4 stars")).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.type("Quick and clear")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".fd-notice", has_text="Thanks for your feedback!")).to_be_visible()
    token = page.evaluate(f"localStorage.getItem('frontdesk-webchat-token:{server}')")
    stored = httpx.get(f"{server}/v1/webchat/history", headers={"Authorization": f"Bearer {token}"}).json()
    assert stored["rating"] == 4
    _shot(page, "5-rated")

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert "fd-launcher" in page.evaluate(FOCUSED), "focus goes back to the launcher"
    expect(page.get_by_role("button", name="Chat with us")).to_have_attribute("aria-expanded", "false")
    context.close()
    assert guard.blocked == []


def test_on_a_phone_the_panel_fills_the_screen(server: str, browser: Browser | None, guard: OffsiteGuard) -> None:
    context = _context(
        browser, guard, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = context.new_page()
    page.goto(f"{server}/demo")
    page.get_by_role("button", name="Chat with us").tap()
    panel = page.get_by_role("dialog", name="Northwind Bikes support")
    expect(panel).to_be_visible()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#frontdesk-webchat').shadowRoot"
        ".querySelector('.fd-panel')).borderRadius === '0px'"
    )
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    for control in (page.get_by_role("textbox", name="Your message"), page.get_by_role("button", name="Send message")):
        expect(control).to_be_in_viewport()
    expect(page.get_by_role("button", name="Talk to a person")).to_be_in_viewport()
    _shot(page, "4-phone")
    context.close()
    assert guard.blocked == []


def test_without_websockets_the_widget_falls_back_to_rest(
    server: str, browser: Browser | None, guard: OffsiteGuard
) -> None:
    context = _context(browser, guard, viewport={"width": 1280, "height": 800})
    context.add_init_script("window.WebSocket = function () { throw new Error('blocked by a proxy'); };")
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{server}/demo")
    page.get_by_role("button", name="Chat with us").click()
    box = page.get_by_role("textbox", name="Your message")
    box.fill(LAKEVIEW)
    box.press("Enter")
    expect(_answer(page)).to_contain_text("Lakeview")  # type: ignore[arg-type]
    expect(page.get_by_role("link", name=STORES_ARTICLE)).to_be_visible()
    page.get_by_role("button", name="Talk to a person").click()
    expect(page.get_by_text(re.compile(HANDOFF)).first).to_be_visible()
    token = page.evaluate(f"localStorage.getItem('frontdesk-webchat-token:{server}')")
    context.close()
    assert guard.blocked == []
    assert token and any("/v1/webchat/messages" in url for url in urls), urls
    assert not [url for url in urls if token in url or "token=" in url], "the token travels in headers only"
