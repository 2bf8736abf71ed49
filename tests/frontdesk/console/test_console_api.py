"""The console API on SQLite and PostgreSQL: signing in and out, CSRF and origin checks, the sign-in rate
limit, roles, and a conversation taken, answered, noted, transferred and resolved, with errors as 4xx."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import sqlalchemy as sa
from conftest import API, ORIGIN, PASSWORD, SIGN_IN, ConsoleHarness, SignedIn
from fakes.network import wait_for

from frontdesk.console.tables import sessions_table
from routing import AgentStatus, Role, TicketState

HUMAN = "I want to talk to a human about my refund, my card 4111 1111 1111 1111 was charged twice"


def _escalate(console: ConsoleHarness, conversation_id: str, text: str = HUMAN) -> dict[str, Any]:
    reply = console.client.post(f"/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=API)
    assert reply.status_code == 200, reply.text
    assert reply.json()["escalation"] is not None
    return dict(reply.json())


def _offer(agent: SignedIn) -> dict[str, Any]:
    offers: list[dict[str, Any]] = wait_for("an offer", lambda: agent.get("/offers").json(), timeout=15)
    return offers[0]


def test_sign_in_me_and_sign_out(console: ConsoleHarness) -> None:
    setup = console.client.get("/v1/console/setup").json()
    assert setup["accounts"] == 0 and "frontdesk agents add" in setup["how_to_create"]
    assert console.app.state.console.mailer is None, "no SMTP configured: no offer e-mails"  # type: ignore[attr-defined]
    page = console.client.get("/console")
    assert page.status_code == 200 and "Sign in" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert console.client.get("/console/console.js").status_code == 200
    assert console.client.get("/console/secrets.txt").status_code == 404

    console.add_agent("ana")
    browser = console.browser()
    wrong = browser.post("/v1/console/session", json={"login": "ana", "password": "wrong password!"}, headers=SIGN_IN)
    assert wrong.status_code == 401 and "wrong login or password" in wrong.json()["detail"]
    unknown = browser.post("/v1/console/session", json={"login": "zed", "password": PASSWORD}, headers=SIGN_IN)
    assert unknown.status_code == 401
    assert browser.get("/v1/console/me").status_code == 401

    ok = browser.post(
        "/v1/console/session", json={"login": "ANA@support.example", "password": PASSWORD}, headers=SIGN_IN
    )
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"]
    assert "frontdesk_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = browser.get("/v1/console/me").json()
    assert me["id"] == "ana" and me["role"] == "agent" and not me["supervises"] and me["csrf_token"]
    token = browser.cookies["frontdesk_console"]
    with console.engine.connect() as conn:
        stored = conn.execute(sa.select(sessions_table.c.token_hash)).scalars().all()
    assert token not in stored and len(stored) == 1, "only the token's hash is stored"

    headers = {"X-CSRF-Token": me["csrf_token"], "Origin": ORIGIN}
    assert browser.delete("/v1/console/session", headers=headers).status_code == 204
    assert browser.get("/v1/console/me").status_code == 401, "signing out ends the session"
    browser.cookies.set("frontdesk_console", token)
    assert browser.get("/v1/console/me").status_code == 401, "the old cookie opens nothing"


def test_changes_need_the_csrf_token_and_this_origin(console: ConsoleHarness) -> None:
    console.add_agent("ana", status=AgentStatus.OFFLINE)
    no_header = console.browser().post(
        "/v1/console/session", json={"login": "ana", "password": PASSWORD}, headers={"Origin": ORIGIN}
    )
    assert no_header.status_code == 403, "a cross-site form cannot sign anyone in"
    foreign = console.browser().post(
        "/v1/console/session",
        json={"login": "ana", "password": PASSWORD},
        headers={**SIGN_IN, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    ana = console.sign_in("ana")
    missing = ana.http.put("/v1/console/me/status", json={"status": "online"})
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["detail"]
    wrong = ana.put("/me/status", {"status": "online"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    cross = ana.put("/me/status", {"status": "online"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    assert console.router.agent("ana").status is AgentStatus.OFFLINE
    assert ana.put("/me/status", {"status": "online"}).json()["status"] == "online"
    assert console.router.agent("ana").status is AgentStatus.ONLINE
    assert ana.put("/me/status", {"status": "asleep"}).status_code == 422


class StoppedClock:
    """The limiter's clock, moved by the test (a slow machine's argon2 checks must not make the delays pass)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _stop_the_limiters_clock(console: ConsoleHarness) -> StoppedClock:
    clock = StoppedClock()
    console.app.state.console.limiter.now = clock  # type: ignore[attr-defined]
    return clock


def test_failed_sign_ins_slow_down_but_never_lock_out(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    browser = console.browser()
    clock = _stop_the_limiters_clock(console)
    for _ in range(3):  # FRONTDESK_CONSOLE_SIGN_IN_LIMIT: three free attempts
        attempt = browser.post(
            "/v1/console/session", json={"login": "ana", "password": "not it at all"}, headers=SIGN_IN
        )
        assert attempt.status_code == 401
    refused = browser.post("/v1/console/session", json={"login": "ana", "password": PASSWORD}, headers=SIGN_IN)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 1
    assert "too many failed sign-ins" in refused.json()["detail"]
    by_email = browser.post(
        "/v1/console/session", json={"login": "ana@support.example", "password": PASSWORD}, headers=SIGN_IN
    )
    assert by_email.status_code == 429, "the e-mail address is the same account"
    clock.advance(1)
    ok = browser.post("/v1/console/session", json={"login": "ana", "password": PASSWORD}, headers=SIGN_IN)
    assert ok.status_code == 200, "the right password after the wait signs in"


def test_changing_ones_own_password_needs_the_current_one(console: ConsoleHarness) -> None:
    console.add_agent("root", role=Role.ADMIN)
    root = console.sign_in("root")
    clock = _stop_the_limiters_clock(console)
    assert root.put("/agents/root/password", {"password": "a brand new password"}).status_code == 401
    wrong = {"password": "a brand new password", "current_password": "a wrong guess"}
    assert root.put("/agents/root/password", wrong).status_code == 401
    assert root.put("/agents/root/password", wrong).status_code == 401
    assert root.put("/agents/root/password", wrong).status_code == 429, "guesses slow down like sign-ins"
    clock.advance(1)
    right = {"password": "a brand new password", "current_password": PASSWORD}
    assert root.put("/agents/root/password", right).status_code == 200


def test_roles_decide_what_an_agent_sees_and_may_do(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    console.add_agent("sue", role=Role.SUPERVISOR, status=AgentStatus.OFFLINE)
    console.add_agent("root", role=Role.ADMIN, status=AgentStatus.OFFLINE)
    ana, sue, root = console.sign_in("ana"), console.sign_in("sue"), console.sign_in("root")

    assert ana.get("/queue").status_code == 403
    _escalate(console, "c-roles")
    _offer(ana)
    queue = sue.get("/queue").json()
    assert {agent["id"]: agent["offered"] for agent in queue["agents"]}["ana"] == {"chat": 1}
    assert sue.get("/conversations/c-roles").status_code == 200, "a supervisor opens any conversation"
    assert sue.get("/state").json()["queue"] is not None and ana.get("/state").json()["queue"] is None

    console.client.post(
        "/v1/conversations/c-other/messages", json={"text": "Where is the Lakeview store?"}, headers=API
    )
    assert ana.get("/conversations/c-other").status_code == 403, "not offered to or held by ana"
    assert ana.get("/conversations/nope").status_code == 404

    new_agent = {
        "id": "bo",
        "name": "Bo Jensen",
        "email": "bo@support.example",
        "languages": ["en"],
        "capacity": {"chat": 2},
        "password": "bo's long password",
    }
    assert ana.post("/agents", new_agent).status_code == 403
    assert sue.post("/agents", new_agent).status_code == 403
    created = root.post("/agents", new_agent)
    assert created.status_code == 201 and created.json()["id"] == "bo"
    assert root.post("/agents", new_agent).status_code == 409
    assert root.post("/agents", {**new_agent, "id": "cy", "password": "short"}).status_code == 422
    assert root.post("/agents", {**new_agent, "id": "cy", "email": "not-an-email"}).status_code == 422
    listed = {a["id"]: a["account"] for a in sue.get("/agents").json()}
    assert listed == {"ana": "active", "bo": "active", "root": "active", "sue": "active"}
    assert ana.get("/agents").status_code == 403
    assert root.patch("/agents/bo", {"role": "supervisor"}).json()["role"] == "supervisor"
    assert root.patch("/agents/bo", {"status": "online"}).status_code == 422
    assert root.patch("/agents/root", {"role": "agent"}).status_code == 409

    bo = console.sign_in("bo", "bo's long password")
    assert bo.put("/agents/bo/password", {"password": "a brand new password"}).status_code == 401
    changed = bo.put(
        "/agents/bo/password", {"password": "a brand new password", "current_password": "bo's long password"}
    )
    assert changed.status_code == 200
    assert bo.get("/me").status_code == 401, "a new password ends the agent's sessions"
    assert ana.put("/agents/bo/password", {"password": "ana sets it for bo"}).status_code == 403

    assert root.post("/agents/root/disable").status_code == 409
    assert root.post("/agents/ana/disable").json()["account"] == "disabled"
    assert ana.get("/me").status_code == 401, "disabling signs the agent out"
    assert console.router.agent("ana").status is AgentStatus.OFFLINE
    refused = console.browser().post(
        "/v1/console/session", json={"login": "ana", "password": PASSWORD}, headers=SIGN_IN
    )
    assert refused.status_code == 401
    assert root.post("/agents/ana/enable").json()["account"] == "active"
    assert root.post("/agents/nobody/disable").status_code == 404


def test_accept_reply_note_transfer_and_resolve(console: ConsoleHarness) -> None:
    console.add_team("billing")
    console.add_agent("ana")
    console.add_agent("bo", team="billing")
    ana, bo = console.sign_in("ana"), console.sign_in("bo")
    bo.put("/me/status", {"status": "away"})
    answered = console.client.post(
        "/v1/conversations/c-flow/messages", json={"text": "How long do refunds take?"}, headers=API
    )
    assert answered.json()["escalation"] is None, "the bot answers this one"
    _escalate(console, "c-flow")
    offer = _offer(ana)
    assert offer["ticket"]["conversation_id"] == "c-flow" and offer["expires_in_seconds"] > 0
    assert ana.get("/conversations/c-flow").json()["can_reply"] is False, "offered, not yet held"
    assert ana.post("/conversations/c-flow/replies", {"text": "hello"}).status_code == 403
    assert bo.post(f"/offers/{offer['id']}/accept").status_code == 403, "not bo's offer"
    accepted = ana.post(f"/offers/{offer['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["state"] == "assigned"
    assert ana.post(f"/offers/{offer['id']}/accept").status_code == 409
    assert ana.post("/offers/999999/accept").status_code == 404

    view = ana.get("/conversations/c-flow").json()
    assert view["conversation"]["channel"] == "api" and view["can_reply"] and view["can_act"]
    customer = [m for m in view["messages"] if m["role"] == "customer"]
    assert [m["text"] for m in customer][0] == "How long do refunds take?"
    assert "4111" not in customer[-1]["text"] and "4111 1111 1111 1111" in customer[-1]["original_text"]
    assert view["analysis"]["escalation"]["reason"] == "customer_asked_for_human"
    assert view["analysis"]["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert "charged twice" in view["summary"] and "4111" not in view["summary"]
    assert [e["kind"] for e in view["history"]] == ["escalated", "offered", "accepted"]
    assert [c["ticket"]["conversation_id"] for c in ana.get("/conversations").json()] == ["c-flow"]

    sent = ana.post("/conversations/c-flow/replies", {"text": "Hi, Ana here. I'll check the refund."})
    assert sent.status_code == 201 and sent.json()["role"] == "human" and sent.json()["author"] == "ana"
    texts = [(e.message.author, e.message.text) for e in console.runtime.outbox.entries(conversation_id="c-flow")]
    assert ("human", "Hi, Ana here. I'll check the refund.") in texts
    assert ana.post("/conversations/c-flow/replies", {"text": "   "}).status_code == 422

    secret = "Internal: customer was rude on the phone last week"
    assert ana.post("/conversations/c-flow/notes", {"text": secret}).status_code == 201
    assert secret in [n["text"] for n in ana.get("/conversations/c-flow").json()["notes"]]
    public = console.client.get("/v1/conversations/c-flow", headers=API).json()
    assert secret not in str(public), "the conversations API never shows notes"
    assert all(secret not in e.message.text for e in console.runtime.outbox.entries(conversation_id="c-flow"))
    memory = console.runtime.inbox._history("c-flow", before=None)
    assert all(secret not in turn.text for turn in memory), "the bot's memory never holds notes"

    both = ana.post("/conversations/c-flow/transfer", {"to_agent": "bo", "to_team": "billing"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert ana.post("/conversations/c-flow/transfer", {"to_agent": "nobody"}).status_code == 404
    moved = ana.post("/conversations/c-flow/transfer", {"to_team": "billing", "note": "Billing question"})
    assert moved.status_code == 200 and moved.json()["target_team"] == "billing"
    assert ana.get("/conversations").json() == []
    assert ana.get("/conversations/c-flow").status_code == 403, "ana no longer holds it"
    bo.put("/me/status", {"status": "online"})
    bo_offer = _offer(bo)
    bo.post(f"/offers/{bo_offer['id']}/accept")
    seen = bo.get("/conversations/c-flow").json()
    assert "Transferred to team billing: Billing question" in [n["text"] for n in seen["notes"]]
    assert "transferred" in [e["kind"] for e in seen["history"]]

    assert bo.post("/conversations/c-flow/resolve", {"reason": "  "}).status_code == 422
    done = bo.post("/conversations/c-flow/resolve", {"reason": "refund confirmed"})
    assert done.status_code == 200 and done.json()["state"] == TicketState.RESOLVED.value
    assert done.json()["resolution"] == "refund confirmed"
    assert console.runtime.inbox.store.get("c-flow").status == "resolved"  # type: ignore[union-attr]
    again = bo.post("/conversations/c-flow/resolve", {"reason": "again"})
    assert again.status_code == 409 and "no open ticket" in again.json()["detail"]
    assert bo.get("/conversations/c-flow").json()["can_act"] is False


def test_an_agent_only_offered_a_conversation_cannot_resolve_transfer_or_answer_it(console: ConsoleHarness) -> None:
    console.add_team("billing")
    console.add_agent("ana")
    console.add_agent("sue", role=Role.SUPERVISOR, status=AgentStatus.OFFLINE)
    ana, sue = console.sign_in("ana"), console.sign_in("sue")
    _escalate(console, "c-offered")
    offer = _offer(ana)
    before = console.router.ticket_for("c-offered")
    assert before is not None and before.state is TicketState.OFFERED and before.agent_id == "ana"
    messages_before = len(console.runtime.inbox.store.messages("c-offered"))

    for path, body in (
        ("resolve", {"reason": "closing it before taking it"}),
        ("transfer", {"to_team": "billing"}),
        ("replies", {"text": "Hello, I have not accepted this yet"}),
    ):
        refused = ana.post(f"/conversations/c-offered/{path}", body)
        assert refused.status_code == 403, (path, refused.text)
        assert "accept" in refused.json()["detail"] and "offer" in refused.json()["detail"], refused.json()

    after = console.router.ticket_for("c-offered")
    assert after == before, "the ticket is unchanged: still offered to ana, same team, no target"
    assert console.runtime.inbox.store.get("c-offered").status == "escalated"  # type: ignore[union-attr]
    assert len(console.runtime.inbox.store.messages("c-offered")) == messages_before
    assert [o["id"] for o in ana.get("/offers").json()] == [offer["id"]], "the offer stays open"
    view = ana.get("/conversations/c-offered").json()
    assert view["can_act"] is False and view["can_reply"] is False

    # What an offered agent may do: decline (or accept). A supervisor may act on the offered conversation.
    assert ana.post(f"/offers/{offer['id']}/decline", {"note": "busy"}).status_code == 200
    done = sue.post("/conversations/c-offered/resolve", {"reason": "duplicate of another chat"})
    assert done.status_code == 200 and done.json()["state"] == TicketState.RESOLVED.value


def test_suggested_replies_cite_the_knowledge_base_and_are_never_sent(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    ana = console.sign_in("ana")
    _escalate(console, "c-suggest", "How long do refunds take? I want to talk to a person about it.")
    offer = _offer(ana)
    ana.post(f"/offers/{offer['id']}/accept")
    before = len(console.runtime.outbox.entries(conversation_id="c-suggest"))
    found = ana.get("/conversations/c-suggest/suggestions").json()
    assert found["question"].startswith("How long do refunds take?")
    assert 1 <= len(found["suggestions"]) <= 3
    first = found["suggestions"][0]
    assert "refund" in first["text"].lower() and "[1]" not in first["text"]
    assert first["citations"] and "refund" in first["citations"][0]["title"].lower()
    assert first["citations"][0]["url"].startswith("https://")
    time.sleep(0.3)
    assert len(console.runtime.outbox.entries(conversation_id="c-suggest")) == before, "nothing is sent"
    assert ana.get("/conversations/c-nothing/suggestions").status_code == 404


def test_a_web_chat_visitor_sees_the_reply_and_never_the_note(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    ana = console.sign_in("ana")
    session = console.client.post("/v1/webchat/sessions").json()
    visitor = {"Authorization": f"Bearer {session['token']}"}
    asked = console.client.post(
        "/v1/webchat/messages", json={"text": "Can I talk to a person please?"}, headers=visitor
    )
    assert asked.status_code == 200 and asked.json()["status"]["status"] == "escalated"
    offer = _offer(ana)
    assert offer["ticket"]["channel"] == "webchat"
    ana.post(f"/offers/{offer['id']}/accept")
    conversation = session["conversation_id"]
    note = "Checked the CRM: second request this month"
    assert ana.post(f"/conversations/{conversation}/notes", {"text": note}).status_code == 201
    assert ana.post(f"/conversations/{conversation}/replies", {"text": "Hello, Ana here!"}).status_code == 201

    def history() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = console.client.get("/v1/webchat/history", headers=visitor).json()["messages"]
        return messages

    shown = wait_for("the reply in the visitor's history", lambda: [m for m in history() if m["role"] == "human"])
    assert shown[0]["text"] == "Hello, Ana here!"
    assert note not in str(history()), "the visitor never sees an internal note"
    assert all(note not in e.message.text for e in console.runtime.outbox.entries(conversation_id=conversation))


def test_an_unverified_email_sender_is_shown_and_named_in_the_summary(console: ConsoleHarness) -> None:
    """A mail whose From address no trusted server authenticated: a badge in the view, a line in the summary."""
    from channels.messages import InboundMessage

    console.add_agent("sue", role=Role.SUPERVISOR)
    sue = console.sign_in("sue")
    reason = "no trusted Authentication-Results"
    forged = InboundMessage(
        channel="email",
        sender="jane@customer.example",
        text=HUMAN,
        subject="Refund",
        provider_message_id="forged.1@attacker.example",
        metadata={"sender_verified": "false", "sender_verification": reason},
    )
    portal = console.client.portal
    assert portal is not None
    receipt = portal.call(console.runtime.inbox.receive, forged)
    ticket = wait_for("a ticket", lambda: console.router.ticket_for(receipt.conversation_id), timeout=15)
    assert ticket.summary.startswith(f"Unverified sender: the address is not authenticated ({reason}).")
    view = sue.get(f"/conversations/{receipt.conversation_id}").json()
    assert view["conversation"]["sender_verified"] is False
    assert view["conversation"]["sender_verification"] == reason
    [customer] = [m for m in view["messages"] if m["role"] == "customer"]
    assert customer["sender_verified"] is False and customer["sender_verification"] == reason
    assert view["summary"].startswith("Unverified sender")
    assert all(m["sender_verified"] is None for m in view["messages"] if m["role"] != "customer")
    # A channel that says nothing about its senders (the API chat here) shows nothing.
    answered = console.client.post(
        "/v1/conversations/c-plain/messages", json={"text": "How long do refunds take?"}, headers=API
    )
    assert answered.status_code == 200
    plain = sue.get("/conversations/c-plain")
    assert plain.status_code == 200 and plain.json()["conversation"]["sender_verified"] is None
