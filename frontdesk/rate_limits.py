"""Rate limits on what one client may start: chat sessions, messages, hand-offs, searches and sign-ins.

Each rule is a setting (`FRONTDESK_RATE_LIMIT_<RULE>`, in the `limits` notation: `30/minute`, several
joined by `;`, empty for none) and is counted per key (a client address, a web-chat visitor) with a
sliding-window counter. Counts are kept in this process's memory, or in Redis when `FRONTDESK_REDIS_URL` is
set, so that every worker shares one count. If Redis cannot be reached the request is let through and a
warning is logged: a broken limiter must not take the chat down with it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from frontdesk.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "frontdesk-limits"

# rule -> what its count is of, for the reason in a refusal
RULES: dict[str, str] = {
    "sessions": "new chat sessions from this address",
    "messages_per_visitor": "messages from this visitor",
    "messages_per_address": "messages from this address",
    "handoffs_per_visitor": "requests for a person from this visitor",
    "handoffs_per_address": "requests for a person from this address",
    "searches": "knowledge-base searches from this address",
    "sign_ins": "sign-in attempts from this address",
}


class RateLimitedError(Exception):
    """Too many requests of one kind from one client; `retry_after` is in whole seconds (at least 1)."""

    def __init__(self, reason: str, *, retry_after: int, rule: str) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.rule = rule


def address_key(address: str) -> str:
    """The key an address is counted under: IPv6 clients by their /64 (one subscriber's usual share)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def parse_rules(settings: Settings) -> dict[str, tuple[RateLimitItem, ...]]:
    """The rules that are on, from the settings `rate_limit_<rule>`."""
    rules: dict[str, tuple[RateLimitItem, ...]] = {}
    for name in RULES:
        text: str = getattr(settings, f"rate_limit_{name}")
        if text:
            rules[name] = tuple(parse_many(text))
    return rules


def build_storage(redis_url: str | None) -> Storage:
    """Redis (redis-py's asyncio client) when a URL is given, else this process's memory."""
    if redis_url:
        return RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True)
    return MemoryStorage()


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule that refused a hit, and for how long."""

    rule: str
    item: RateLimitItem
    retry_after: int


class RateLimits:
    """Counts hits against the configured rules and refuses those over a limit."""

    def __init__(self, rules: Mapping[str, Sequence[RateLimitItem]], storage: Storage | None = None) -> None:
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            msg = f"unknown rate-limit rules {unknown}; the rules are {sorted(RULES)}"
            raise ValueError(msg)
        self.rules = {name: tuple(items) for name, items in rules.items() if items}
        self.storage = storage or MemoryStorage()
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """The rules of the settings, counted in Redis when `redis_url` is set."""
        url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        return cls(parse_rules(settings), build_storage(url))

    @property
    def shared(self) -> bool:
        """Whether the counts are shared between workers (kept in Redis)."""
        return isinstance(self.storage, RedisStorage)

    async def hit(self, *checks: tuple[str, str]) -> None:
        """Count one hit for each `(rule, key)`, in order; `RateLimitedError` at the first over its limit
        (a rule that is off counts nothing)."""
        for rule, key in checks:
            refusal = await self._hit(rule, key)
            if refusal is not None:
                per = refusal.item.GRANULARITY.name
                multiple = f"{refusal.item.multiples} {per}s" if refusal.item.multiples != 1 else per
                msg = (
                    f"too many {RULES[rule]} (at most {refusal.item.amount} per {multiple}); "
                    f"try again in {refusal.retry_after} s"
                )
                raise RateLimitedError(msg, retry_after=refusal.retry_after, rule=rule)

    async def _hit(self, rule: str, key: str) -> Refusal | None:
        items = self.rules.get(rule)
        if not items:
            if rule not in RULES:
                msg = f"unknown rate-limit rule {rule!r}; the rules are {sorted(RULES)}"
                raise ValueError(msg)
            return None
        try:
            for item in items:
                if not await self.limiter.hit(item, rule, key):
                    stats = await self.limiter.get_window_stats(item, rule, key)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    return Refusal(rule, item, min(wait, item.get_expiry()))
        except StorageError as exc:
            logger.warning("rate limit %s not enforced: the counter store failed (%s)", rule, exc)
        return None

    async def clear(self, rule: str, key: str) -> None:
        """Forget the count of one key (tests, or an operator lifting a limit)."""
        for item in self.rules.get(rule, ()):
            await self.limiter.clear(item, rule, key)
