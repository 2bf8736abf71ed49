"""The console's exceptions: one base class and the kinds the API edge maps to status codes."""

from __future__ import annotations


class ConsoleError(Exception):
    """Base of every error raised by the console."""


class AuthenticationError(ConsoleError):
    """No valid session, or a wrong login or password (401)."""


class AccessDeniedError(ConsoleError):
    """The signed-in agent may not do this: not their conversation, not a supervisor, not an admin (403)."""


class ConsoleNotFoundError(ConsoleError, LookupError):
    """A conversation, agent or account the console does not hold (404)."""


class ConsoleConflictError(ConsoleError):
    """The request does not fit the current state: no open ticket, an account that exists already (409)."""


class InvalidInputError(ConsoleError, ValueError):
    """A value the console cannot accept, such as a password that is too short (422)."""


class TooManyAttemptsError(ConsoleError):
    """Too many failed sign-ins for an account or from an address; `retry_after` is in seconds (429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
