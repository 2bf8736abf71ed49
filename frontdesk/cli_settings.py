"""The settings of a `frontdesk` command: read once, or a clear message and exit code 1 when one is invalid."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from frontdesk.settings import Settings

if TYPE_CHECKING:
    from frontdesk.runtime import Runtime

err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error and leave with `code`."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The settings from the environment and `.env`; each invalid one is named with the reason."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"FRONTDESK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}")


def open_runtime() -> Runtime:
    """The service's parts over the configured database and knowledge base, or a clear message and exit 1."""
    from frontdesk.db import DatabaseError
    from frontdesk.runtime import build_runtime
    from knowledge.errors import KnowledgeError

    try:
        return build_runtime(load_settings())
    except (DatabaseError, KnowledgeError) as exc:
        fail(str(exc))
