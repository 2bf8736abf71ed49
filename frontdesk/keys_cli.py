"""`frontdesk keys ...`: create, list and revoke API keys for integrations.

The CLI is the local way in: whoever runs it can already read the data folder. A key is printed once, at
creation; the database keeps only its hash. These commands open the database only (no embedding model).
"""

from __future__ import annotations

import json
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from frontdesk import db
from frontdesk.api_keys import ApiKeyError, ApiKeyStore, Scope
from frontdesk.cli_settings import fail, load_settings

keys_app = typer.Typer(help="API keys for integrations (scoped, stored hashed, revocable).", no_args_is_help=True)
out = Console()
SCOPES = ", ".join(s.value for s in Scope)


def _store() -> ApiKeyStore:
    settings = load_settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine: sa.Engine = db.create_engine(settings.resolved_database_url)
        db.upgrade(engine)
    except db.DatabaseError as exc:
        fail(str(exc))
    return ApiKeyStore(engine)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key (crm, mail-provider, ...).")],
    scope: Annotated[list[str], typer.Option("--scope", help=f"A scope it may use (repeat): {SCOPES}.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its record as JSON.")] = False,
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    try:
        record, key = _store().create(name, scope)
    except ApiKeyError as exc:
        fail(str(exc), code=2)
    scopes = sorted(s.value for s in record.scopes)
    if as_json:
        out.print_json(json.dumps({"id": record.id, "name": record.name, "scopes": scopes, "key": key}))
        return
    out.print(f"Created key {record.id} ({record.name}) with {', '.join(scopes)}.", highlight=False)
    out.print("Store it now; it is not shown again:", highlight=False)
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(
    revoked: Annotated[bool, typer.Option("--revoked", help="Show revoked keys too.")] = False,
) -> None:
    """The keys (never their secrets)."""
    keys = _store().list(include_revoked=revoked)
    if not keys:
        out.print("No API keys. Create one with: frontdesk keys create --name NAME --scope SCOPE")
        return
    table = Table("id", "name", "scopes", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            " ".join(sorted(s.value for s in key.scopes)),
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "",
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(key: Annotated[str, typer.Argument(help="The key's id (or its name, when unique).")]) -> None:
    """Revoke a key: requests with it are refused from now on, on every worker."""
    try:
        record = _store().revoke(key)
    except ApiKeyError as exc:
        fail(str(exc), code=2)
    out.print(f"Revoked key {record.id} ({record.name}).", highlight=False)
