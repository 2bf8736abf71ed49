"""Console routes to manage agents: admins create, update, disable and enable agents and set passwords;
supervisors list them; every agent may change their own password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.api.client_address import client_address
from frontdesk.api.console_deps import ActingDep, ActorDep, ConsoleDep, call
from frontdesk.console.accounts import check_password_rules
from frontdesk.rate_limits import address_key
from routing import HumanAgent

router = APIRouter(prefix="/agents")

AgentId = Annotated[str, Path(min_length=1, max_length=64, description="The agent's id")]


class NewAgent(HumanAgent):
    """A routing agent's profile and the console password to create them with."""

    password: str = Field(min_length=1, max_length=1024, exclude=True)


class AgentChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    email: str | None = None
    role: str | None = None
    team: str | None = None
    skills: dict[str, int] | None = None
    languages: list[str] | None = None
    capacity: dict[str, int] | None = None


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024)


@router.get("")
async def list_agents(actor: ActorDep, console: ConsoleDep) -> list[dict[str, Any]]:
    """Every agent with their console account (supervisors and admins)."""
    return await call(lambda: console.admin.list(actor))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(body: NewAgent, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Create an agent with a console password (admins)."""
    agent = HumanAgent.model_validate(body.model_dump(exclude={"password"}))
    return await call(lambda: console.admin.create(actor, agent, body.password))


@router.patch("/{agent_id}")
async def update_agent(agent_id: AgentId, body: AgentChanges, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Change an agent's profile; only the fields sent change (admins)."""
    changes = body.model_dump(exclude_unset=True)
    return await call(lambda: console.admin.update(actor, agent_id, changes))


@router.put("/{agent_id}/password")
async def set_password(
    agent_id: AgentId, body: PasswordIn, actor: ActingDep, console: ConsoleDep, request: Request
) -> dict[str, Any]:
    """Set a console password: admins for anyone else, every agent (admins too) for themselves with their
    current password, whose wrong guesses are slowed down like sign-ins. The agent's sessions end."""
    keys = console.limiter.keys(agent_id, address_key(client_address(request)))

    def change() -> dict[str, Any]:
        own = agent_id == actor.id
        if own:
            check_password_rules(body.password)
            console.limiter.attempt(keys)
        result = console.admin.set_password(actor, agent_id, body.password, body.current_password)
        if own:
            console.limiter.succeeded(keys)
        return result

    return await call(change)


@router.post("/{agent_id}/disable")
async def disable(agent_id: AgentId, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Disable an account: signed out everywhere, set offline, their conversations back to the queue (admins)."""
    return await call(lambda: console.admin.set_disabled(actor, agent_id, True))


@router.post("/{agent_id}/enable")
async def enable(agent_id: AgentId, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Enable a disabled account again (admins)."""
    return await call(lambda: console.admin.set_disabled(actor, agent_id, False))
