"""The SQLAlchemy metadata of every part, for migrations."""

from __future__ import annotations

import sqlalchemy as sa


def all_metadata() -> list[sa.MetaData]:
    """The metadata of every part that owns tables."""
    import conversations.intake
    import conversations.outbox  # noqa: F401 - their tables join the conversations metadata
    from analytics.tables import metadata as analytics_metadata
    from conversations.store import metadata as conversations_metadata
    from knowledge.catalog import metadata as knowledge_metadata
    from routing.store import metadata as routing_metadata

    return [knowledge_metadata, conversations_metadata, routing_metadata, analytics_metadata]
