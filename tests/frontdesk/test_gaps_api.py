"""GET /v1/analytics/gaps: who may read it, the JSON shape the dashboard reads, drafts, and bad parameters
answered with 422 and a reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from service_runtime import build_test_runtime

from agent.agent import SupportAgent
from analytics import EventKind, InteractionEvent, InteractionLog
from analytics.gap_drafts import DRAFT_MARK
from frontdesk import db
from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.settings import Settings
from knowledge.base import KnowledgeBase
from routing import AgentStatus, ChannelKind, HumanAgent, Role

TOKEN = "gaps-test-token-4b1d9c-long-enough-for-32"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "correct horse battery"
SIGN_IN = {"X-Requested-With": "frontdesk-console", "Origin": "http://testserver"}
NOW = dt.datetime.now(dt.UTC)
SHIPPING = ("Do you ship to Iceland?", "can I get my order delivered in Reykjavik", "Is delivery to Iceland possible?")
LOYALTY = ("How do loyalty points work?", "how can I use my loyalty points")
REPLY = "Hello Ana! We ship to Iceland with DHL Express. Delivery to Iceland takes 4 to 6 working days."


def record_gaps(engine: sa.Engine) -> None:
    """Three shipping questions (one escalated and resolved by a person) and two loyalty questions 2 days ago,
    a grounded one, and an unanswered one 20 days ago."""
    log = InteractionLog(engine)
    asked = [(f"s{n}", NOW - dt.timedelta(days=2, minutes=n), t, False) for n, t in enumerate(SHIPPING)]
    asked += [(f"l{n}", NOW - dt.timedelta(days=2, hours=1, minutes=n), t, False) for n, t in enumerate(LOYALTY)]
    asked += [("ok", NOW - dt.timedelta(days=1), "How long do refunds take?", True)]
    asked += [("old", NOW - dt.timedelta(days=20), "Do you sell gift cards?", False)]
    for cid, when, text, grounded in asked:
        log.record(InteractionEvent(EventKind.MESSAGE_IN, cid, when, channel="webchat", customer=f"k{cid}", text=text))
        data = {"grounded": grounded, "question": text, "citations": [], "writer": "offline", "escalated": False}
        log.record(InteractionEvent(EventKind.ANSWER, cid, when, confidence=0.9 if grounded else 0.2, data=data))
    later = NOW - dt.timedelta(days=1)
    log.record(InteractionEvent(EventKind.ESCALATION, "s0", later, reason="answer_not_grounded", data={"priority": 3}))
    log.record(InteractionEvent(EventKind.HUMAN_REPLY, "s0", later, actor="sue", text=REPLY))
    log.record(InteractionEvent(EventKind.RESOLUTION, "s0", later, actor="sue", data={"by": "human"}))
    log.flush()


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, demo_agent: SupportAgent, demo_knowledge: KnowledgeBase
) -> Iterator[TestClient]:
    """The service with the admin token set, an agent and a supervisor with console accounts, and gap events."""
    folder = tmp_path_factory.mktemp("gaps-api")
    engine = db.create_engine(f"sqlite:///{folder / 'frontdesk.db'}")
    db.upgrade(engine)
    settings = Settings(_env_file=None, data_dir=folder / "data", demo_kb=False, admin_token=SecretStr(TOKEN))  # type: ignore[call-arg]
    runtime = build_test_runtime(settings, engine, demo_agent, demo_knowledge)
    assert runtime.router is not None
    for agent_id, role in (("amy", Role.AGENT), ("sue", Role.SUPERVISOR)):
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
    record_gaps(engine)
    with TestClient(create_app(runtime=runtime)) as http:
        yield http
    engine.dispose()


@pytest.fixture
def http(client: TestClient) -> Iterator[TestClient]:
    client.cookies.clear()
    yield client
    client.cookies.clear()


def sign_in(client: TestClient, login: str) -> None:
    response = client.post("/v1/console/session", json={"login": login, "password": PASSWORD}, headers=SIGN_IN)
    assert response.status_code == 200, response.text


def test_supervisors_and_the_admin_token_may_read_others_may_not(http: TestClient) -> None:
    assert http.get("/v1/analytics/gaps").status_code == 401
    assert http.get("/v1/analytics/gaps", headers={"Authorization": "Bearer wrong"}).status_code == 401
    sign_in(http, "amy")
    refused = http.get("/v1/analytics/gaps")
    assert refused.status_code == 403 and "supervisors and admins" in refused.json()["detail"]
    http.cookies.clear()
    sign_in(http, "sue")
    assert http.get("/v1/analytics/gaps").status_code == 200
    http.cookies.clear()
    assert http.get("/v1/analytics/gaps", headers=BEARER).status_code == 200


def test_topics_in_the_shape_the_dashboard_reads(http: TestClient) -> None:
    response = http.get("/v1/analytics/gaps", headers=BEARER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["questions"], body["topics"]) == (5, 2), "the grounded and the 20-day-old questions are left out"
    shipping, loyalty = body["gaps"]
    for gap in (shipping, loyalty):
        assert {"topic", "label", "count", "conversations", "examples", "reasons", "first_seen", "last_seen"} <= set(
            gap
        )
        assert gap["draft"] is None, "drafts only on request"
        assert dt.datetime.fromisoformat(gap["first_seen"]) <= dt.datetime.fromisoformat(gap["last_seen"])
    assert shipping["label"] in SHIPPING and shipping["count"] == 3 and shipping["conversations"] == 3
    assert shipping["reasons"] == {"not_grounded": 3, "escalated": 1}
    assert set(shipping["examples"]) == set(SHIPPING)
    assert loyalty["label"] in LOYALTY and loyalty["count"] == 2

    longer = http.get("/v1/analytics/gaps", params={"days": 30, "limit": 1}, headers=BEARER).json()
    assert (longer["questions"], longer["topics"], len(longer["gaps"])) == (6, 3, 1)


def test_drafts_on_request(http: TestClient) -> None:
    body = http.get("/v1/analytics/gaps", params={"drafts": "true"}, headers=BEARER).json()
    shipping, loyalty = body["gaps"]
    assert shipping["draft"].startswith(DRAFT_MARK)
    assert "We ship to Iceland with DHL Express." in shipping["draft"] and "Ana" not in shipping["draft"]
    assert loyalty["draft"] is None, "nobody answered a loyalty question"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"days": "0"}, "greater than or equal to 1"),
        ({"days": "400"}, "less than or equal to 366"),
        ({"days": "a week"}, "valid integer"),
        ({"limit": "0"}, "greater than or equal to 1"),
        ({"limit": "101"}, "less than or equal to 100"),
        ({"drafts": "perhaps"}, "valid boolean"),
    ],
)
def test_bad_parameters_get_422_with_a_reason(http: TestClient, params: dict[str, str], reason: str) -> None:
    response = http.get("/v1/analytics/gaps", params=params, headers=BEARER)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert reason in error["msg"] and error["loc"] == ["query", next(iter(params))]
