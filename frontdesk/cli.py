"""The `frontdesk` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from channels.webchat.protocol import MAX_FRAME_BYTES
from frontdesk.cli_settings import err, fail, load_settings, open_runtime, out
from frontdesk.console.cli import agents_app
from frontdesk.db import DatabaseError
from frontdesk.documents_cli import documents_app
from frontdesk.eval_cli import embedder_from_settings, eval_app
from frontdesk.keys_cli import keys_app
from frontdesk.report_cli import report_app
from frontdesk.runtime import ingest_demo_if_empty
from frontdesk.settings import Settings
from knowledge.base import IngestProgress
from knowledge.documents import MetadataValue
from knowledge.web import make_http_client

app = typer.Typer(help="Frontdesk: self-hosted AI customer support.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
# Each command group lives in a module of its own; the top-level commands are here.
app.add_typer(documents_app, name="documents")
app.add_typer(eval_app, name="eval")
app.add_typer(db_app, name="db")
app.add_typer(agents_app, name="agents")
app.add_typer(keys_app, name="keys")
app.add_typer(report_app, name="report")

WEBSOCKET_MAX_BYTES = 4 * MAX_FRAME_BYTES
"""The largest WebSocket frame uvicorn accepts: a web-chat frame of MAX_FRAME_BYTES characters in UTF-8
(at most 4 bytes each); console frames are smaller still (4096)."""


def _parse_filters(values: list[str]) -> dict[str, MetadataValue]:
    filters: dict[str, MetadataValue] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--filter takes key=value, got {item!r}", code=2)
        filters[key.strip()] = value.strip()
    return filters


def several_workers_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot share these settings, or None when they can."""
    if workers <= 1:
        return None
    needs = []
    if settings.resolved_database_url.startswith("sqlite"):
        needs.append("PostgreSQL (FRONTDESK_DATABASE_URL): SQLite takes one writer at a time")
    if settings.redis_url is None:
        needs.append("Redis (FRONTDESK_REDIS_URL): live frames and rate limits are shared through it")
    if settings.chroma_host is None:
        needs.append("a Chroma server (FRONTDESK_CHROMA_HOST): an embedded Chroma folder is for one process")
    if not needs:
        return None
    return f"--workers {workers} needs " + "; ".join(needs)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (FRONTDESK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FRONTDESK_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Processes serving requests; more than one needs PostgreSQL, Redis and a Chroma server."
        ),
    ] = 1,
) -> None:
    """Start the service (ingesting the demo help centre into an empty knowledge base)."""
    import uvicorn

    from frontdesk.app import create_app

    settings = load_settings()
    if (problem := several_workers_problem(settings, workers)) is not None:
        fail(problem, code=2)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = open_runtime()  # migrates the database, and ingests the demo help centre once, before any worker starts
    report = ingest_demo_if_empty(runtime)
    if report is not None:
        out.print(f"Ingested the demo knowledge base: {len(report.added)} documents.")
    host, port = host or settings.host, port or settings.port
    docs = f"  (API docs: http://{host}:{port}/docs)" if settings.api_docs else ""
    out.print(f"Frontdesk on http://{host}:{port}{docs}" + (f", {workers} workers" if workers > 1 else ""))
    if settings.webchat_demo_page:
        out.print(f"Demo shop with the web chat widget: http://{host}:{port}/")
    if settings.admin_token is None and not runtime.api_keys.any_active():
        out.print(
            "No API key yet: changes over HTTP (ingesting, the conversations API, inbound mail) need one. Create one "
            "with: frontdesk keys create --name admin --scope knowledge:write --scope conversations:write",
            highlight=False,
        )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "ws_max_size": WEBSOCKET_MAX_BYTES,  # a bigger frame closes the socket (1009) before the app reads it
        "server_header": False,
        # The client's address is decided by frontdesk.api.client_address (FRONTDESK_TRUSTED_PROXIES); uvicorn's
        # own proxy headers would believe any X-Forwarded-For sent from 127.0.0.1.
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run(create_app(runtime=runtime), **options)
        return
    runtime.close()  # each worker builds its own from the same settings (the environment)
    uvicorn.run("frontdesk.app:create_app", factory=True, workers=workers, **options)


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, folders, URLs or sitemap URLs.")],
    prune: Annotated[bool, typer.Option(help="Delete documents that vanished from a re-ingested source.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest documents into the knowledge base (incremental: unchanged documents are skipped)."""
    runtime = open_runtime()
    settings = runtime.settings
    with (
        make_http_client(timeout=settings.http_timeout, guard=settings.ingest_guard()) as client,
        Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as bar,
    ):
        task = bar.add_task("embedding chunks", total=None)

        def on_progress(p: IngestProgress) -> None:
            bar.update(task, completed=p.done, total=p.total)

        report = runtime.knowledge.ingest(sources, prune=prune, progress=on_progress, http=client)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        out.print(
            f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"deleted {len(report.deleted)}, failed {len(report.failed)}; "
            f"{report.chunks_embedded} chunks embedded in {report.seconds:.1f} s"
        )
        for failure in report.failed:
            err.print(f"[yellow]skipped[/] {failure.source}: {failure.reason}", highlight=False)
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@app.command()
def search(
    question: Annotated[str, typer.Argument(help="The question.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many passages.")] = 5,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="key=value metadata filter.")] = None,
    history: Annotated[
        list[str] | None, typer.Option("--history", help="Earlier customer turns, oldest first.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the knowledge base."""
    from knowledge.documents import Turn

    if not question.strip():
        fail("the question is empty", code=2)
    runtime = open_runtime()
    turns = [Turn(role="customer", text=text) for text in history or []]
    passages = runtime.knowledge.search(question, history=turns, k=k, filters=_parse_filters(filters or []) or None)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "score": round(p.score, 4),
                        "document_id": p.citation.document_id,
                        "title": p.citation.title,
                        "section": p.citation.section,
                        "url": p.citation.url,
                        "text": p.text,
                    }
                    for p in passages
                ]
            )
        )
        return
    if not passages:
        out.print("No passages found.")
    for rank, p in enumerate(passages, start=1):
        where = " > ".join(part for part in (p.citation.title, p.citation.section) if part)
        out.print(f"[bold]{rank}. {where}[/]  (score {p.score:.2f})", highlight=False)
        out.print(f"   {p.citation.url or p.citation.document_id}", style="dim", highlight=False)
        out.print(f"   {p.text[:400]}", highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema."""
    open_runtime()
    out.print("database is at the newest schema")


@app.command("train-intents")
def train_intents(
    data: Annotated[Path, typer.Argument(help="Labelled messages (text,label CSV; 'oos' marks out of scope).")],
    output: Annotated[
        Path | None, typer.Option(help="Folder to save the model in (default: <data_dir>/intents).")
    ] = None,
    oos_margin: Annotated[
        float,
        typer.Option(
            help="How many times its best intent the out-of-scope class must score to hand a message off "
            "(higher answers more, lower hands off more)."
        ),
    ] = 2.0,
) -> None:
    """Train the intent classifier and save it where the service loads it at start."""
    from agent.intents import IntentClassifier, IntentConfig, IntentDataError, load_labelled_csv

    settings = load_settings()
    target = output or settings.data_dir / "intents"
    try:  # bad input is refused before the model loads
        config = IntentConfig(oos_margin=oos_margin)
        messages = load_labelled_csv(data)
    except (IntentDataError, ValueError, OSError) as exc:
        fail(str(exc))
    embedder = embedder_from_settings()
    try:
        classifier = IntentClassifier.train(messages.texts, messages.labels, embedder=embedder, config=config)
    except (IntentDataError, ValueError, OSError) as exc:
        fail(str(exc))
    classifier.save(target)
    out.print(f"saved an intent model of {len(classifier.intents)} intents to {target}", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The customer's message.")],
    conversation: Annotated[
        str | None, typer.Option(help="Conversation id to continue (kept in the database).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole AgentReply as JSON.")] = False,
) -> None:
    """Ask the agent, as a customer would; the answer streams as it is written."""
    import uuid

    import anyio

    from agent.types import AgentReply, TextDelta
    from conversations.inbox import Answered, reply_details

    if not question.strip():
        fail("the question is empty", code=2)
    runtime = open_runtime()
    conversation_id = conversation or f"cli-{uuid.uuid4().hex[:12]}"

    async def run() -> AgentReply:
        final: AgentReply | None = None
        async for event in runtime.inbox.handle_stream(conversation_id, question, channel="cli"):
            if isinstance(event, Answered):
                final = event.answer
            elif isinstance(event, TextDelta) and not as_json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        assert final is not None
        return final

    reply = anyio.run(run)
    if as_json:
        sys.stdout.write(
            json.dumps({"conversation": conversation_id, "text": reply.text, **reply_details(reply)}) + "\n"
        )
        return
    sys.stdout.write("\n")
    for number, citation in enumerate(reply.citations, start=1):
        where = " > ".join(part for part in (citation.title, citation.section) if part)
        out.print(f"[{number}] {where} {citation.url or citation.document_id}", style="dim", highlight=False)
    if reply.escalation is not None:
        out.print(f"(handed to a person: {reply.escalation.reason.value})", style="yellow", highlight=False)
    out.print(f"(conversation {conversation_id})", style="dim", highlight=False)


@app.command()
def erase(
    customer: Annotated[
        str, typer.Option("--customer", help="The address they wrote from: phone number, e-mail, visitor id.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was removed as JSON.")] = False,
) -> None:
    """Remove a customer's data from every table: conversations, messages, replies, routing, interaction log."""
    from analytics import InteractionLog, customer_key
    from conversations.erasure import address_forms, customer_conversations, erase_customer
    from frontdesk import db
    from frontdesk.runtime import analytics_key, build_router

    settings = load_settings()
    try:
        forms = address_forms(customer)
        engine = db.create_engine(settings.resolved_database_url)
        db.upgrade(engine)
    except (ValueError, DatabaseError) as exc:
        fail(str(exc))
    found = customer_conversations(engine, customer)
    if not yes and not typer.confirm(f"Erase {len(found)} conversation(s) and all data of {customer!r}?"):
        fail("nothing erased", code=1)
    key = analytics_key(settings)
    log = InteractionLog(engine)
    erasure = erase_customer(
        engine,
        customer,
        log=log,
        customer_keys=sorted({customer_key(form, secret=key) for form in forms}),
        router=build_router(settings, engine),
    )
    engine.dispose()
    if erasure.total == 0:
        fail(
            f"nothing was found for {customer!r}: give the address they wrote from (a phone number with its "
            "country code, an e-mail address, a web-chat visitor id)"
        )
    if as_json:
        out.print_json(data={"customer": customer, "conversations": erasure.conversations, "rows": erasure.rows})
        return
    out.print(f"Erased {len(erasure.conversations)} conversation(s) of {customer!r}: {erasure.total} rows.")
    for table, count in sorted(erasure.rows.items()):
        if count:
            out.print(f"  {table}: {count}")


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
