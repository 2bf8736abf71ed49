"""Routing: human agents, teams and skills, queues, assignment, offers and SLA timers.

The inbox hands a conversation over with `Router.escalate`; the agent console answers offers and moves
conversations with `accept`, `decline`, `transfer`, `hand_back` and `resolve`; a background worker calls
`Router.work` (timers, then dispatch); a listener receives every `RoutingEvent` once committed.
"""

from routing.assignment import AssignmentPolicy, RoundRobinPolicy, SkillsPolicy
from routing.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RosterError,
    RoutingError,
)
from routing.models import (
    Escalated,
    EscalationRequest,
    EventKind,
    Offer,
    OfferState,
    QueueSnapshot,
    RoutingEvent,
    Ticket,
    TicketState,
)
from routing.roster import (
    EXAMPLE_ROSTER,
    AgentStatus,
    ChannelKind,
    HumanAgent,
    Role,
    Roster,
    RoutingConfig,
    Scope,
    Team,
    load_roster,
)
from routing.service import Router
from routing.skillmap import SkillMap

__all__ = [
    "EXAMPLE_ROSTER",
    "AgentStatus",
    "AssignmentPolicy",
    "ChannelKind",
    "ConflictError",
    "Escalated",
    "EscalationRequest",
    "EventKind",
    "HumanAgent",
    "NotFoundError",
    "Offer",
    "OfferState",
    "PermissionDeniedError",
    "QueueSnapshot",
    "Role",
    "RosterError",
    "RoundRobinPolicy",
    "Router",
    "RoutingConfig",
    "RoutingError",
    "RoutingEvent",
    "Roster",
    "Scope",
    "SkillMap",
    "SkillsPolicy",
    "Team",
    "Ticket",
    "TicketState",
    "load_roster",
]
