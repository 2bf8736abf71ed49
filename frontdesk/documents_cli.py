"""`frontdesk documents`: list and delete knowledge-base documents."""

from __future__ import annotations

from typing import Annotated

import typer

from frontdesk.cli_settings import open_runtime, out

documents_app = typer.Typer(help="List and delete knowledge-base documents.", no_args_is_help=True)


@documents_app.command("list")
def documents_list(
    limit: Annotated[int, typer.Option(min=1)] = 100, offset: Annotated[int, typer.Option(min=0)] = 0
) -> None:
    """List ingested documents."""
    runtime = open_runtime()
    for info in runtime.knowledge.documents(limit=limit, offset=offset):
        typer.echo(f"{info.id}\t{info.title}\t{info.chunk_count} chunks")


@documents_app.command("delete")
def documents_delete(document_ids: Annotated[list[str], typer.Argument(help="Document ids.")]) -> None:
    """Delete documents by id."""
    runtime = open_runtime()
    deleted = runtime.knowledge.delete(document_ids)
    out.print(f"deleted {deleted} of {len(document_ids)}")
    if deleted < len(document_ids):
        raise typer.Exit(1)
