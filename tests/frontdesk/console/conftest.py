"""Fixtures of the console tests: the service on the test's database (SQLite and PostgreSQL) with the demo
help centre and the offline agent, agents with console accounts, and signed-in browsers-to-be."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_runtime import build_test_runtime

from agent.agent import SupportAgent
from frontdesk.app import create_app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.base import KnowledgeBase
from routing import AgentStatus, ChannelKind, HumanAgent, Role, Router, Team

ADMIN_TOKEN = "console-tests-admin-token-0123456789abcdef"
# What an integration sends to the conversations API (the tests drive customers through it).
API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"
SIGN_IN = {"X-Requested-With": "frontdesk-console"}


@dataclass
class SignedIn:
    """One agent's browser: its own cookie jar and the CSRF token of its session."""

    agent_id: str
    http: TestClient
    csrf: str
    me: dict[str, Any] = field(default_factory=dict)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, "Origin": ORIGIN, **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/v1/console{path}", **kwargs)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(f"/v1/console{path}", json=body, headers=self._headers(headers))

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.put(f"/v1/console{path}", json=body, headers=self._headers(headers))

    def patch(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.patch(f"/v1/console{path}", json=body, headers=self._headers(None))

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(f"/v1/console{path}", headers=self._headers(None))


@dataclass
class ConsoleHarness:
    """The running service and ways to add and sign in agents."""

    app: FastAPI
    client: TestClient
    runtime: Runtime
    engine: sa.Engine

    @property
    def router(self) -> Router:
        assert self.runtime.router is not None
        return self.runtime.router

    def add_agent(
        self,
        agent_id: str,
        *,
        role: Role = Role.AGENT,
        status: AgentStatus = AgentStatus.ONLINE,
        team: str | None = None,
        password: str | None = PASSWORD,
    ) -> HumanAgent:
        agent = self.router.upsert_agent(
            HumanAgent(
                id=agent_id,
                name=f"{agent_id.capitalize()} Tester",
                email=f"{agent_id}@support.example",
                role=role,
                team=team,
                languages=("en",),
                capacity={ChannelKind.CHAT: 3, ChannelKind.MESSAGING: 3},
                status=status,
            )
        )
        if password is not None:
            AccountStore(self.engine).create(agent_id, password)
        return agent

    def add_team(self, team_id: str) -> None:
        self.router.upsert_team(Team(id=team_id, name=team_id.capitalize(), skills=()))

    def browser(self) -> TestClient:
        return TestClient(self.app)

    def sign_in(self, login: str, password: str = PASSWORD) -> SignedIn:
        http = self.browser()
        response = http.post(
            "/v1/console/session", json={"login": login, "password": password}, headers={**SIGN_IN, "Origin": ORIGIN}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return SignedIn(body["id"], http, body["csrf_token"], body)


@pytest.fixture
def console(
    engine: sa.Engine, demo_agent: SupportAgent, demo_knowledge: KnowledgeBase, tmp_path: Path
) -> Iterator[ConsoleHarness]:
    """The whole service on the test's database, its workers running (routing, replies, outbox, console)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        demo_kb=False,
        console_refresh_seconds=0.5,
        admin_token=ADMIN_TOKEN,
    )
    runtime = build_test_runtime(settings, engine, demo_agent, demo_knowledge)
    app = create_app(runtime=runtime)
    with TestClient(app) as client:
        yield ConsoleHarness(app, client, runtime, engine)
