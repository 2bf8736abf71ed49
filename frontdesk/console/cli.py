"""`frontdesk agents ...`: add agents with a console password, list them, set passwords, disable accounts.

These commands open the database and routing only (no embedding model), so they are quick. A password is
asked twice on the terminal, or read from the first line of standard input with `--password-stdin`.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from frontdesk import db
from frontdesk.cli_settings import load_settings
from frontdesk.console.accounts import AccountStore
from frontdesk.console.admin import create_agent
from frontdesk.console.errors import ConsoleError
from routing import AgentStatus, HumanAgent, Router, RoutingError

agents_app = typer.Typer(help="Human agents and their console accounts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _open() -> tuple[sa.Engine, Router]:
    from frontdesk.runtime import build_router

    settings = load_settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.create_engine(settings.resolved_database_url)
        db.upgrade(engine)
        return engine, build_router(settings, engine)
    except (db.DatabaseError, RoutingError) as exc:
        _fail(str(exc))


def _pairs(values: list[str], option: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip().isdigit():
            _fail(f"{option} takes name=number, got {item!r}", code=2)
        found[key.strip()] = int(value)
    return found


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            _fail("--password-stdin: standard input held no password", code=2)
        return line
    value: str = typer.prompt("Console password", hide_input=True, confirmation_prompt=True)
    return value


@agents_app.command("add")
def add(
    agent_id: Annotated[str, typer.Option("--id", help="The agent's id (letters, digits, _.@:+-).")],
    name: Annotated[str, typer.Option(help="Full name, shown to customers by first name.")],
    email: Annotated[str, typer.Option(help="Where offer e-mails go.")],
    role: Annotated[str, typer.Option(help="agent, supervisor or admin.")] = "agent",
    team: Annotated[str | None, typer.Option(help="An existing team's id.")] = None,
    skills: Annotated[list[str] | None, typer.Option("--skill", help="skill=level (1-5), repeatable.")] = None,
    languages: Annotated[list[str] | None, typer.Option("--language", help="Language code, repeatable.")] = None,
    capacity: Annotated[
        list[str] | None, typer.Option("--capacity", help="kind=count (chat, messaging, email, voice), repeatable.")
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a human agent with a console password."""
    try:
        agent = HumanAgent.model_validate(
            {
                "id": agent_id,
                "name": name,
                "email": email,
                "role": role,
                "team": team,
                "skills": _pairs(skills or [], "--skill"),
                "languages": languages or ["en"],
                "capacity": _pairs(capacity or [], "--capacity") or {"chat": 3, "messaging": 5, "email": 8},
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid agent: {problems}", code=2)
    engine, router = _open()
    if team is not None and router.team(team) is None:
        known = [t.id for t in router.teams()]
        _fail(f"no team with id {team!r}; teams: {known or 'none (add them with FRONTDESK_ROSTER)'}")
    password = _password(password_stdin)
    try:
        create_agent(router, AccountStore(engine), agent, password)
    except (ConsoleError, RoutingError) as exc:
        _fail(str(exc))
    out.print(f"added {agent.role.value} {agent.id} ({agent.name}); they can sign in at /console", highlight=False)


@agents_app.command("list")
def list_agents() -> None:
    """List agents with their role, team, status and console account."""
    engine, router = _open()
    accounts = {account.agent_id: account for account in AccountStore(engine).all()}
    table = Table("id", "name", "email", "role", "team", "status", "console")
    for agent in router.agents():
        account = accounts.get(agent.id)
        state = "none" if account is None else "disabled" if account.disabled else "active"
        table.add_row(agent.id, agent.name, agent.email, agent.role.value, agent.team or "", agent.status.value, state)
    out.print(table)


@agents_app.command("passwd")
def passwd(
    agent_id: Annotated[str, typer.Argument(help="The agent's id.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set an agent's console password (creating their account); their sessions end."""
    engine, router = _open()
    try:
        router.agent(agent_id)
    except RoutingError as exc:
        _fail(str(exc))
    password = _password(password_stdin)
    try:
        AccountStore(engine).set_password(agent_id, password, create=True)
    except ConsoleError as exc:
        _fail(str(exc))
    out.print(f"set the console password of {agent_id}", highlight=False)


@agents_app.command("disable")
def disable(agent_id: Annotated[str, typer.Argument(help="The agent's id.")]) -> None:
    """Disable an agent's console account: signed out, set offline, their conversations back to the queue."""
    engine, router = _open()
    try:
        AccountStore(engine).set_disabled(agent_id, True)
        router.set_status(agent_id, AgentStatus.OFFLINE, hand_back_assigned=True, note="account disabled")
    except (ConsoleError, RoutingError) as exc:
        _fail(str(exc))
    out.print(f"disabled the console account of {agent_id}", highlight=False)
