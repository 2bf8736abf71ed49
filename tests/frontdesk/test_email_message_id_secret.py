"""The install's Message-ID secret: made once in the data folder (owner-only), or taken from the setting."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from channels.email.composing import outbound_message_id
from frontdesk.channel_setup import MESSAGE_ID_SECRET_FILE, email_message_id_secret
from frontdesk.settings import Settings


def test_the_secret_is_made_once_owner_only_and_kept_across_restarts(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    first = email_message_id_secret(settings)
    path = tmp_path / "data" / MESSAGE_ID_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert email_message_id_secret(settings) == first  # a restart reads it back: resends keep their ids
    other = email_message_id_secret(Settings(_env_file=None, data_dir=tmp_path / "other"))  # type: ignore[call-arg]
    assert other != first
    ids = {outbound_message_id("out-1", "shop.example", key) for key in (first, other)}
    assert len(ids) == 2, "two installs never mint the same Message-ID for the same outbox key"


def test_the_setting_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, email_message_id_secret="shared-by-all-workers-0123"
    )
    assert email_message_id_secret(settings) == b"shared-by-all-workers-0123"
    assert not (tmp_path / MESSAGE_ID_SECRET_FILE).exists()
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(_env_file=None, email_message_id_secret="short")  # type: ignore[call-arg]
