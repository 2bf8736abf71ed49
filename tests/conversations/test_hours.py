"""Business hours: schedules per channel, and what a customer asking for a person hears outside them."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from agent.agent import SupportAgent
from agent.escalation import EscalationPolicy
from channels.messages import InboundMessage
from conversations.hours import DAYS, BusinessHours, HoursError, Schedule
from conversations.inbox import Inbox, final_answer
from conversations.store import ConversationStore
from frontdesk.settings import Settings

BERLIN = "Europe/Berlin; mon-fri 09:00-18:00; sat 10:00-14:00"


def at(text: str) -> dt.datetime:
    """A moment given in Berlin time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone(dt.timedelta(hours=1)))  # CET in winter


def test_a_schedule_is_open_in_its_own_time_zone() -> None:
    schedule = Schedule.parse(BERLIN)
    assert schedule.is_open(at("2026-11-23T09:00"))  # a Monday
    assert not schedule.is_open(at("2026-11-23T08:59"))
    assert not schedule.is_open(at("2026-11-23T18:00"))
    assert schedule.is_open(at("2026-11-28T13:59")) and not schedule.is_open(at("2026-11-28T14:00"))  # Saturday
    assert not schedule.is_open(at("2026-11-29T12:00"))  # Sunday
    assert schedule.is_open(dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)), "08:30 UTC is 09:30 in Berlin"


def test_the_next_opening_skips_closed_days() -> None:
    schedule = Schedule.parse(BERLIN)
    opening = schedule.next_opening(at("2026-11-28T15:00"))  # Saturday afternoon -> Monday 09:00
    assert opening is not None and opening.strftime("%a %H:%M") == "Mon 09:00"
    assert schedule.next_opening(at("2026-11-23T10:00")) == at("2026-11-23T10:00")
    wrap = Schedule.parse("UTC; fri-mon 22:00-23:00")
    assert wrap.is_open(dt.datetime(2026, 11, 29, 22, 30, tzinfo=dt.UTC)), "fri-mon wraps over the weekend"
    assert Schedule.parse("24/7").always_open and Schedule.parse("").always_open


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("Mars/Olympus; mon 09:00-10:00", "not a time zone"),
        ("UTC; funday 09:00-10:00", "not a day"),
        ("UTC; mon 9-10", "not a time range"),
        ("UTC; mon 18:00-09:00", "start before it ends"),
        ("UTC; mon", "no hours"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(spec: str, complaint: str) -> None:
    with pytest.raises(HoursError, match=complaint):
        Schedule.parse(spec)
    with pytest.raises(ValueError, match=complaint):
        Settings(business_hours=spec, _env_file=None)  # type: ignore[call-arg]


def test_channels_have_their_own_hours() -> None:
    hours = BusinessHours.from_settings(BERLIN, '{"voice": "UTC; mon-sun 00:00-24:00"}')
    sunday = at("2026-11-29T12:00")
    assert hours.closed_notice("voice", sunday) is None
    notice = hours.closed_notice("webchat", sunday)
    assert notice is not None and "Monday 09:00 (Europe/Berlin)" in notice and "queue" in notice
    with pytest.raises(HoursError, match="JSON"):
        BusinessHours.from_settings(BERLIN, "{voice")


async def test_outside_the_hours_a_handoff_says_when_someone_will_reply(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    tomorrow = DAYS[(dt.datetime.now(dt.UTC).weekday() + 1) % 7]
    closed = BusinessHours(Schedule.parse(f"UTC; {tomorrow} 09:00-17:00"))  # closed all of today
    inbox = Inbox(ConversationStore(engine), demo_agent, EscalationPolicy(), hours=closed)
    ask = InboundMessage(channel="webchat", sender="v-1", text="I want to talk to a human", conversation_id="h-1")
    reply = (await final_answer(inbox.converse(ask))).answer
    assert reply.escalation is not None and "Someone will reply from" in reply.text  # type: ignore[union-attr]
    assert inbox.store.get("h-1").status == "escalated"  # type: ignore[union-attr]
    answered = InboundMessage(
        channel="webchat", sender="v-2", text="Where is your Lakeview store?", conversation_id="h-2"
    )
    normal = (await final_answer(inbox.converse(answered))).answer
    assert "Lakeview" in normal.text and "Someone will reply" not in normal.text  # type: ignore[union-attr]
