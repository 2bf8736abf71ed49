"""The alert routes of the dashboard: who may use them, the JSON they answer, notice validation, resolving."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from service_runtime import build_test_runtime

from agent.agent import SupportAgent
from analytics.alerts import AlertStore
from analytics.surges import Surge
from analytics.tables import deliveries_table
from frontdesk import db
from frontdesk.api.alerts import get_alert_store
from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.base import KnowledgeBase
from routing import AgentStatus, ChannelKind, HumanAgent, Role

TOKEN = "admin-token-for-alert-tests-32-characters"
HOOK = "https://hooks.example/services/T0/s3cr3t-token"
PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"
ALERT_KEYS = {
    "id", "topic", "label", "status", "started_at", "detected_at", "updated_at", "resolved_at",
    "messages", "customers", "expected", "channels", "examples", "notice", "notice_active",
}  # fmt: skip
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@dataclass
class Service:
    client: TestClient
    store: AlertStore
    engine: sa.Engine
    runtime: Runtime

    def person(self, agent_id: str, role: Role) -> TestClient:
        """A browser signed in to the console as a new agent with `role`; its CSRF token in `.headers`."""
        assert self.runtime.router is not None
        self.runtime.router.upsert_agent(
            HumanAgent(
                id=agent_id,
                name=f"{agent_id.capitalize()} Tester",
                email=f"{agent_id}@support.example",
                role=role,
                languages=("en",),
                capacity={ChannelKind.CHAT: 3},
                status=AgentStatus.ONLINE,
            )
        )
        AccountStore(self.engine).create(agent_id, PASSWORD)
        browser = TestClient(self.client.app)
        signed = browser.post(
            "/v1/console/session",
            json={"login": agent_id, "password": PASSWORD},
            headers={"X-Requested-With": "frontdesk-console", "Origin": ORIGIN},
        )
        assert signed.status_code == 200, signed.text
        browser.headers.update({"X-CSRF-Token": signed.json()["csrf_token"], "Origin": ORIGIN})
        return browser


@pytest.fixture
def service(tmp_path: Path, demo_agent: SupportAgent, demo_knowledge: KnowledgeBase) -> Iterator[Service]:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
    db.upgrade(engine)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", demo_kb=False, admin_token=TOKEN)  # type: ignore[call-arg]
    runtime = build_test_runtime(settings, engine, demo_agent, demo_knowledge)
    store = AlertStore(engine, webhook_urls=[HOOK], emails=["lead@support.example"])
    app = create_app(runtime=runtime)
    app.dependency_overrides[get_alert_store] = lambda: store
    with TestClient(app) as client:
        yield Service(client, store, engine, runtime)
    engine.dispose()


def surge(topic: str, minutes: int = 0) -> Surge:
    return Surge(
        topic=topic,
        label=topic.replace("_", " ").capitalize(),
        started_at=T0,
        detected_at=T0 + dt.timedelta(minutes=minutes),
        messages=12,
        customers=8,
        expected=2.0,
        channels={"webchat": 9, "sms": 3},
        examples=("it does not work",),
    )


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_access_needs_a_supervisor_or_the_admin_token(service: Service) -> None:
    client = service.client
    anonymous = client.get("/v1/analytics/alerts")
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["detail"]
    wrong = client.get("/v1/analytics/alerts", headers=bearer("not-the-token"))
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["detail"]
    assert client.get("/v1/analytics/alerts", headers=bearer()).status_code == 200
    agent = service.person("ann", Role.AGENT)
    refused = agent.get("/v1/analytics/alerts")
    assert refused.status_code == 403 and "supervisors and admins" in refused.json()["detail"]
    supervisor = service.person("sue", Role.SUPERVISOR)
    assert supervisor.get("/v1/analytics/alerts").status_code == 200
    assert service.person("ada", Role.ADMIN).get("/v1/analytics/alerts").status_code == 200
    opened = service.store.apply(surge("payment_failed"))
    assert opened is not None
    no_csrf = supervisor.post(f"/v1/analytics/alerts/{opened.alert.id}/resolve", headers={"X-CSRF-Token": "forged"})
    assert no_csrf.status_code == 403 and "X-CSRF-Token" in no_csrf.json()["detail"]
    cross_site = supervisor.post(
        f"/v1/analytics/alerts/{opened.alert.id}/resolve", headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403 and "cross-site" in cross_site.json()["detail"]
    assert service.store.get(opened.alert.id).status == "open"


def test_the_json_has_exactly_the_dashboards_keys(service: Service) -> None:
    first = service.store.apply(surge("payment_failed", minutes=1))
    second = service.store.apply(surge("login_broken", minutes=5))
    assert first and second
    service.store.resolve(second.alert.id)
    response = service.client.get("/v1/analytics/alerts", headers=bearer())
    assert response.status_code == 200 and list(response.json()) == ["alerts"]
    alerts = response.json()["alerts"]
    assert [a["topic"] for a in alerts] == ["payment_failed", "login_broken"], "open first"
    assert all(set(alert) == ALERT_KEYS for alert in alerts)
    top = alerts[0]
    assert top["channels"] == {"webchat": 9, "sms": 3} and top["examples"] == ["it does not work"]
    assert (top["messages"], top["customers"], top["expected"], top["status"]) == (12, 8, 2.0, "open")
    assert dt.datetime.fromisoformat(top["started_at"]) == T0 and top["resolved_at"] is None
    assert top["notice"] is None and top["notice_active"] is False
    only_resolved = service.client.get("/v1/analytics/alerts?status=resolved", headers=bearer()).json()
    assert [a["topic"] for a in only_resolved["alerts"]] == ["login_broken"]
    assert service.client.get("/v1/analytics/alerts?status=bogus", headers=bearer()).status_code == 422

    detail = service.client.get(f"/v1/analytics/alerts/{first.alert.id}", headers=bearer()).json()
    assert set(detail) == ALERT_KEYS | {"deliveries"}
    assert {(d["target"], d["destination"], d["status"], d["attempts"]) for d in detail["deliveries"]} == {
        ("webhook", "https://hooks.example/…", "pending", 0),
        ("email", "lead@support.example", "pending", 0),
    }
    hook = next(d["id"] for d in detail["deliveries"] if d["target"] == "webhook")
    with service.engine.begin() as conn:  # a failed attempt whose error quotes the URL
        conn.execute(
            sa.update(deliveries_table)
            .where(deliveries_table.c.id == hook)
            .values(last_error=f"Client error '404 Not Found' for url '{HOOK}'", attempts=1)
        )
    shown = service.client.get(f"/v1/analytics/alerts/{first.alert.id}", headers=bearer())
    assert "s3cr3t-token" not in shown.text, "a webhook URL's secret path is never shown"
    [failed] = [d for d in shown.json()["deliveries"] if d["id"] == hook]
    assert failed["last_error"] == "Client error '404 Not Found' for url 'https://hooks.example/…'"
    assert {d["id"] for d in detail["deliveries"]} == set(first.deliveries)
    assert all(
        {"id", "target", "destination", "status", "attempts", "last_error"} <= set(d) for d in detail["deliveries"]
    )
    missing = service.client.get("/v1/analytics/alerts/nope", headers=bearer())
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_notice_validation_and_switching(service: Service) -> None:
    opened = service.store.apply(surge("payment_failed"))
    assert opened is not None
    supervisor = service.person("sue", Role.SUPERVISOR)
    url = f"/v1/analytics/alerts/{opened.alert.id}/notice"

    def post(body: object) -> httpx.Response:
        return supervisor.post(url, json=body)

    blank = post({"text": "  ", "active": True})
    assert blank.status_code == 422 and "needs a text" in blank.json()["detail"]
    assert post({"active": True}).status_code == 422
    too_long = post({"text": "x" * 501, "active": True})
    assert too_long.status_code == 422 and "500" in str(too_long.json()["detail"])
    assert post({"text": "hi"}).status_code == 422, "active is required"
    assert post({"text": "hi", "active": True, "colour": "red"}).status_code == 422, "unknown fields are refused"
    on = post({"text": "Card payments are failing; we are on it.", "active": True})
    assert on.status_code == 200 and on.json()["notice_active"] is True and set(on.json()) == ALERT_KEYS
    assert service.store.active_notices() == {"payment_failed": "Card payments are failing; we are on it."}
    off = post({"active": False})
    assert off.status_code == 200 and off.json()["notice"] == "Card payments are failing; we are on it."
    assert service.store.active_notices() == {}
    assert supervisor.post("/v1/analytics/alerts/nope/notice", json={"active": False}).status_code == 404


def test_resolving_an_alert(service: Service) -> None:
    opened = service.store.apply(surge("payment_failed"))
    assert opened is not None
    url = f"/v1/analytics/alerts/{opened.alert.id}/resolve"
    done = service.client.post(url, headers=bearer())
    assert done.status_code == 200 and done.json()["status"] == "resolved" and done.json()["resolved_at"]
    again = service.client.post(url, headers=bearer())
    assert again.status_code == 409 and "resolved already" in again.json()["detail"]
    late_notice = service.client.post(
        f"/v1/analytics/alerts/{opened.alert.id}/notice", json={"text": "x", "active": True}, headers=bearer()
    )
    assert late_notice.status_code == 409
    events = [d.event for d in service.store.deliveries(opened.alert.id) if d.target == "webhook"]
    assert events == ["alert.opened", "alert.resolved"]


def test_without_an_alert_store_the_routes_say_so(tmp_path: Path, service: Service) -> None:
    service.client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    response = service.client.get("/v1/analytics/alerts", headers=bearer())
    assert response.status_code == 503 and "not available" in response.json()["detail"]
