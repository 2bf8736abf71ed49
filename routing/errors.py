"""The routing part's exceptions: one base class, a few kinds the API edge maps to status codes."""

from __future__ import annotations


class RoutingError(Exception):
    """Base of every error raised by the routing part."""


class RosterError(RoutingError, ValueError):
    """A roster, skill map or routing configuration is malformed; the message names the bad field."""


class NotFoundError(RoutingError, LookupError):
    """An agent, team, ticket or offer id that the routing tables do not hold."""


class ConflictError(RoutingError):
    """The request does not fit the current state (an offer that expired, a ticket already resolved...)."""


class PermissionDeniedError(RoutingError):
    """The acting agent may not do this (not the assignee, not a supervisor)."""
