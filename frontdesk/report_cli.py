"""`frontdesk report`: reports from the interaction log."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from frontdesk.cli_settings import fail, open_runtime, out

report_app = typer.Typer(help="Reports from the interaction log.", no_args_is_help=True)


@report_app.command("gaps")
def report_gaps(
    since: Annotated[str | None, typer.Option(help="Start of the period (ISO 8601; UTC without an offset).")] = None,
    days: Annotated[int | None, typer.Option(min=1, help="The last N days (default 7).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many topics, most asked first.")] = 10,
    drafts: Annotated[bool, typer.Option("--drafts", help="Draft an article from what people answered.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Questions the knowledge base could not answer, grouped into topics (what to write next)."""
    import datetime as dt

    from frontdesk.gaps import GapQuery, print_report, run_report

    if since is not None and days is not None:
        fail("give --since or --days, not both", code=2)
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=days or 7)
    if since is not None:
        try:
            start = dt.datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since takes an ISO 8601 date or time such as 2025-03-01, got {since!r}", code=2)
        start = start.replace(tzinfo=dt.UTC) if start.tzinfo is None else start
    try:
        query = GapQuery(since=start, until=now, limit=limit, drafts=drafts)
    except ValueError as exc:
        fail(str(exc), code=2)
    runtime = open_runtime()
    report = run_report(runtime, query)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict()) + "\n")
    else:
        print_report(report, out)
