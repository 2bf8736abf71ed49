"""Internal notes: what agents write about a conversation for each other.

Notes live in their own table, apart from the conversation's messages, so nothing that reads messages (the
customer's channels, the web chat history, the bot's memory, the conversations API) can ever see them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from conversations.intake import utc
from conversations.store import conversations_table
from frontdesk.console.accounts import Clock, system_clock
from frontdesk.console.errors import ConsoleNotFoundError, InvalidInputError
from frontdesk.console.tables import notes_table

MAX_NOTE = 4000


@dataclass(frozen=True, slots=True)
class Note:
    """One internal note on a conversation."""

    id: int
    conversation_id: str
    agent_id: str
    text: str
    created_at: dt.datetime


class NoteStore:
    """Adds and lists internal notes."""

    def __init__(self, engine: sa.Engine, *, now: Clock = system_clock) -> None:
        self.engine = engine
        self.now = now

    def add(self, conversation_id: str, agent_id: str, text: str) -> Note:
        """Store a note; `InvalidInputError` for a blank or too long one, `ConsoleNotFoundError` for an unknown
        conversation."""
        clean = text.strip()
        if not clean:
            msg = "the note is empty"
            raise InvalidInputError(msg)
        if len(clean) > MAX_NOTE:
            msg = f"a note has at most {MAX_NOTE} characters, got {len(clean)}"
            raise InvalidInputError(msg)
        now = self.now()
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(conversations_table.c.id).where(conversations_table.c.id == conversation_id)
            ).first()
            if exists is None:
                msg = f"no conversation with id {conversation_id!r}"
                raise ConsoleNotFoundError(msg)
            new_id = conn.execute(
                sa.insert(notes_table).values(
                    conversation_id=conversation_id, agent_id=agent_id, text=clean, created_at=now
                )
            ).inserted_primary_key
        return Note(int(new_id[0]) if new_id else 0, conversation_id, agent_id, clean, now)

    def of(self, conversation_id: str) -> list[Note]:
        """The conversation's notes, oldest first."""
        n = notes_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notes_table).where(n.conversation_id == conversation_id).order_by(n.id))
            return [_note(row) for row in rows]


def _note(row: sa.Row[Any]) -> Note:
    return Note(int(row.id), str(row.conversation_id), str(row.agent_id), str(row.text), utc(row.created_at))
