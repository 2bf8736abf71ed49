"""The router on SQLite and PostgreSQL: queueing, offers and their timeout, SLA widening, status changes,
transfers, resolution and the database's own guards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from routing.errors import ConflictError, NotFoundError, PermissionDeniedError, RoutingError
from routing.models import EscalationRequest, EventKind, OfferState, RoutingEvent, TicketState, TickResult
from routing.roster import AgentStatus, ChannelKind, HumanAgent, Role, Roster, RoutingConfig, Scope, Team, WideningStep
from routing.service import Router
from routing.skillmap import SkillMap
from routing.store import offers_table, tickets_table

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Harness:
    """A router on a test database with a hand-moved clock and every event it emitted."""

    def __init__(self, engine: sa.Engine, config: RoutingConfig, skill_map: SkillMap | None = None) -> None:
        self.clock = Clock()
        self.events: list[RoutingEvent] = []
        self.router = Router(engine, config, skill_map=skill_map, now=self.clock, listener=self.events.append)
        for team in ("cards", "payments", "general"):
            self.router.upsert_team(Team(id=team, name=team.title(), skills=(team,) if team != "general" else ()))

    def add(
        self,
        agent_id: str,
        *,
        skills: dict[str, int] | None = None,
        team: str = "cards",
        chat: int = 2,
        languages: tuple[str, ...] = ("en",),
        role: Role = Role.AGENT,
        status: AgentStatus = AgentStatus.ONLINE,
    ) -> HumanAgent:
        return self.router.upsert_agent(
            HumanAgent(
                id=agent_id,
                name=agent_id.title(),
                email=f"{agent_id}@example.com",
                role=role,
                team=team,
                skills=skills or {},
                languages=languages,
                capacity={ChannelKind.CHAT: chat, ChannelKind.EMAIL: 4},
                status=status,
            )
        )

    def escalate(self, conversation: str, **values: object) -> int:
        request = EscalationRequest.model_validate(
            {"conversation_id": conversation, "channel": "webchat", "skill": "cards", **values}
        )
        return self.router.escalate(request).ticket.id

    def kinds(self, ticket_id: int) -> list[str]:
        return [event.kind.value for event in self.router.history(ticket_id)]

    def open_offer(self, ticket_id: int) -> tuple[int, str]:
        offers = [offer for offer in self.router.offers() if offer.ticket_id == ticket_id]
        assert len(offers) == 1, offers
        return offers[0].id, offers[0].agent_id


CONFIG = RoutingConfig(
    sla_seconds={1: 60, 2: 120, 3: 300},
    offer_timeout_seconds=30,
    widening=(
        WideningStep(scope=Scope.LOWER_LEVEL, after_seconds=0),
        WideningStep(scope=Scope.TEAM, after_seconds=60),
        WideningStep(scope=Scope.FALLBACK, after_seconds=120),
    ),
    fallback_team="general",
    default_min_level=3,
    skip_unstaffed_steps=False,  # these tests walk every step with agents away; skipping is tested on its own
)
# The default widening (a quarter, half and three quarters of the SLA) with priority 1's own steps.
FRACTIONS = RoutingConfig(
    sla_seconds={1: 60, 3: 300},
    offer_timeout_seconds=30,
    widening_by_priority={
        1: (
            WideningStep(scope=Scope.LOWER_LEVEL, sla_fraction=0.1),
            WideningStep(scope=Scope.TEAM, sla_fraction=0.2),
            WideningStep(scope=Scope.FALLBACK, sla_fraction=0.5),
        )
    },
    fallback_team="general",
    skip_unstaffed_steps=False,
)


@pytest.fixture
def h(engine: sa.Engine) -> Harness:
    return Harness(engine, CONFIG)


def test_escalate_is_idempotent_per_open_conversation(h: Harness) -> None:
    h.add("ana", skills={"cards": 4}, status=AgentStatus.OFFLINE)
    first = h.router.escalate(EscalationRequest(conversation_id="c1", channel="webchat", skill="cards"))
    again = h.router.escalate(EscalationRequest(conversation_id="c1", channel="email", skill="transfers"))
    assert first.created and not again.created
    assert again.ticket.id == first.ticket.id and again.ticket.channel == "webchat"
    assert first.position == 1 and first.estimated_wait_seconds is None  # nobody online who could take it
    assert h.kinds(first.ticket.id) == ["escalated"]
    h.router.resolve(first.ticket.id, by=None, reason="customer left")
    later = h.router.escalate(EscalationRequest(conversation_id="c1", channel="webchat", skill="cards"))
    assert later.created and later.ticket.id != first.ticket.id


def test_escalate_uses_the_skill_map_and_the_owning_team(engine: sa.Engine, shared_data: Path) -> None:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    h = Harness(engine, CONFIG, skill_map=skills)
    h.router.upsert_team(Team(id="security", name="Security", skills=("fraud_and_security",)))
    result = h.router.escalate(
        EscalationRequest(conversation_id="c1", channel="whatsapp", intent="compromised_card", language="DE")
    )
    ticket = result.ticket
    assert (ticket.skill, ticket.priority, ticket.team) == ("fraud_and_security", 1, "security")
    assert ticket.channel_kind is ChannelKind.MESSAGING and ticket.language == "de"
    assert ticket.min_level == 3 and ticket.scope is Scope.EXACT
    assert ticket.sla_due_at == T0 + dt.timedelta(seconds=60)
    with pytest.raises(RoutingError, match="channel 'fax' has no channel kind"):
        h.router.escalate(EscalationRequest(conversation_id="c2", channel="fax"))


def test_position_and_estimated_wait(h: Harness) -> None:
    h.add("ana", skills={"cards": 4}, chat=1)
    busy = h.escalate("c0")
    offer_id, _ = h.open_offer(busy)
    h.router.accept(offer_id, "ana")
    first = h.router.escalate(EscalationRequest(conversation_id="c1", channel="webchat", skill="cards"))
    second = h.router.escalate(EscalationRequest(conversation_id="c2", channel="webchat", skill="cards"))
    assert (first.position, second.position) == (1, 2)
    # one slot, no conversation resolved yet: the configured 300 s handle time per ticket ahead
    assert (first.estimated_wait_seconds, second.estimated_wait_seconds) == (300.0, 600.0)


def test_queue_order_is_priority_then_waiting_time(h: Harness) -> None:
    h.add("ana", skills={"cards": 4}, chat=1, status=AgentStatus.OFFLINE)
    old_low = h.escalate("old-low", priority=3)
    h.clock.advance(10)
    urgent = h.escalate("urgent", priority=1)
    h.clock.advance(10)
    new_low = h.escalate("new-low", priority=3)
    h.clock.advance(10)
    newer_urgent = h.escalate("newer-urgent", priority=1)
    waiting = [w.ticket.id for w in h.router.snapshot().queues[0].waiting]
    assert waiting == [urgent, newer_urgent, old_low, new_low]
    h.router.set_status("ana", AgentStatus.ONLINE)
    served: list[int] = []
    for _ in range(4):
        (offer,) = h.router.offers()
        served.append(offer.ticket_id)
        h.router.accept(offer.id, "ana")
        h.router.resolve(offer.ticket_id, by="ana", reason="done")
    assert served == [urgent, newer_urgent, old_low, new_low]


def test_an_offer_not_accepted_in_time_goes_to_the_next_agent(h: Harness) -> None:
    h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 4})
    ticket = h.escalate("c1")
    offer_id, first = h.open_offer(ticket)
    assert first == "ana"
    h.clock.advance(29)
    assert h.router.tick().expired == ()
    h.clock.advance(1)
    with pytest.raises(ConflictError, match=f"offer {offer_id} expired at"):
        h.router.accept(offer_id, "ana")
    result = h.router.tick()
    assert [offer.id for offer in result.expired] == [offer_id]
    assert result.expired[0].state is OfferState.EXPIRED
    _, second = h.open_offer(ticket)
    assert second == "bob"
    assert h.kinds(ticket) == ["escalated", "offered", "offer_expired", "offered"]
    expired = [e for e in h.events if e.kind is EventKind.OFFER_EXPIRED]
    assert expired[0].from_agent == "ana"


def test_decline_goes_to_the_next_agent_and_checks_the_agent(h: Harness) -> None:
    h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 4})
    ticket = h.escalate("c1")
    offer_id, _ = h.open_offer(ticket)
    with pytest.raises(PermissionDeniedError, match=f"offer {offer_id} was made to agent 'ana', not 'bob'"):
        h.router.accept(offer_id, "bob")
    with pytest.raises(NotFoundError, match="no offer with id 9999"):
        h.router.accept(9999, "ana")
    h.router.decline(offer_id, "ana", note="on a call")
    next_offer, agent_id = h.open_offer(ticket)
    assert agent_id == "bob"
    with pytest.raises(ConflictError, match=f"offer {offer_id} is declined, not open"):
        h.router.accept(offer_id, "ana")
    assigned = h.router.accept(next_offer, "bob")
    assert assigned.state is TicketState.ASSIGNED and assigned.agent_id == "bob"
    assert h.kinds(ticket) == ["escalated", "offered", "declined", "offered", "accepted"]


def test_sla_expiry_widens_step_by_step_and_tells_the_supervisor(h: Harness) -> None:
    h.add("sam", role=Role.SUPERVISOR, team="cards", chat=0)
    h.add("novice", skills={"cards": 1}, team="payments", status=AgentStatus.AWAY)
    h.add("teammate", skills={"payments": 5}, team="cards", status=AgentStatus.AWAY)
    h.add("generalist", team="general")
    ticket = h.escalate("c1", priority=1)  # SLA 60 s; nobody holds cards at level 3
    assert h.router.offers() == []
    assert h.router.next_deadline() == T0 + dt.timedelta(seconds=60)
    h.clock.advance(59)
    assert h.router.tick() == TickResult(expired=(), breached=(), widened=())
    h.clock.advance(1)
    result = h.router.tick()
    assert [t.id for t in result.breached] == [ticket] and [t.id for t in result.widened] == [ticket]
    assert h.router.ticket(ticket).scope is Scope.LOWER_LEVEL
    breach = next(e for e in h.events if e.kind is EventKind.SLA_BREACHED)
    assert breach.notify == ("sam",) and breach.ticket_id == ticket and "waited 60.0s, SLA 60s" in breach.note
    assert h.router.offers() == []  # the novice is away
    h.clock.advance(60)
    h.router.tick()
    assert h.router.ticket(ticket).scope is Scope.TEAM
    assert h.router.offers() == []  # the teammate is away
    h.clock.advance(60)
    h.router.tick()
    assert h.router.ticket(ticket).scope is Scope.FALLBACK
    _, agent_id = h.open_offer(ticket)
    assert agent_id == "generalist"
    history = h.router.history(ticket)
    assert [e.kind.value for e in history] == [
        "escalated",
        "sla_breached",
        "widened",
        "widened",
        "widened",
        "offered",
    ]
    assert [e.scope for e in history if e.kind is EventKind.WIDENED] == [
        Scope.LOWER_LEVEL,
        Scope.TEAM,
        Scope.FALLBACK,
    ]
    assert h.router.next_deadline() == h.clock.now + dt.timedelta(seconds=30)  # only the offer's timer is left


def test_widening_may_start_before_the_sla_runs_out(engine: sa.Engine) -> None:
    early = CONFIG.model_copy(
        update={"widening": (WideningStep(scope=Scope.LOWER_LEVEL, after_seconds=-90), *CONFIG.widening[1:])}
    )
    h = Harness(engine, early)
    h.add("novice", skills={"cards": 2})
    ticket = h.escalate("c1", priority=2)  # SLA 120 s: widens to lower_level at 30 s
    assert h.router.offers() == []
    assert h.router.next_deadline() == T0 + dt.timedelta(seconds=30)
    h.clock.advance(30)
    result = h.router.tick()
    assert [t.id for t in result.widened] == [ticket] and result.breached == ()
    offer_id, agent_id = h.open_offer(ticket)
    assert agent_id == "novice"
    h.router.accept(offer_id, "novice")
    h.clock.advance(200)
    assert h.router.tick().breached == ()  # taken in time: no breach
    assert h.kinds(ticket) == ["escalated", "widened", "offered", "accepted"]


def test_widening_reaches_the_lower_level_agent_first(h: Harness) -> None:
    h.add("novice", skills={"cards": 2})
    h.add("generalist", team="general")
    ticket = h.escalate("c1", priority=2)
    assert h.router.offers() == []
    h.clock.advance(120)
    h.router.tick()
    _, agent_id = h.open_offer(ticket)
    assert agent_id == "novice"


def _seconds(moment: dt.datetime) -> float:
    return (moment - T0).total_seconds()


def test_widening_happens_at_the_configured_fractions_before_the_sla(engine: sa.Engine) -> None:
    h = Harness(engine, FRACTIONS)
    h.add("sam", role=Role.SUPERVISOR, team="cards", chat=0)
    h.add("novice", skills={"cards": 1}, team="payments", status=AgentStatus.AWAY)
    h.add("teammate", skills={"payments": 5}, team="cards", status=AgentStatus.AWAY)
    h.add("generalist", team="general", status=AgentStatus.AWAY)
    low = h.escalate("low", priority=3)  # SLA 300 s, the default steps: 75, 150 and 225 s
    urgent = h.escalate("urgent", priority=1)  # SLA 60 s, its own steps: 6, 12 and 30 s
    assert h.router.next_deadline() == T0 + dt.timedelta(seconds=6)
    breached: list[tuple[int, float]] = []
    while (deadline := h.router.next_deadline()) is not None and _seconds(deadline) < 250:
        h.clock.now = deadline
        breached += [(t.id, _seconds(h.clock.now)) for t in h.router.tick().breached]
    widened = [(e.ticket_id, e.scope, _seconds(e.at)) for e in h.events if e.kind is EventKind.WIDENED]
    assert widened == [
        (urgent, Scope.LOWER_LEVEL, 6.0),
        (urgent, Scope.TEAM, 12.0),
        (urgent, Scope.FALLBACK, 30.0),
        (low, Scope.LOWER_LEVEL, 75.0),
        (low, Scope.TEAM, 150.0),
        (low, Scope.FALLBACK, 225.0),
    ]
    # every step comes before the SLA; the breach itself widens nothing more and is what the supervisor hears
    assert breached == [(urgent, 60.0)]
    (breach,) = [e for e in h.events if e.kind is EventKind.SLA_BREACHED]
    assert (breach.ticket_id, breach.notify, _seconds(breach.at)) == (urgent, ("sam",), 60.0)
    assert "waited 60.0s, SLA 60s" in breach.note
    assert h.kinds(urgent) == ["escalated", "widened", "widened", "widened", "sla_breached"]
    # at the last step the fallback team may take it: taken before its SLA runs out, no breach
    h.clock.now = T0 + dt.timedelta(seconds=250)
    h.router.set_status("generalist", AgentStatus.ONLINE)
    offer_id, agent_id = h.open_offer(low)
    assert agent_id == "generalist"
    h.router.accept(offer_id, "generalist")
    h.clock.now = T0 + dt.timedelta(seconds=300)
    assert h.router.tick().breached == ()
    assert h.kinds(low) == ["escalated", "widened", "widened", "widened", "offered", "accepted"]
    assert [e.kind for e in h.events].count(EventKind.SLA_BREACHED) == 1


def test_sla_breach_tells_the_supervisors_of_the_team(engine: sa.Engine) -> None:
    h = Harness(engine, FRACTIONS)
    h.add("sam", role=Role.SUPERVISOR, team="cards", chat=0)
    h.add("pia", role=Role.SUPERVISOR, team="payments", chat=0)
    h.add("ana", skills={"cards": 5}, chat=1)
    h.add("bob", skills={"payments": 5}, team="payments", chat=1, status=AgentStatus.AWAY)
    taken = h.escalate("taken", priority=3)
    h.router.accept(h.open_offer(taken)[0], "ana")
    waiting = h.escalate("waiting", priority=3, skill="payments", team="payments")
    h.clock.advance(299)
    assert h.router.tick().breached == ()
    assert not any(e.kind is EventKind.SLA_BREACHED for e in h.events)
    h.clock.advance(1)
    result = h.router.tick()
    assert [t.id for t in result.breached] == [waiting] and result.widened == ()
    (breach,) = [e for e in h.events if e.kind is EventKind.SLA_BREACHED]
    assert (breach.ticket_id, breach.notify, breach.team) == (waiting, ("pia",), "payments")
    assert h.router.ticket(waiting).sla_breached
    snapshot = {queue.team: queue.breached for queue in h.router.snapshot().queues}
    assert snapshot == {"payments": 1}


def test_a_step_nobody_online_could_take_is_skipped_at_once(engine: sa.Engine) -> None:
    h = Harness(engine, FRACTIONS.model_copy(update={"skip_unstaffed_steps": True}))
    h.add("expert", skills={"cards": 5}, chat=1)
    h.add("novice", skills={"cards": 1}, team="payments", chat=1)
    busy = h.escalate("busy")
    h.router.accept(h.open_offer(busy)[0], "expert")
    waiting = h.escalate("waiting")
    # the expert is online but full: the ticket waits for them at its exact step
    assert h.router.offers() == [] and h.router.ticket(waiting).scope is Scope.EXACT
    # nobody who speaks Spanish is online at any step: nothing to skip to, the ticket stays where it is
    spanish = h.escalate("spanish", language="es")
    assert h.kinds(spanish) == ["escalated"] and h.router.ticket(spanish).scope is Scope.EXACT
    h.clock.advance(10)
    h.router.set_status("expert", AgentStatus.AWAY)  # keeps the conversation; nobody exact is online now
    offer_id, agent_id = h.open_offer(waiting)
    assert agent_id == "novice"
    assert h.kinds(waiting) == ["escalated", "widened", "offered"]
    (skipped,) = [e for e in h.router.history(waiting) if e.kind is EventKind.WIDENED]
    assert skipped.scope is Scope.LOWER_LEVEL and skipped.note == "skipped exact: nobody online there could take it"
    assert _seconds(skipped.at) == 10.0
    assert h.router.ticket(waiting).step == 1
    h.router.accept(offer_id, "novice")
    h.clock.now = T0 + dt.timedelta(seconds=150)
    assert [t.id for t in h.router.tick().widened] == [spanish]  # only the Spanish ticket still waits


def test_exact_matches_are_served_before_widened_tickets_of_the_same_priority(engine: sa.Engine) -> None:
    h = Harness(engine, FRACTIONS.model_copy(update={"fallback_team": None}))  # the last step reaches everyone
    h.add("ana", skills={"cards": 4}, chat=1, status=AgentStatus.OFFLINE)
    h.add("generalist", team="general", chat=1, status=AgentStatus.OFFLINE)
    old = h.escalate("old", skill="payments", team="payments", priority=3)
    h.clock.advance(230)
    h.router.tick()
    assert h.router.ticket(old).scope is Scope.FALLBACK  # anyone may take it now
    new = h.escalate("new", priority=3)  # needs cards at level 3: only ana
    h.router.set_status("ana", AgentStatus.ONLINE)
    # the older ticket does not take the one agent the newer one needs: it waits for someone else
    assert h.open_offer(new)[1] == "ana"
    assert h.router.ticket(old).state is TicketState.QUEUED
    h.router.set_status("generalist", AgentStatus.ONLINE)
    assert h.open_offer(old)[1] == "generalist"


def test_a_widened_ticket_prefers_agents_nobody_else_is_waiting_for(engine: sa.Engine) -> None:
    h = Harness(engine, FRACTIONS.model_copy(update={"fallback_team": None}))  # the last step reaches everyone
    h.router.auto_dispatch = False
    h.add("ana", skills={"cards": 4}, chat=1, status=AgentStatus.OFFLINE)
    h.add("generalist", team="general", chat=1, status=AgentStatus.OFFLINE)
    urgent = h.escalate("urgent", skill="payments", team="payments", priority=1)
    h.clock.advance(30)
    h.router.tick()
    assert h.router.ticket(urgent).scope is Scope.FALLBACK
    low = h.escalate("low", priority=3)  # cards: only ana matches it
    h.router.set_status("ana", AgentStatus.ONLINE)
    h.router.set_status("generalist", AgentStatus.ONLINE)
    offers = {offer.ticket_id: offer.agent_id for offer in h.router.dispatch()}
    # the priority-1 ticket goes first and could take either; it takes the one the other ticket does not need
    assert offers == {urgent: "generalist", low: "ana"}


def test_going_away_or_offline_hands_back_offers_but_keeps_conversations(h: Harness) -> None:
    h.add("ana", skills={"cards": 5}, chat=3)
    h.add("bob", skills={"cards": 3}, chat=3, status=AgentStatus.OFFLINE)
    kept = h.escalate("kept")
    offer_id, _ = h.open_offer(kept)
    h.router.accept(offer_id, "ana")
    pending = h.escalate("pending")
    pending_offer, agent_id = h.open_offer(pending)
    assert agent_id == "ana"
    handed = h.router.set_status("ana", AgentStatus.AWAY)
    assert [t.id for t in handed] == [pending]
    assert h.router.ticket(kept).state is TicketState.ASSIGNED
    assert h.router.offers(state=OfferState.REVOKED)[0].id == pending_offer
    assert h.router.ticket(pending).state is TicketState.QUEUED
    h.router.set_status("bob", AgentStatus.ONLINE)
    assert h.open_offer(pending)[1] == "bob"
    assert h.kinds(pending) == ["escalated", "offered", "handed_back", "offered"]
    # at the end of the shift the assigned conversation goes back too, with a fresh SLA
    h.clock.advance(100)
    handed = h.router.set_status("ana", AgentStatus.OFFLINE, hand_back_assigned=True, note="shift over")
    assert [t.id for t in handed] == [kept]
    back = h.router.ticket(kept)
    assert back.sla_due_at == h.clock.now + dt.timedelta(seconds=300)
    assert back.state in (TicketState.QUEUED, TicketState.OFFERED) and back.agent_id != "ana"
    assert h.router.history(kept)[-2].note == "shift over"


def test_going_offline_releases_work_aimed_at_the_agent(h: Harness) -> None:
    h.add("ana", skills={"cards": 5}, chat=1)
    h.add("bob", skills={"cards": 5}, chat=1)
    h.add("sup", role=Role.SUPERVISOR, chat=0)
    first = h.escalate("c1")
    offer_id, holder = h.open_offer(first)
    h.router.accept(offer_id, holder)
    other = "bob" if holder == "ana" else "ana"
    second = h.escalate("c2")
    h.router.accept(h.open_offer(second)[0], other)
    # aimed at a full agent: waits for them alone
    h.router.transfer(first, by="sup", to_agent=other, note="knows the customer")
    assert h.router.ticket(first).state is TicketState.QUEUED
    assert h.router.ticket(first).target_agent == other
    h.router.set_status(other, AgentStatus.OFFLINE)
    released = h.router.ticket(first)
    assert released.target_agent is None
    assert released.state is TicketState.OFFERED and released.agent_id == holder
    assert h.router.ticket(second).state is TicketState.ASSIGNED  # still with the agent who went offline


def test_transfer_keeps_the_history(h: Harness) -> None:
    h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 1}, team="payments")
    h.add("pia", skills={"payments": 4}, team="payments")
    ticket = h.escalate("c1")
    h.router.accept(h.open_offer(ticket)[0], "ana")
    with pytest.raises(PermissionDeniedError, match="agent 'bob' neither holds ticket"):
        h.router.transfer(ticket, by="bob", to_agent="bob")
    with pytest.raises(RoutingError, match="exactly one of to_agent or to_team"):
        h.router.transfer(ticket, by="ana")
    with pytest.raises(NotFoundError, match="no team with id 'nowhere'"):
        h.router.transfer(ticket, by="ana", to_team="nowhere")
    h.router.transfer(ticket, by="ana", to_agent="bob", note="needs a second look")
    offer_id, agent_id = h.open_offer(ticket)
    assert agent_id == "bob"
    h.router.accept(offer_id, "bob")
    h.router.transfer(ticket, by="bob", to_team="payments")
    moved = h.router.ticket(ticket)
    assert moved.team == "payments" and moved.target_team == "payments"
    _, agent_id = h.open_offer(ticket)
    assert agent_id in {"pia", "bob"}
    history = h.router.history(ticket)
    assert [e.kind.value for e in history] == [
        "escalated",
        "offered",
        "accepted",
        "transferred",
        "offered",
        "accepted",
        "transferred",
        "offered",
    ]
    to_bob, to_team = (e for e in history if e.kind is EventKind.TRANSFERRED)
    assert (to_bob.from_agent, to_bob.agent_id, to_bob.note) == ("ana", "bob", "needs a second look")
    assert (to_team.from_agent, to_team.team) == ("bob", "payments")


def test_resolve_frees_capacity(h: Harness) -> None:
    h.add("ana", skills={"cards": 5}, chat=1)
    first = h.escalate("c1")
    h.router.accept(h.open_offer(first)[0], "ana")
    second = h.escalate("c2")
    assert h.router.ticket(second).state is TicketState.QUEUED
    load = next(a for a in h.router.snapshot().agents if a.agent.id == "ana")
    assert load.load(ChannelKind.CHAT) == 1
    h.add("eve", skills={"cards": 5}, chat=0)
    with pytest.raises(PermissionDeniedError, match=f"agent 'eve' neither holds ticket {first}"):
        h.router.resolve(first, by="eve", reason="not hers")
    h.clock.advance(240)
    done = h.router.resolve(first, by="ana", reason="card reissued")
    assert done.state is TicketState.RESOLVED and done.resolution == "card reissued"
    assert done.resolved_at == h.clock.now and done.agent_id == "ana"
    assert h.open_offer(second)[1] == "ana"
    with pytest.raises(ConflictError, match=f"ticket {first} was already resolved"):
        h.router.resolve(first, by="ana", reason="again")
    assert h.router.history(first)[-1].note == "card reissued"
    # the measured handle time (240 s) now drives the estimate
    h.router.accept(h.open_offer(second)[0], "ana")
    third = h.router.escalate(EscalationRequest(conversation_id="c3", channel="webchat", skill="cards"))
    assert third.estimated_wait_seconds == 240.0


def test_capacity_is_never_exceeded_and_the_snapshot_shows_loads(h: Harness) -> None:
    h.add("ana", skills={"cards": 5}, chat=2)
    h.add("bob", skills={"cards": 4}, chat=1)
    tickets = [h.escalate(f"c{i}") for i in range(6)]
    snapshot = h.router.snapshot()
    loads = {a.agent.id: a.load(ChannelKind.CHAT) for a in snapshot.agents}
    assert loads == {"ana": 2, "bob": 1}
    (queue,) = snapshot.queues
    assert queue.team == "cards" and len(queue.waiting) == 6
    assert sum(w.ticket.state is TicketState.QUEUED for w in queue.waiting) == 3
    assert [w.ticket.id for w in queue.waiting] == tickets
    h.clock.advance(400)
    h.router.tick()
    snapshot = h.router.snapshot()
    assert snapshot.queues[0].breached == 6
    assert snapshot.queues[0].longest_wait_seconds == 400.0


def test_the_database_refuses_a_second_open_offer_or_ticket(h: Harness, engine: sa.Engine) -> None:
    h.add("ana", skills={"cards": 5})
    ticket = h.escalate("c1")
    offer = {"ticket_id": ticket, "agent_id": "bob", "created_at": T0, "expires_at": T0}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(offers_table).values(state="open", **offer))
    with engine.begin() as conn:  # closed offers are not limited: the index is partial
        conn.execute(sa.insert(offers_table).values(state="declined", **offer))
    with engine.connect() as conn:
        row = conn.execute(sa.select(tickets_table).where(tickets_table.c.id == ticket)).one()._asdict()
    del row["id"]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(tickets_table).values(**row))
    with engine.begin() as conn:
        conn.execute(sa.insert(tickets_table).values(**{**row, "state": "resolved"}))


def test_agents_and_teams_are_managed_through_the_router(h: Harness) -> None:
    ana = h.add("ana", skills={"cards": 5})
    assert h.router.agent("ana") == ana
    # a profile update keeps the live status; status changes only through set_status
    h.router.upsert_agent(ana.model_copy(update={"skills": {"cards": 2}, "status": AgentStatus.OFFLINE}))
    stored = h.router.agent("ana")
    assert stored.skills == {"cards": 2} and stored.status is AgentStatus.ONLINE
    with pytest.raises(NotFoundError, match="agent 'zed' names team 'nowhere', which does not exist"):
        h.router.upsert_agent(ana.model_copy(update={"id": "zed", "team": "nowhere"}))
    with pytest.raises(NotFoundError, match="no agent with id 'ghost'"):
        h.router.set_status("ghost", AgentStatus.ONLINE)
    ticket = h.escalate("c1", min_level=1)
    h.router.accept(h.open_offer(ticket)[0], "ana")
    with pytest.raises(ConflictError, match="agent 'ana' still holds 1 conversation"):
        h.router.remove_agent("ana")
    h.router.resolve(ticket, by="ana", reason="done")
    h.router.remove_agent("ana")
    assert [a.id for a in h.router.agents()] == []
    assert [e.kind.value for e in h.router.history(ticket)][-1] == "resolved"
    assert {t.id for t in h.router.teams()} == {"cards", "payments", "general"}


def test_hand_back_requeues_with_a_fresh_sla_and_tries_others_first(h: Harness) -> None:
    h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 3})
    ticket = h.escalate("c1")
    h.router.accept(h.open_offer(ticket)[0], "ana")
    with pytest.raises(ConflictError, match=f"ticket {ticket} is assigned \\(agent 'ana'\\), not assigned to 'bob'"):
        h.router.hand_back(ticket, "bob")
    h.clock.advance(50)
    back = h.router.hand_back(ticket, "ana", note="needs a specialist")
    assert back.sla_due_at == h.clock.now + dt.timedelta(seconds=300) and not back.sla_breached
    assert back.created_at == T0  # keeps its place by escalation time
    assert h.open_offer(ticket)[1] == "bob"  # ana passed on it, so bob comes first despite a lower level
    assert h.router.history(ticket)[-2].note == "needs a specialist"


def test_sync_roster_updates_profiles_and_removes_missing_agents(h: Harness) -> None:
    ana = h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 4})
    ticket = h.escalate("c1")
    holder = h.open_offer(ticket)[1]
    assert holder == "ana"
    h.router.accept(h.open_offer(ticket)[0], "ana")
    roster = Roster(
        teams=(Team(id="cards", name="Cards", skills=("cards",)),),
        agents=(ana.model_copy(update={"name": "Ana Lopez"}),),
    )
    h.router.sync_roster(roster)
    assert [a.id for a in h.router.agents()] == ["ana", "bob"] and h.router.agent("ana").name == "Ana Lopez"
    roster = Roster(teams=roster.teams, agents=(h.router.agent("bob"),))
    h.router.sync_roster(roster, remove_missing=True)
    assert [a.id for a in h.router.agents()] == ["bob"]
    # ana's conversation was handed back on her way out and went to bob
    assert h.open_offer(ticket)[1] == "bob"
    assert "handed_back" in h.kinds(ticket)


def test_an_agent_only_offered_a_conversation_may_accept_or_decline_it_nothing_more(h: Harness) -> None:
    h.add("ana", skills={"cards": 5})
    h.add("bob", skills={"cards": 4})
    h.add("sup", role=Role.SUPERVISOR, chat=0)
    ticket = h.escalate("c1")
    offer_id, offered = h.open_offer(ticket)
    assert offered == "ana"
    with pytest.raises(PermissionDeniedError, match=f"'ana' was only offered ticket {ticket}: accept the offer"):
        h.router.resolve(ticket, by="ana", reason="closing it unseen")
    with pytest.raises(PermissionDeniedError, match=f"'ana' was only offered ticket {ticket}: accept the offer"):
        h.router.transfer(ticket, by="ana", to_team="payments")
    unchanged = h.router.ticket(ticket)
    assert unchanged.state is TicketState.OFFERED and unchanged.agent_id == "ana" and unchanged.team == "cards"
    assert h.open_offer(ticket) == (offer_id, "ana"), "the offer is still open"
    assert h.kinds(ticket) == ["escalated", "offered"]

    h.router.decline(offer_id, "ana")
    offer_id, offered = h.open_offer(ticket)
    assert offered == "bob"
    h.router.accept(offer_id, "bob")
    h.router.resolve(ticket, by="bob", reason="answered")  # once assigned, the holder may
    assert h.router.ticket(ticket).state is TicketState.RESOLVED

    second = h.escalate("c2")
    _, offered = h.open_offer(second)
    h.router.transfer(second, by="sup", to_team="payments", note="supervisors may act on an offered ticket")
    assert h.router.ticket(second).target_team == "payments"
    h.router.resolve(second, by="sup", reason="duplicate")
    assert h.router.ticket(second).state is TicketState.RESOLVED
