"""The analytics API: who may read it, the KPIs as JSON and CSV, the live traffic series, bad parameters
answered with 422 and a reason, and the dashboard page with its locally served plotly.js."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_runtime import build_test_runtime

from agent.agent import SupportAgent
from analytics import EventKind, InteractionEvent, InteractionLog
from frontdesk import db
from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings, get_settings
from knowledge.base import KnowledgeBase
from routing import AgentStatus, ChannelKind, HumanAgent, Role

TOKEN = "analytics-test-token-7f3c2a9e-32-chars-x"
PASSWORD = "correct horse battery"
SIGN_IN = {"X-Requested-With": "frontdesk-console", "Origin": "http://testserver"}
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, demo_agent: SupportAgent, demo_knowledge: KnowledgeBase
) -> Iterator[tuple[TestClient, Runtime]]:
    """The service with the admin token set, three console accounts (agent, supervisor, admin) and events of
    three conversations an hour ago."""
    folder = tmp_path_factory.mktemp("analytics-api")
    engine = db.create_engine(f"sqlite:///{folder / 'frontdesk.db'}")
    db.upgrade(engine)
    settings = Settings(_env_file=None, data_dir=folder / "data", demo_kb=False, admin_token=TOKEN)  # type: ignore[call-arg]
    runtime = build_test_runtime(settings, engine, demo_agent, demo_knowledge)
    assert runtime.router is not None
    for agent_id, role in (("amy", Role.AGENT), ("sue", Role.SUPERVISOR), ("ada", Role.ADMIN)):
        runtime.router.upsert_agent(
            HumanAgent(
                id=agent_id,
                name=agent_id.capitalize(),
                email=f"{agent_id}@support.example",
                role=role,
                languages=("en",),
                capacity={ChannelKind.CHAT: 2},
                status=AgentStatus.ONLINE,
            )
        )
        AccountStore(engine).create(agent_id, PASSWORD)
    log = InteractionLog(engine)
    hour_ago = NOW - dt.timedelta(hours=1)
    for conversation, channel, escalate in (("w1", "webchat", False), ("w2", "webchat", True), ("s1", "sms", False)):
        log.record(InteractionEvent(EventKind.MESSAGE_IN, conversation, hour_ago, channel=channel, topic="refunds"))
        log.record(InteractionEvent(EventKind.ANSWER, conversation, hour_ago, channel=channel, latency_ms=800.0))
        if escalate:
            log.record(InteractionEvent(EventKind.ESCALATION, conversation, hour_ago, reason="customer_asked"))
    log.flush()
    with TestClient(create_app(runtime=runtime)) as client:
        yield client, runtime
    engine.dispose()


@pytest.fixture
def client(service: tuple[TestClient, Runtime]) -> Iterator[TestClient]:
    http, _ = service
    http.cookies.clear()
    yield http
    http.cookies.clear()


def sign_in(client: TestClient, login: str) -> None:
    response = client.post("/v1/console/session", json={"login": login, "password": PASSWORD}, headers=SIGN_IN)
    assert response.status_code == 200, response.text


BEARER = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = ("/v1/analytics/kpis", "/v1/analytics/kpis.csv", "/v1/analytics/timeseries")


@pytest.mark.parametrize("path", ROUTES)
def test_without_credentials_the_answer_is_401_saying_how_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert "sign in at /dashboard" in response.json()["detail"]
    wrong = client.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["detail"]
    assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401  # no Bearer scheme


@pytest.mark.parametrize("path", ROUTES)
def test_an_agent_is_refused_supervisors_admins_and_the_token_are_let_in(client: TestClient, path: str) -> None:
    sign_in(client, "amy")
    refused = client.get(path)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "amy signs in as agent: the analytics are for supervisors and admins"
    for login in ("sue", "ada"):
        client.cookies.clear()
        sign_in(client, login)
        assert client.get(path).status_code == 200, login
    client.cookies.clear()
    assert client.get(path, headers=BEARER).status_code == 200


def test_the_token_is_refused_when_none_is_configured(service: tuple[TestClient, Runtime], client: TestClient) -> None:
    _, runtime = service
    bare = runtime.settings.model_copy(update={"admin_token": None})
    client.app.dependency_overrides[get_settings] = lambda: bare  # type: ignore[attr-defined]
    try:
        response = client.get("/v1/analytics/kpis", headers=BEARER)
    finally:
        client.app.dependency_overrides[get_settings] = lambda: runtime.settings  # type: ignore[attr-defined]
    assert response.status_code == 401 and "unknown or revoked" in response.json()["detail"]


def test_kpis_as_json_by_channel(client: TestClient) -> None:
    response = client.get("/v1/analytics/kpis", params={"by": "channel"}, headers=BEARER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by"] == "channel"
    assert dt.datetime.fromisoformat(body["until"]) - dt.datetime.fromisoformat(body["since"]) == dt.timedelta(days=7)
    total = body["total"]
    assert (total["conversations"], total["contained"], total["escalated"]) == (3, 2, 1)
    assert total["containment_rate"] == pytest.approx(2 / 3)
    assert total["escalations_by_reason"] == {"customer_asked": 1}
    assert total["latency_p50_ms"] == 800.0 and total["first_response_s"]["median"] == 0.0
    groups = {group["key"]: group for group in body["groups"]}
    assert set(groups) == {"sms", "webchat"}
    assert (groups["webchat"]["conversations"], groups["webchat"]["escalation_rate"]) == (2, 0.5)


def test_a_period_without_events_has_no_groups(client: TestClient) -> None:
    params = {"since": "2020-01-01", "until": "2020-01-02T00:00:00+02:00", "by": "day"}
    body = client.get("/v1/analytics/kpis", params=params, headers=BEARER).json()
    assert body["since"] == "2020-01-01T00:00:00+00:00" and body["until"] == "2020-01-01T22:00:00+00:00"
    assert body["groups"] == [] and body["total"]["conversations"] == 0 and body["total"]["csat"] is None


def test_kpis_as_csv(client: TestClient) -> None:
    response = client.get("/v1/analytics/kpis.csv", params={"by": "day"}, headers=BEARER)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="frontdesk-kpis-\d{8}-\d{8}-day\.csv"', response.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    cell = {(row["group"], row["kpi"]): row["value"] for row in rows}
    day = (NOW - dt.timedelta(hours=1)).date().isoformat()
    assert cell["all", "conversations"] == "3" and cell[day, "escalated"] == "1"
    assert cell["all", "escalations_by_reason.customer_asked"] == "1"


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/v1/analytics/kpis", {"by": "week"}, "Input should be 'channel', 'day' or 'skill'"),
        ("/v1/analytics/kpis", {"since": "yesterday"}, "Input should be a valid datetime"),
        ("/v1/analytics/kpis.csv", {"since": "2026-03-02", "until": "2026-03-01"}, "must be before until"),
        ("/v1/analytics/kpis", {"since": "2026-03-01", "until": "2026-03-01"}, "must be before until"),
        ("/v1/analytics/kpis", {"until": "9999-12-31T23:00:00"}, "is too far in the future"),
        ("/v1/analytics/kpis", {"until": "0001-01-01T01:00:00+05:00"}, "out of range"),
        ("/v1/analytics/kpis", {"until": "0001-01-02T00:00:00"}, "out of range"),
        ("/v1/analytics/timeseries", {"hours": "0"}, "greater than 0"),
        ("/v1/analytics/timeseries", {"hours": "nan"}, "less than or equal to 168"),
        ("/v1/analytics/timeseries", {"step_minutes": "0"}, "greater than or equal to 1"),
        ("/v1/analytics/timeseries", {"hours": "168", "step_minutes": "1"}, "more than 2000 buckets"),
        ("/v1/analytics/timeseries", {"top": "-1"}, "greater than or equal to 0"),
    ],
)
def test_bad_parameters_get_422_with_a_reason(
    client: TestClient, path: str, params: dict[str, str], reason: str
) -> None:
    response = client.get(path, params=params, headers=BEARER)
    assert response.status_code == 422, response.text
    assert reason in str(response.json()["detail"])


def test_timeseries_counts_the_last_hours_by_channel(client: TestClient) -> None:
    response = client.get("/v1/analytics/timeseries", params={"hours": 2, "step_minutes": 10}, headers=BEARER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step_s"] == 600 and len(body["buckets"]) in (12, 13)
    assert {channel: sum(counts) for channel, counts in body["messages"].items()} == {"sms": 1, "webchat": 2}
    assert sum(body["escalations"]) == 1 and body["topics"] == [{"topic": "refunds", "messages": 3}]
    earlier = (NOW - dt.timedelta(hours=2)).isoformat()
    before = client.get("/v1/analytics/timeseries", params={"hours": 0.5, "until": earlier}, headers=BEARER).json()
    assert before["messages"] == {} and before["topics"] == [] and sum(before["escalations"]) == 0
    assert dt.datetime.fromisoformat(before["buckets"][-1]) < NOW - dt.timedelta(hours=2)


def test_the_dashboard_page_and_its_files(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = re.search(r'src="/dashboard/static/(plotly-[\d.]+\.min\.js)"', page.text)
    assert script is not None and "{{plotly}}" not in page.text
    plotly = client.get(f"/dashboard/static/{script.group(1)}", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200 and "immutable" in plotly.headers["cache-control"]
    assert plotly.headers["content-encoding"] == "gzip"
    assert len(plotly.content) > 1_000_000  # the client has already decompressed it
    plain = client.get(f"/dashboard/static/{script.group(1)}", headers={"Accept-Encoding": "identity"})
    assert plain.headers.get("content-encoding") is None and plain.content == plotly.content
    with client.stream("GET", f"/dashboard/static/{script.group(1)}", headers={"Accept-Encoding": "gzip"}) as packed:
        raw = b"".join(packed.iter_raw())
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 2
    sheet = re.search(r'id="plotly.js-style-global" class="no-inline-styles" rel="stylesheet" href="(.+?)"', page.text)
    assert sheet is not None
    css = client.get(sheet.group(1))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ".js-plotly-plot .plotly .main-svg{position:absolute;top:0;left:0;pointer-events:none;}" in css.text
    for name in ("dashboard.js", "dashboard.css"):
        served = client.get(f"/dashboard/static/{name}")
        assert served.status_code == 200 and served.text
        local = Path(__file__).resolve().parents[2] / "frontdesk" / "dashboard" / "static" / name
        assert served.text == local.read_text(encoding="utf-8")
    missing = client.get("/dashboard/static/plotly-0.0.1.min.js")
    assert missing.status_code == 404 and "the page is /dashboard" in missing.json()["detail"]
