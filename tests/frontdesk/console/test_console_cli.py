"""`frontdesk agents ...`: add an agent with a console password, list, set a password, disable; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from frontdesk import db
from frontdesk.cli import app
from frontdesk.console.accounts import AccountStore
from frontdesk.runtime import build_router
from frontdesk.settings import Settings
from routing import AgentStatus, ChannelKind, Role

runner = CliRunner()
ADD = ["agents", "add", "--id", "ana", "--name", "Ana Lopez", "--email", "ana@example.com", "--role", "admin"]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def _engine(data: Path) -> sa.Engine:
    engine = db.create_engine(f"sqlite:///{data / 'frontdesk.db'}")
    db.upgrade(engine)
    return engine


def test_add_list_passwd_and_disable(data: Path) -> None:
    options = ["--skill", "cards=4", "--language", "en", "--language", "es", "--capacity", "chat=3", "--password-stdin"]
    added = runner.invoke(app, [*ADD, *options], input="a long enough password\n")
    assert added.exit_code == 0, added.output
    assert "added admin ana (Ana Lopez)" in added.output
    engine = _engine(data)
    router = build_router(Settings(_env_file=None, data_dir=data), engine)  # type: ignore[call-arg]
    agent = router.agent("ana")
    assert agent.role is Role.ADMIN and agent.skills == {"cards": 4} and agent.languages == ("en", "es")
    assert agent.capacity == {ChannelKind.CHAT: 3} and agent.status is AgentStatus.OFFLINE
    assert AccountStore(engine).verify("ana", "a long enough password")

    prompted = runner.invoke(
        app,
        ["agents", "add", "--id", "bo", "--name", "Bo", "--email", "bo@example.com"],
        input="bo's own password\nbo's own password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    listed = runner.invoke(app, ["agents", "list"])
    assert listed.exit_code == 0
    assert "ana" in listed.output and "admin" in listed.output and "active" in listed.output
    assert "bo" in listed.output

    changed = runner.invoke(app, ["agents", "passwd", "bo", "--password-stdin"], input="a changed password\n")
    assert changed.exit_code == 0, changed.output
    assert AccountStore(engine).verify("bo", "a changed password")
    assert not AccountStore(engine).verify("bo", "bo's own password")

    disabled = runner.invoke(app, ["agents", "disable", "bo"])
    assert disabled.exit_code == 0 and not AccountStore(engine).verify("bo", "a changed password")
    assert "disabled" in runner.invoke(app, ["agents", "list"]).output
    engine.dispose()


def test_clear_errors(data: Path) -> None:
    assert runner.invoke(app, [*ADD, "--password-stdin"], input="a long enough password\n").exit_code == 0
    twice = runner.invoke(app, [*ADD, "--password-stdin"], input="a long enough password\n")
    assert twice.exit_code == 1 and "exists already" in twice.output
    short = runner.invoke(
        app,
        ["agents", "add", "--id", "cy", "--name", "Cy", "--email", "cy@example.com", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    team = runner.invoke(
        app,
        [
            "agents",
            "add",
            "--id",
            "cy",
            "--name",
            "Cy",
            "--email",
            "cy@example.com",
            "--team",
            "cards",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert team.exit_code == 1 and "no team with id 'cards'" in team.output
    skill = runner.invoke(app, [*ADD[:3], "dee", *ADD[4:], "--skill", "cards", "--password-stdin"], input="x\n")
    assert skill.exit_code == 2 and "name=number" in skill.output
    role = runner.invoke(app, [*ADD[:3], "dee", *ADD[4:-1], "boss", "--password-stdin"], input="x\n")
    assert role.exit_code == 2 and "role" in role.output
    empty = runner.invoke(app, ["agents", "passwd", "ana", "--password-stdin"], input="")
    assert empty.exit_code == 2 and "no password" in empty.output
    nobody = runner.invoke(app, ["agents", "passwd", "zed", "--password-stdin"], input="a long enough password\n")
    assert nobody.exit_code == 1 and "no agent with id 'zed'" in nobody.output
