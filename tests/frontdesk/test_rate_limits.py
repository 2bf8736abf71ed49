"""Rate limits: counted per rule and key, refused with a reason and a wait, in memory or in Redis."""

from __future__ import annotations

import uuid

import anyio
import pytest
import redis
from limits import parse_many
from pydantic import ValidationError

from frontdesk.rate_limits import KEY_PREFIX, RateLimitedError, RateLimits, build_storage, parse_rules
from frontdesk.settings import Settings


def test_hits_over_a_limit_are_refused_with_a_reason_and_a_wait() -> None:
    async def scenario() -> None:
        limits = RateLimits({"messages_per_visitor": parse_many("3/minute"), "sessions": parse_many("1/hour")})
        for _ in range(3):
            await limits.hit(("messages_per_visitor", "v1"))
        refusal = r"too many messages from this visitor \(at most 3 per minute\)"
        with pytest.raises(RateLimitedError, match=refusal) as e:
            await limits.hit(("messages_per_visitor", "v1"))
        assert 1 <= e.value.retry_after <= 60 and e.value.rule == "messages_per_visitor"
        await limits.hit(("messages_per_visitor", "v2"))  # another visitor has a count of their own
        await limits.hit(("searches", "anyone"))  # a rule that is off counts nothing
        await limits.hit(("sessions", "1.2.3.4"))
        with pytest.raises(RateLimitedError, match="per hour") as e:
            await limits.hit(("sessions", "1.2.3.4"))
        assert 60 < e.value.retry_after <= 3600
        with pytest.raises(ValueError, match="unknown rate-limit rule 'nope'"):
            await limits.hit(("nope", "x"))

    anyio.run(scenario)


def test_the_settings_name_the_rules_and_refuse_nonsense() -> None:
    rules = parse_rules(Settings(rate_limit_searches="", rate_limit_sessions="2/minute;10/hour"))
    assert "searches" not in rules and [str(r) for r in rules["sessions"]] == ["2 per 1 minute", "10 per 1 hour"]
    assert set(parse_rules(Settings())) == {
        "sessions",
        "messages_per_visitor",
        "messages_per_address",
        "handoffs_per_visitor",
        "handoffs_per_address",
        "searches",
        "sign_ins",
    }
    with pytest.raises(ValidationError, match="'lots'"):
        Settings(rate_limit_messages_per_visitor="lots")
    with pytest.raises(ValidationError, match="'10.0.0.300'"):
        Settings(trusted_proxies="10.0.0.300")


def test_redis_keeps_one_count_for_every_worker(redis_url: str) -> None:
    key = f"test-{uuid.uuid4().hex}"

    async def scenario() -> None:
        workers = [RateLimits({"searches": parse_many("4/minute")}, build_storage(redis_url)) for _ in range(2)]
        assert all(w.shared for w in workers)
        for worker in (*workers, *workers):
            await worker.hit(("searches", key))
        with pytest.raises(RateLimitedError):
            await workers[0].hit(("searches", key))
        with pytest.raises(RateLimitedError):
            await workers[1].hit(("searches", key))

    anyio.run(scenario)
    client = redis.Redis.from_url(redis_url)
    stored = list(client.scan_iter(f"{KEY_PREFIX}:*{key}*"))
    assert stored, "the count lives in Redis"
    client.delete(*stored)


def test_an_unreachable_redis_lets_requests_through() -> None:
    async def scenario() -> None:
        limits = RateLimits({"searches": parse_many("1/minute")}, build_storage("redis://127.0.0.1:1/0"))
        await limits.hit(("searches", "k"))
        await limits.hit(("searches", "k"))

    anyio.run(scenario)
