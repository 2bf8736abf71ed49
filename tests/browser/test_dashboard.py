"""The analytics dashboard in a real browser: Debian's chromium driven by Playwright against the real app served
by uvicorn on 127.0.0.1, with a week of interaction events in its log. A supervisor signs in on /dashboard; the
plotly charts are drawn from the API's figures (their SVG holds the bars and lines), and a screenshot shows
them: each chart's area holds many pixels in its series' colours. The same check fails on an empty period and
when plotly.js does not load. Nothing but 127.0.0.1 may be reached, and the page breaks no CSP rule.

Set FRONTDESK_BROWSER_SCREENSHOTS=<folder> to keep the screenshots.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import uvicorn
from browsing import INSTALL, OffsiteGuard, new_context, screenshot
from PIL import Image
from playwright.sync_api import Browser, Page, Route, expect

from analytics import EventKind, InteractionEvent, InteractionLog
from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder
from routing import AgentStatus, ChannelKind, HumanAgent, Role

pytestmark = pytest.mark.browser

PASSWORD = "sue's dashboard password"
CHANNELS = ("webchat", "whatsapp", "email")
REASONS = ("customer_asked", "not_grounded", "frustration")
DAYS = 7
# The series colours of dashboard.js, and the charts each must show up in.
SERIES = {
    "chart-volume": ("#1f5fbf", "#1e7a3c"),  # conversations (bars), containment (line)
    "chart-reasons": ("#a63b00",),
    "chart-latency": ("#1f5fbf", "#b3261e"),  # p50, p95
    "chart-csat": ("#1e7a3c", "#7b3fa0"),  # CSAT (bars), mean rating (line)
    "chart-traffic": ("#1f5fbf", "#1e7a3c", "#a63b00"),  # webchat, whatsapp, email (stacked bars)
}
MIN_PIXELS = 150  # per series colour in its chart: a line of width 3 across the chart has several hundred


@dataclass
class Service:
    url: str
    runtime: Runtime


def seed(log: InteractionLog, now: dt.datetime) -> int:
    """A week of conversations (more each day, on three channels, some escalated, some rated) and a busy last
    two hours; returns how many conversations there are."""
    count = 0
    for day in range(DAYS):
        start = (now - dt.timedelta(days=DAYS - 1 - day)).replace(hour=0, minute=30) if day < DAYS - 1 else None
        for i in range(4 + 2 * day):
            at = start + dt.timedelta(minutes=20 * i) if start else now - dt.timedelta(minutes=3 + 7 * i)
            cid, channel = f"d{day}-{i}", CHANNELS[i % len(CHANNELS)]
            log.record(
                InteractionEvent(EventKind.MESSAGE_IN, cid, at, channel=channel, customer=f"k{day}{i}", topic="refunds")
            )
            latency = 400.0 + 150 * i + 60 * day
            answered = at + dt.timedelta(seconds=2)
            log.record(
                InteractionEvent(EventKind.ANSWER, cid, answered, channel=channel, latency_ms=latency, skill="billing")
            )
            if i % 3 == 0:
                reason = REASONS[(i // 3 + day) % len(REASONS)]
                log.record(InteractionEvent(EventKind.ESCALATION, cid, answered, reason=reason, intent="refund"))
            else:
                log.record(
                    InteractionEvent(
                        EventKind.RESOLUTION, cid, answered + dt.timedelta(minutes=1), data={"by": "assistant"}
                    )
                )
            log.record(
                InteractionEvent(
                    EventKind.RATING, cid, answered + dt.timedelta(minutes=2), value=float(1 + (i + day) % 5)
                )
            )
            count += 1
    log.flush()
    return count


@pytest.fixture(scope="module")
def service(browser: Browser | None, request: pytest.FixtureRequest) -> Iterator[Service | None]:
    """The real app on a free port of 127.0.0.1 (uvicorn in a background thread) with Sue, a supervisor with a
    console account, Amy, an agent, and a week of interaction events."""
    if browser is None:
        yield None
        return
    embedder: SentenceTransformerEmbedder = request.getfixturevalue("embedder")
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("dashboard-browser") / "data",
        public_base_url=url,
        demo_kb=False,
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
    for agent_id, role in (("sue", Role.SUPERVISOR), ("amy", Role.AGENT)):
        runtime.router.upsert_agent(
            HumanAgent(
                id=agent_id,
                name=f"{agent_id.capitalize()} Example",
                email=f"{agent_id}@northwind.example",
                role=role,
                languages=("en",),
                capacity={ChannelKind.CHAT: 3},
                status=AgentStatus.ONLINE,
            )
        )
        AccountStore(runtime.engine).create(agent_id, PASSWORD)
    seed(runtime.interaction_log or InteractionLog(runtime.engine), dt.datetime.now(dt.UTC))
    try:
        yield Service(url, runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def sign_in(page: Page, service: Service, login: str = "sue") -> None:
    page.goto(f"{service.url}/dashboard")
    page.get_by_label("Agent id or e-mail").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def chart_problems(page: Page) -> list[str]:
    """What a screenshot of the page says is missing: each chart's area must hold at least MIN_PIXELS pixels in
    each of its series' colours (close to them: antialiasing blends the edges)."""
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    scale = page.evaluate("window.devicePixelRatio")
    problems = []
    for chart, colours in SERIES.items():
        box = page.locator(f"#{chart}").bounding_box()
        if box is None:
            problems.append(f"{chart} is not on the page")
            continue
        scroll = page.evaluate("[window.scrollX, window.scrollY]")
        left, top = (box["x"] + scroll[0]) * scale, (box["y"] + scroll[1]) * scale
        area = shot.crop((int(left), int(top), int(left + box["width"] * scale), int(top + box["height"] * scale)))
        pixels = np.asarray(area, dtype=np.int16)
        for colour in colours:
            near = int((np.abs(pixels - np.array(rgb(colour), dtype=np.int16)).max(axis=2) <= 24).sum())
            if near < MIN_PIXELS:
                problems.append(f"{chart}: {near} pixels in {colour}")
    return problems


def svg_marks(page: Page) -> dict[str, dict[str, int]]:
    """Per chart, what plotly drew in its SVG: bar shapes and line paths."""
    found: dict[str, dict[str, int]] = page.evaluate(
        """(ids) => Object.fromEntries(ids.map((id) => [id, {
            bars: document.querySelectorAll(`#${id} .barlayer .point path`).length,
            lines: [...document.querySelectorAll(`#${id} .scatterlayer .js-line`)]
                .filter((p) => (p.getAttribute('d') || '').length > 10).length,
        }]))""",
        list(SERIES),
    )
    return found


def watch_csp(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_a_supervisor_sees_the_kpis_and_the_charts(service: Service | None, browser: Browser | None) -> None:
    guard = OffsiteGuard()
    if service is None:
        pytest.fail(INSTALL)
    context = new_context(browser, guard, timeout_ms=30_000, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = watch_csp(page)
    sign_in(page, service)
    expect(page.get_by_role("status")).to_contain_text("Live · updated")
    expect(page.locator("#t-conversations")).to_have_text(str(sum(4 + 2 * day for day in range(DAYS))))
    page.wait_for_function("() => document.querySelectorAll('#chart-traffic .barlayer .point path').length > 0")
    marks = svg_marks(page)
    assert marks["chart-volume"] == {"bars": DAYS, "lines": 1}, marks
    assert marks["chart-reasons"] == {"bars": len(REASONS), "lines": 0}, marks
    assert marks["chart-latency"] == {"bars": 0, "lines": 2}, marks
    assert marks["chart-csat"] == {"bars": DAYS, "lines": 1}, marks
    assert marks["chart-traffic"]["bars"] > 0 and marks["chart-traffic"]["lines"] == 1, marks
    expect(page.locator("#chart-reasons-text")).to_contain_text("customer asked:")
    expect(page.locator("#chart-traffic-text")).to_contain_text("Busiest topics: refunds")
    # The emerging issues and knowledge gaps are read from their own routes: listed, or said to be missing.
    for section in ("Emerging issues", "Knowledge gaps"):
        expect(page.get_by_role("region", name=section)).to_be_visible()
        expect(page.get_by_role("region", name=section).locator("li, p.empty:not([hidden])").first).to_be_visible()
    # plotly.js's own stylesheet applies (served as a file: the CSP refuses inline styles)
    assert page.evaluate("getComputedStyle(document.querySelector('#chart-volume .main-svg')).position") == "absolute"
    assert chart_problems(page) == []
    screenshot(page, "dashboard-1-charts", full_page=True)
    csv_link = page.get_by_role("link", name="Download CSV")
    with page.expect_download() as download:
        csv_link.click()
    assert download.value.suggested_filename.startswith("frontdesk-kpis-")
    context.close()
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []
    assert guard.blocked == []


def test_the_screenshot_check_fails_on_an_empty_period_and_without_plotly(
    service: Service | None, browser: Browser | None
) -> None:
    guard = OffsiteGuard()
    if service is None:
        pytest.fail(INSTALL)
    context = new_context(browser, guard, timeout_ms=30_000, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    empty_period = f"{service.url}/v1/analytics/kpis?by=day&since=2001-01-01&until=2001-01-08"
    alert = {
        "id": "a1", "topic": "cluster:3", "label": "Card payments fail at checkout", "status": "open",
        "started_at": "2026-03-01T10:00:00+00:00", "detected_at": "2026-03-01T10:20:00+00:00",
        "updated_at": "2026-03-01T10:25:00+00:00", "resolved_at": None, "messages": 42, "customers": 37,
        "expected": 3.5, "channels": {"whatsapp": 30, "webchat": 12}, "examples": ["my card is declined"],
        "notice": "We know about the payment problem.", "notice_active": True,
    }  # fmt: skip
    gap = {"topic": "warranty", "label": "Warranty abroad", "count": 9, "examples": ["is my bike covered in France?"],
           "reasons": {"not_grounded": 9}, "draft": "Draft: the warranty covers the EU."}  # fmt: skip

    def empty_kpis(route: Route) -> None:
        route.fulfill(response=route.fetch(url=empty_period))

    def quiet_traffic(route: Route) -> None:  # the same hours, back when nothing had happened yet
        route.fulfill(response=route.fetch(url=f"{route.request.url}&until=2001-01-08T00:00:00Z"))

    def fixed(body: object) -> object:
        return lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/analytics/kpis?*", empty_kpis)
    page.route("**/v1/analytics/timeseries?*", quiet_traffic)
    page.route("**/v1/analytics/alerts", fixed({"alerts": [alert]}))
    page.route("**/v1/analytics/gaps", fixed({"gaps": [gap]}))
    sign_in(page, service)
    expect(page.get_by_role("status")).to_contain_text("Live · updated")
    expect(page.locator("#t-conversations")).to_have_text("0")
    expect(page.locator("#chart-volume")).to_contain_text("No conversations in this period")
    expect(page.locator("#chart-traffic")).to_contain_text("No customer messages in the last 6 hours")
    assert all(marks == {"bars": 0, "lines": 0} for marks in svg_marks(page).values())
    problems = chart_problems(page)
    assert len(problems) == sum(len(colours) for colours in SERIES.values()), problems
    issue = page.get_by_role("region", name="Emerging issues").get_by_role("listitem").first
    expect(issue).to_contain_text("Card payments fail at checkout")
    expect(issue).to_contain_text("42 messages from 37 customers")
    expect(issue).to_contain_text("whatsapp 30, webchat 12")
    expect(page.get_by_role("note", name="Draft article")).to_have_text("Draft: the warranty covers the EU.")
    screenshot(page, "dashboard-2-empty", full_page=True)
    page.close()

    blocked = context.new_page()
    blocked.route("**/dashboard/static/plotly-*.min.js", lambda route: route.abort())
    blocked.goto(f"{service.url}/dashboard")  # still signed in: the context keeps the session cookie
    expect(blocked.get_by_role("status")).to_contain_text("Not updated: the charting library (plotly.js) did not load")
    assert len(chart_problems(blocked)) == sum(len(colours) for colours in SERIES.values())
    context.close()
    assert guard.blocked == []


def test_an_agent_is_told_the_dashboard_is_not_for_them(service: Service | None, browser: Browser | None) -> None:
    guard = OffsiteGuard()
    if service is None:
        pytest.fail(INSTALL)
    context = new_context(browser, guard, timeout_ms=30_000)
    page = context.new_page()
    sign_in(page, service, "amy")
    expect(page.get_by_role("alert")).to_have_text(
        "amy signs in as agent: the analytics are for supervisors and admins"
    )
    context.close()
    assert guard.blocked == []
