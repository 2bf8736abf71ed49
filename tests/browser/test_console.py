"""The agent console in a real browser: Debian's chromium driven by Playwright, against the real app served by
uvicorn on 127.0.0.1 (offline answerer, demo help centre, WhatsApp through a Twilio-shaped server on
127.0.0.1). A customer asks for a person in the web chat widget, or on WhatsApp; an agent signed in on
/console is alerted, accepts, reads the conversation and its summary, and replies; the reply reaches the
customer through their own channel. Nothing but 127.0.0.1 may be reached.

Set FRONTDESK_BROWSER_SCREENSHOTS=<folder> to keep a screenshot of each step.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from browsing import INSTALL, OffsiteGuard, new_context, screenshot
from fakes.network import wait_for
from fakes.twilio import FakeTwilio
from playwright.sync_api import Browser, BrowserContext, Page, expect

from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder
from routing import AgentStatus, ChannelKind, HumanAgent

pytestmark = pytest.mark.browser

WHATSAPP = "whatsapp:+15559990000"
PASSWORD = "ana's console password"
# Records the page's browser notifications (the permission is granted to the context).
RECORD_NOTIFICATIONS = """(() => {
  const Real = window.Notification;
  window.__notified = [];
  function Recording(title, options) {
    window.__notified.push({ title: title, body: (options && options.body) || "" });
    return new Real(title, options);
  }
  Recording.requestPermission = Real.requestPermission.bind(Real);
  Object.defineProperty(Recording, "permission", { get: () => Real.permission });
  window.Notification = Recording;
})();"""


@dataclass
class Service:
    url: str
    runtime: Runtime
    twilio: FakeTwilio


@pytest.fixture(scope="module")
def service(browser: Browser | None, request: pytest.FixtureRequest) -> Iterator[Service | None]:
    """The real app on a free port of 127.0.0.1 (uvicorn in a background thread), with WhatsApp through the
    fake Twilio server, and Ana: an online agent with a console account in the app's database."""
    if browser is None:
        yield None
        return
    embedder: SentenceTransformerEmbedder = request.getfixturevalue("embedder")
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with FakeTwilio() as twilio:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path_factory.mktemp("console-browser") / "data",
            public_base_url=url,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=WHATSAPP,
            twilio_api_base_url=twilio.base_url,
            outbox_retry_seconds=0.2,
            console_refresh_seconds=1.0,
        )
        app = create_app(settings, embedder=embedder)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 180
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the app did not start on 127.0.0.1 (see the log above)")
            time.sleep(0.05)
        runtime: Runtime = app.state.runtime
        assert runtime.router is not None
        runtime.router.upsert_agent(
            HumanAgent(
                id="ana",
                name="Ana Lopez",
                email="ana@northwind.example",
                languages=("en",),
                capacity={ChannelKind.CHAT: 3, ChannelKind.MESSAGING: 3},
                status=AgentStatus.ONLINE,
            )
        )
        AccountStore(runtime.engine).create("ana", PASSWORD)
        try:
            yield Service(url, runtime, twilio)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            listener.close()


def _context(browser: Browser | None, guard: OffsiteGuard, **options: Any) -> BrowserContext:
    return new_context(browser, guard, timeout_ms=15_000, viewport={"width": 1400, "height": 900}, **options)


def _shot(page: Page, name: str) -> None:
    screenshot(page, f"console-{name}", full_page=True)


def _sign_in(browser: Browser | None, guard: OffsiteGuard, service: Service) -> tuple[BrowserContext, Page]:
    """Ana's console, signed in, with offer alerts turned on."""
    context = _context(browser, guard, permissions=["notifications"])
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    page.goto(f"{service.url}/console")
    page.get_by_label("Agent id or e-mail").fill("ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Ana Lopez (agent)")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("online")
    page.get_by_role("button", name="Turn on offer alerts").click()
    expect(page.get_by_role("button", name="Alerts on: sound and notifications")).to_be_visible()
    return context, page


def _accept(page: Page, channel: str) -> None:
    """Accept the offer of a conversation on `channel` once it shows, with its alert."""
    offer = page.get_by_role("listitem", name=f"Offer: {channel}, customer asked for human")
    expect(offer).to_be_visible()
    page.wait_for_function("() => window.__notified.some(n => n.title === 'Frontdesk: new conversation')")
    expect(page.locator("#announce")).to_contain_text("New offer")
    offer.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name=f"Conversation on {channel}")).to_be_visible()


def test_a_web_chat_visitor_asks_for_a_person_and_sees_the_agents_reply(
    service: Service | None, browser: Browser | None
) -> None:
    guard = OffsiteGuard()
    if service is None:
        pytest.fail(INSTALL)
    agent_context, console = _sign_in(browser, guard, service)
    _shot(console, "1-signed-in")

    visitor_context = _context(browser, guard)
    shop = visitor_context.new_page()
    shop.goto(f"{service.url}/demo")
    shop.get_by_role("button", name="Chat with us").click()
    box = shop.get_by_role("textbox", name="Your message")
    box.fill("How long do refunds take?")
    box.press("Enter")
    answers = shop.locator(".fd-msg--agent:not(.fd-msg--greeting):not(.fd-msg--streaming) .fd-bubble")
    expect(answers.first).to_contain_text("refund", ignore_case=True)
    box.fill("Can I talk to a person please?")
    box.press("Enter")
    expect(answers.nth(1)).to_be_visible()

    _accept(console, "webchat")
    expect(console.locator("#f-channel")).to_have_text("webchat")
    expect(console.locator("#f-reason")).to_contain_text("customer asked for human")
    expect(console.get_by_role("region", name="Summary")).to_contain_text("First asked: How long do refunds take?")
    expect(console.locator("#messages")).to_contain_text("Can I talk to a person please?")
    console.get_by_role("button", name="Suggest replies").click()
    expect(console.locator("#suggest-note")).to_have_text("For: How long do refunds take?")
    suggestion = console.locator("#suggestions li").first
    expect(suggestion).to_contain_text("refund", ignore_case=True)
    link = suggestion.get_by_role("link").first
    expect(link).to_have_attribute("href", "https://help.northwind-bikes.example/articles/returns-and-refunds")
    _shot(console, "2-conversation")

    reply = "Hi, this is Ana. Your refund was approved today."
    console.get_by_label("Reply to the customer").fill(reply)
    console.get_by_role("button", name="Send reply").click()
    expect(console.locator("#messages li.human")).to_contain_text(reply)

    expect(shop.locator(".fd-msg--human .fd-bubble")).to_have_text([reply])
    expect(shop.locator(".fd-notice", has_text="Ana from our team has joined the conversation.")).to_be_visible()
    _shot(shop, "3-visitor-sees-the-reply")
    agent_context.close()
    visitor_context.close()
    assert guard.blocked == []


def test_a_whatsapp_customer_asks_for_a_person_and_the_reply_leaves_through_twilio(
    service: Service | None, browser: Browser | None
) -> None:
    guard = OffsiteGuard()
    if service is None:
        pytest.fail(INSTALL)
    agent_context, console = _sign_in(browser, guard, service)
    customer = "whatsapp:+15550007777"
    params = service.twilio.incoming_message(customer, WHATSAPP, "Can I speak to a real person please?")
    webhook = service.twilio.post_webhook(f"{service.url}/twilio/messages", params)
    assert webhook.status_code == 200, webhook.text

    _accept(console, "whatsapp")
    expect(console.locator("#f-channel")).to_have_text("whatsapp")
    expect(console.locator("#f-customer")).to_have_text(customer)
    expect(console.get_by_role("region", name="Summary")).to_contain_text("Can I speak to a real person please?")
    _shot(console, "4-whatsapp-conversation")

    reply = "Hello from Ana at Northwind: how can I help with your bike?"
    console.get_by_label("Reply to the customer").fill(reply)
    console.get_by_role("button", name="Send reply").click()
    expect(console.locator("#messages li.human")).to_contain_text(reply)

    sent = wait_for(
        "the reply through the Twilio Messages API",
        lambda: [m for m in service.twilio.sent if m.to == customer and reply in m.body],
        timeout=30,
    )
    assert sent[0].from_ == WHATSAPP
    creations = [r for r in service.twilio.requests if r.method == "POST" and r.path.endswith("/Messages.json")]
    assert any(r.params.get("To") == customer and reply in r.params.get("Body", "") for r in creations)
    _shot(console, "5-whatsapp-replied")
    agent_context.close()
    assert guard.blocked == []
