"""What the emerging-issue detector reports: a topic whose volume rose above its own baseline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Surge:
    """A topic running above its baseline, as seen at `detected_at` (reported again while it grows, and once
    with `ended` when the topic is back to its usual volume)."""

    topic: str  # an intent, or "cluster:<n>" for messages no intent fits
    label: str  # what a person reads: the intent's name, or the cluster's most typical message
    started_at: dt.datetime  # when the rise began (the first message above the baseline)
    detected_at: dt.datetime
    messages: int  # messages on the topic since started_at
    customers: int  # distinct customers among them
    expected: float  # messages the baseline expected over the same time
    channels: dict[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # redacted example messages
    ended: bool = False
