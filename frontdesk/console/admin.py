"""Managing agents from the console: admins create agents with a console password, update profiles, set
passwords, disable and enable accounts; supervisors list agents with their accounts."""

from __future__ import annotations

from typing import Any

from frontdesk.console.accounts import AccountStore, check_password_rules
from frontdesk.console.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConsoleConflictError,
    ConsoleNotFoundError,
    InvalidInputError,
)
from frontdesk.console.service import Actor
from frontdesk.console.views import JSON, agent_json
from routing import AgentStatus, HumanAgent, NotFoundError, Router

PROFILE_FIELDS = ("name", "email", "role", "team", "skills", "languages", "capacity")


def create_agent(router: Router, accounts: AccountStore, agent: HumanAgent, password: str) -> HumanAgent:
    """Add a routing agent with a console account; `ConsoleConflictError` when the id is taken."""
    check_password_rules(password)
    try:
        router.agent(agent.id)
    except NotFoundError:
        pass
    else:
        msg = f"an agent with id {agent.id!r} exists already; set their password instead"
        raise ConsoleConflictError(msg)
    stored = router.upsert_agent(agent)
    accounts.set_password(agent.id, password, create=True)
    return stored


class AgentAdmin:
    """Agent management with the role checks of the console."""

    def __init__(self, router: Router, accounts: AccountStore) -> None:
        self.router = router
        self.accounts = accounts

    def _admin(self, actor: Actor, what: str) -> None:
        if not actor.administers:
            msg = f"only admins may {what}; {actor.id!r} is an {actor.agent.role.value}"
            raise AccessDeniedError(msg)

    def list(self, actor: Actor) -> list[JSON]:
        """Every agent with whether they have an enabled console account (supervisors and admins)."""
        if not actor.supervises:
            msg = f"only supervisors and admins list agents; {actor.id!r} is an {actor.agent.role.value}"
            raise AccessDeniedError(msg)
        accounts = {account.agent_id: account for account in self.accounts.all()}
        return [
            {
                **agent_json(agent),
                "account": None
                if agent.id not in accounts
                else ("disabled" if accounts[agent.id].disabled else "active"),
            }
            for agent in self.router.agents()
        ]

    def create(self, actor: Actor, agent: HumanAgent, password: str) -> JSON:
        """Add an agent with a console password (admins)."""
        self._admin(actor, "create agents")
        return agent_json(create_agent(self.router, self.accounts, agent, password))

    def update(self, actor: Actor, agent_id: str, changes: dict[str, Any]) -> JSON:
        """Change an agent's profile (name, email, role, team, skills, languages, capacity) (admins)."""
        self._admin(actor, "change agents")
        unknown = sorted(set(changes) - set(PROFILE_FIELDS))
        if unknown:
            msg = f"cannot change {unknown}; a profile has {list(PROFILE_FIELDS)} (the status is the agent's own)"
            raise InvalidInputError(msg)
        current = self.router.agent(agent_id)
        if agent_id == actor.id and changes.get("role", current.role.value) != current.role.value:
            msg = "admins may not change their own role (ask another admin)"
            raise ConsoleConflictError(msg)
        updated = HumanAgent.model_validate({**current.model_dump(mode="json"), **changes})
        return agent_json(self.router.upsert_agent(updated))

    def set_password(self, actor: Actor, agent_id: str, password: str, current_password: str | None = None) -> JSON:
        """Set a console password: admins for anyone else (creating the account), every agent (admins too) for
        themselves with their current password. Every session of the agent ends."""
        self.router.agent(agent_id)
        if agent_id == actor.id:
            if current_password is None or not self.accounts.verify(agent_id, current_password):
                msg = "your current password is wrong"
                raise AuthenticationError(msg)
        elif agent_id != actor.id:
            self._admin(actor, "set other agents' passwords")
        account = self.accounts.set_password(agent_id, password, create=actor.administers)
        return {"agent_id": account.agent_id, "account": "disabled" if account.disabled else "active"}

    def set_disabled(self, actor: Actor, agent_id: str, disabled: bool) -> JSON:
        """Disable an account (signing the agent out, setting them offline and handing back their work) or
        enable it again (admins; never their own)."""
        self._admin(actor, "disable or enable agents")
        if agent_id == actor.id:
            msg = "admins may not disable or enable their own account"
            raise ConsoleConflictError(msg)
        self.router.agent(agent_id)
        if self.accounts.get(agent_id) is None:
            msg = f"agent {agent_id!r} has no console account"
            raise ConsoleNotFoundError(msg)
        account = self.accounts.set_disabled(agent_id, disabled)
        if disabled:
            self.router.set_status(agent_id, AgentStatus.OFFLINE, hand_back_assigned=True, note="account disabled")
        return {"agent_id": account.agent_id, "account": "disabled" if account.disabled else "active"}
