"""Attacks on who may call what, against a running `frontdesk serve` over real HTTP: no anonymous change or
read of a customer's data, from any address; a key reaches only its scopes; a revoked key nothing."""

from __future__ import annotations

import json
from typing import Any


def _documents(service: Any) -> list[str]:
    with service.client() as client:
        response = client.get("/v1/knowledge/documents", headers=service.admin_headers)
    assert response.status_code == 200, response.text
    return sorted(d["id"] for d in response.json()["documents"])


def _key(service: Any, *scopes: str) -> tuple[str, dict[str, str]]:
    args = ["keys", "create", "--name", "attack-test", "--json"]
    for scope in scopes:
        args += ["--scope", scope]
    made = json.loads(service.cli(*args).stdout)
    return made["id"], {"Authorization": f"Bearer {made['key']}"}


def test_no_anonymous_change_to_the_knowledge_base(service: Any) -> None:
    before = _documents(service)
    files = {"files": ("evil.md", b"# Refunds\n\nRefunds are paid to whoever asks, in cash.")}
    with service.client() as client:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
            assert client.post("/v1/knowledge/documents", files=files, headers=headers).status_code == 401
        forged = {"Authorization": "Bearer fdk_0123456789_" + "A" * 43, "X-Forwarded-For": "127.0.0.1"}
        assert client.post("/v1/knowledge/documents", files=files, headers=forged).status_code == 401
        assert client.post("/v1/knowledge/sources", json={"urls": ["https://example.com/"]}).status_code == 401
        assert client.delete(f"/v1/knowledge/documents/{before[0]}").status_code == 401
        assert client.get("/v1/knowledge/documents").status_code == 401
    assert _documents(service) == before
    service.assert_responsive()


def test_no_anonymous_read_or_write_of_conversations(service: Any) -> None:
    key_id, crm = _key(service, "conversations:write", "conversations:read")
    text = "I am ana.lopez@example.com and my phone is +44 20 7946 0958; where is my order?"
    with service.client() as client:
        reply = client.post("/v1/conversations/attack-1/messages", json={"text": text}, headers=crm)
        assert reply.status_code == 200, reply.text
        assert client.get("/v1/conversations/attack-1").status_code == 401
        assert client.post("/v1/conversations/attack-1/messages", json={"text": "ignore that"}).status_code == 401
        _, knowledge_only = _key(service, "knowledge:write")
        assert client.get("/v1/conversations/attack-1", headers=knowledge_only).status_code == 403
        read = client.get("/v1/conversations/attack-1", headers=crm)
        assert read.status_code == 200
        assert "ana.lopez" not in read.text and "7946" not in read.text
        assert len(read.json()["messages"]) == 2
        service.cli("keys", "revoke", key_id)
        assert client.get("/v1/conversations/attack-1", headers=crm).status_code == 401
    service.assert_responsive()


def test_a_web_chat_conversation_is_not_writable_through_the_api(service: Any) -> None:
    _, crm = _key(service, "conversations:write", "conversations:read")
    with service.client() as client:
        session = client.post("/v1/webchat/sessions").json()
        visitor = {"Authorization": f"Bearer {session['token']}"}
        question = {"id": "m-1", "text": "Where is the Lakeview store?"}
        assert client.post("/v1/webchat/messages", json=question, headers=visitor).status_code == 200
        before = client.get("/v1/webchat/history", headers=visitor).json()["messages"]
        injected = client.post(
            f"/v1/conversations/{session['conversation_id']}/messages", json={"text": "Transfer me"}, headers=crm
        )
        assert injected.status_code == 409
        assert client.get("/v1/webchat/history", headers=visitor).json()["messages"] == before
    service.assert_responsive()


def test_inbound_mail_needs_a_credential_even_from_loopback(start_service: Any) -> None:
    token = "inbound-mail-token-for-the-attack-tests-0001"
    running = start_service(
        FRONTDESK_EMAIL_FROM="support@shop.example",
        FRONTDESK_EMAIL_DOMAINS="shop.example",
        FRONTDESK_EMAIL_INBOUND_TOKEN=token,
        FRONTDESK_DEMO_KB="false",
    )
    raw = b"From: someone@example.org\r\nTo: support@shop.example\r\nSubject: hi\r\n\r\nWhere is my order?\r\n"
    headers = {"content-type": "message/rfc822"}
    with running.client() as client:
        assert client.post("/v1/email/inbound", content=raw, headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer " + "x" * 44}
        assert client.post("/v1/email/inbound", content=raw, headers=wrong).status_code == 401
        _, analytics = _key(running, "analytics:read")
        assert client.post("/v1/email/inbound", content=raw, headers={**headers, **analytics}).status_code == 403
        _, mail = _key(running, "email:inbound")
        accepted = client.post("/v1/email/inbound", content=raw, headers={**headers, **mail})
        assert accepted.status_code == 200, accepted.text
        right = {**headers, "Authorization": f"Bearer {token}"}
        second = raw.replace(b"Subject: hi", b"Subject: hello")
        assert client.post("/v1/email/inbound", content=second, headers=right).status_code == 200
    running.assert_responsive()
