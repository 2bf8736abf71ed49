"""Fixtures for the Twilio channels: the fake Twilio server (once per session, reset per test) and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.twilio import FakeTwilio
from twilio.rest import Client

from channels.twilio import create_client


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[FakeTwilio]:
    """A fake Twilio REST server on 127.0.0.1 for the whole session (see tests/fakes/twilio.py)."""
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio_fake(twilio_server: FakeTwilio) -> FakeTwilio:
    """The fake Twilio server, up, with no messages, requests, scripted errors or open windows."""
    twilio_server.reset()
    twilio_server.callback_client = None
    return twilio_server


@pytest.fixture
def twilio_client(twilio_fake: FakeTwilio) -> Client:
    """A real twilio REST client pointed at the fake."""
    return create_client(twilio_fake.account_sid, twilio_fake.auth_token, api_base_url=twilio_fake.base_url, timeout=5)
