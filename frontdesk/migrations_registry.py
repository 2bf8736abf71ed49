"""The SQLAlchemy metadata of every part, for migrations."""

from __future__ import annotations

import sqlalchemy as sa


def all_metadata() -> list[sa.MetaData]:
    """The metadata of every part that owns tables."""
    # These modules' tables join the conversations metadata when they are imported.
    import conversations.intake  # noqa: F401
    import conversations.outbox  # noqa: F401
    import frontdesk.api_keys  # noqa: F401
    import frontdesk.console.tables  # noqa: F401
    from analytics.tables import metadata as analytics_metadata
    from conversations.store import metadata as conversations_metadata
    from knowledge.catalog import metadata as knowledge_metadata
    from routing.store import metadata as routing_metadata

    return [knowledge_metadata, conversations_metadata, routing_metadata, analytics_metadata]
